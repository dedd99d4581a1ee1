"""Which requests a follower answers itself and how it hands the rest to its leader.

This is the only part of replication that knows DynamoDB operations, and only by name:
eventually consistent reads and read-only control-plane calls are served from the
follower's own copy; everything else (writes, table changes, ``ConsistentRead`` reads,
transactions, PartiQL) is forwarded verbatim to the leader, so a client may point at any
node and still get DynamoDB's read-after-write guarantee when it asks for it.
"""

from __future__ import annotations

import aiohttp

from dynovault.errors import ServiceUnavailable
from dynovault.guard import Forwardable, LeaderAnswer

FOLLOWER_READS = frozenset({
    "GetItem", "BatchGetItem", "Query", "Scan", "SearchVectors",
    "DescribeTable", "ListTables", "ListTagsOfResource", "DescribeTimeToLive",
    "DescribeEndpoints", "DescribeLimits", "DescribeContinuousBackups",
    # DynamoDB Streams: a follower's stream is its own copy of the leader's, behind by its lag.
    "ListStreams", "DescribeStream", "GetShardIterator", "GetRecords",
})
READ_ONLY = FOLLOWER_READS | {"TransactGetItems"}

# Hop-by-hop and framing headers that must not be copied onto the forwarded request.
_NOT_FORWARDED = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "expect"})
# Marks a forwarded request, so two followers pointed at each other refuse instead of
# passing a write back and forth.
FORWARDED_BY = "X-Dynovault-Forwarded-By"


def served_by_follower(operation: str, payload: dict) -> bool:
    return operation in FOLLOWER_READS and not wants_consistency(payload)


def is_write(operation: str) -> bool:
    return operation not in READ_ONLY


def wants_consistency(payload: dict) -> bool:
    if payload.get("ConsistentRead"):
        return True
    request_items = payload.get("RequestItems")
    return isinstance(request_items, dict) and any(
        isinstance(spec, dict) and spec.get("ConsistentRead") for spec in request_items.values()
    )


async def forward(
    session: aiohttp.ClientSession, leader_url: str, forwarder: str, request: Forwardable
) -> LeaderAnswer:
    """Send the request unchanged (same path, Host and signature) to the leader and return
    its answer as it is."""
    if FORWARDED_BY in request.headers:
        raise ServiceUnavailable(
            f"This node is a read replica and received a request forwarded by {request.headers[FORWARDED_BY]}, "
            "which also is not the leader"
        )
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
    headers[FORWARDED_BY] = forwarder
    try:
        async with session.post(leader_url + request.path, data=request.body, headers=headers) as reply:
            return LeaderAnswer(reply.status, await reply.read())
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        raise ServiceUnavailable(
            f"This node is a read replica and could not reach its leader at {leader_url} "
            f"to forward the request ({type(error).__name__})"
        ) from None
