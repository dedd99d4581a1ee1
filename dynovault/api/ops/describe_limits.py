"""DescribeLimits: DynamoDB's default account quotas (Feast calls this to warm up)."""

from __future__ import annotations

from dynovault.node import Node

DEFAULT_LIMITS = {
    "AccountMaxReadCapacityUnits": 80000,
    "AccountMaxWriteCapacityUnits": 80000,
    "TableMaxReadCapacityUnits": 40000,
    "TableMaxWriteCapacityUnits": 40000,
}


async def handle(request: dict, node: Node) -> dict:
    return dict(DEFAULT_LIMITS)
