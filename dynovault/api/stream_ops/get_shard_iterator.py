"""GetShardIterator: TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER or
AT_TIMESTAMP of one shard, valid for 15 minutes."""

from __future__ import annotations

from dynovault.node import Node
from dynovault.streams import shard_iterator


async def handle(request: dict, node: Node) -> dict:
    return {"ShardIterator": shard_iterator(node, request)}
