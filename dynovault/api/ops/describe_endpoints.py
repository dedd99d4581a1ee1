"""DescribeEndpoints: this server is its own endpoint."""

from __future__ import annotations

from dynovault.node import Node

CACHE_PERIOD_MINUTES = 1440


async def handle(request: dict, node: Node) -> dict:
    return {"Endpoints": [{"Address": node.address, "CachePeriodInMinutes": CACHE_PERIOD_MINUTES}]}
