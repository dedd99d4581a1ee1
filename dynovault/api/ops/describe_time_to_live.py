"""DescribeTimeToLive: the table's TTL status, and the attribute it names unless DISABLED."""

from __future__ import annotations

from dynovault.node import Node
from dynovault.storage.expiry import TTL_MEMBER
from dynovault.tables import existing_table


async def handle(request: dict, node: Node) -> dict:
    table = existing_table(node, request["TableName"])
    return {"TimeToLiveDescription": table.description.get(TTL_MEMBER) or {"TimeToLiveStatus": "DISABLED"}}
