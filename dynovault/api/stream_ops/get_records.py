"""GetRecords: up to ``Limit`` (1000 at most, and 1 MB) records from an iterator's
position, images spliced as stored, and the next iterator (none after a closed shard's
last record)."""

from __future__ import annotations

from dynovault.node import Node
from dynovault.streams import MAX_RECORDS, get_records, limit_of


async def handle(request: dict, node: Node) -> bytes:
    return get_records(node, request["ShardIterator"], limit_of(request, MAX_RECORDS))
