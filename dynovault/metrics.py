"""The process's Prometheus metrics: one shared registry, served at ``/metrics``.

Every layer registers its metrics on ``REGISTRY`` (``Counter(..., registry=REGISTRY)``)
so one scrape shows the whole node; the process-wide default registry is left alone so
that libraries cannot leak their metrics into ours.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
)

# The _created series double every counter and histogram and say nothing a scrape needs.
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)

# Latency buckets from half a millisecond to a minute: replication lag on one host is
# sub-millisecond to milliseconds, and minutes when a follower catches up after a restart.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)


async def metrics_endpoint(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics_endpoint)
