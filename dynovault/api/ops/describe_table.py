"""DescribeTable."""

from __future__ import annotations

from dynovault.node import Node
from dynovault.tables import describe, existing_table


async def handle(request: dict, node: Node) -> dict:
    return {"Table": describe(node, existing_table(node, request["TableName"]))}
