"""UntagResource."""

from __future__ import annotations

from dynovault.api.tagging import save_tags, tagged_table
from dynovault.node import Node


async def handle(request: dict, node: Node) -> bytes:
    table = tagged_table(node, request["ResourceArn"])
    removed = set(request["TagKeys"])
    save_tags(node, table, [t for t in table.description.get("Tags", []) if t["Key"] not in removed])
    # DynamoDB answers with an empty body.
    return b""
