"""CreateTable: the table is ACTIVE as soon as this returns (no CREATING phase to poll)."""

from __future__ import annotations

from dynovault.node import Node
from dynovault.tables import create_table, describe


async def handle(request: dict, node: Node) -> dict:
    return {"TableDescription": describe(node, create_table(node, request))}
