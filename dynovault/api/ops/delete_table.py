"""DeleteTable: dropping the table's column family makes this O(1) whatever its size."""

from __future__ import annotations

from dynovault.errors import ValidationException
from dynovault.node import Node
from dynovault.tables import describe, existing_table


async def handle(request: dict, node: Node) -> dict:
    table = existing_table(node, request["TableName"])
    if table.description.get("DeletionProtectionEnabled"):
        raise ValidationException(
            "Resource cannot be deleted as it is currently protected against deletion. "
            "Disable deletion protection first."
        )
    description = describe(node, table, status="DELETING")
    node.store.delete_table(table.name)
    return {"TableDescription": description}
