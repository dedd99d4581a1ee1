"""DeleteTable: dropping the table's column family makes this O(1) whatever its size."""

from __future__ import annotations

from dynovault.errors import ResourceNotFoundException, ValidationException
from dynovault.node import Node, table_name
from dynovault.tables import describe


async def handle(request: dict, node: Node) -> dict:
    name = table_name(request["TableName"])
    table = node.store.tables.get(name)
    if table is None:
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    if table.description.get("DeletionProtectionEnabled"):
        raise ValidationException(
            "Resource cannot be deleted as it is currently protected against deletion. "
            "Disable deletion protection first."
        )
    description = describe(node, table, status="DELETING")
    node.store.delete_table(name)
    return {"TableDescription": description}
