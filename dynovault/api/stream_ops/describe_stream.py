"""DescribeStream: status, view type, key schema and a page of shards (each with its
sequence number range and parent), or the children of one shard with ``ShardFilter``."""

from __future__ import annotations

from dynovault.node import Node
from dynovault.streams import MAX_LISTED, describe_stream, find_stream, limit_of


async def handle(request: dict, node: Node) -> dict:
    limit = limit_of(request, MAX_LISTED)
    stream = find_stream(node, request["StreamArn"])
    children_of = (request.get("ShardFilter") or {}).get("ShardId")
    return describe_stream(node, stream, limit, request.get("ExclusiveStartShardId"), children_of)
