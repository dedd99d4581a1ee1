"""ListStreams: every stream this node keeps (of live tables and, for 24 hours, of
disabled streams and deleted tables), optionally of one table, a page at a time."""

from __future__ import annotations

from dynovault.node import Node
from dynovault.streams import MAX_LISTED, limit_of, list_streams


async def handle(request: dict, node: Node) -> dict:
    limit = limit_of(request, MAX_LISTED)
    return list_streams(node, request.get("TableName"), limit, request.get("ExclusiveStartStreamArn"))
