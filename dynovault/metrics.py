"""The process's Prometheus metrics: one shared registry, served at ``/metrics``.

Every layer registers its metrics on ``REGISTRY`` (``Counter(..., registry=REGISTRY)``)
so one scrape shows the whole node; the process-wide default registry is left alone so
that libraries cannot leak their metrics into ours.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

# The _created series double every counter and histogram and say nothing a scrape needs.
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)

# Latency buckets from half a millisecond to a minute: replication lag on one host is
# sub-millisecond to milliseconds, and minutes when a follower catches up after a restart.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)


# Expositions of the node's other processes (its reader workers), merged into its own.
OtherProcesses = Callable[[], Awaitable[list[bytes]]]


async def metrics_endpoint(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


def merged(expositions: Iterable[bytes]) -> bytes:
    """Several processes' expositions as one: samples with the same name and labels are
    added up (counters, histogram buckets, sums and counts add; so do the few gauges more
    than one process reports), so a scrape sees the node as one server."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple, float]] = {}
    for exposition in expositions:
        for family in text_string_to_metric_families(exposition.decode()):
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
                values[family.name] = {}
            samples = values[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                samples[key] = samples.get(key, 0.0) + sample.value
    registry = CollectorRegistry(auto_describe=False)
    for name, family in families.items():
        for (sample_name, labels), value in values[name].items():
            family.add_sample(sample_name, dict(labels), value)
    registry.register(_Fixed(list(families.values())))
    return generate_latest(registry)


class _Fixed:
    """A collector of already-built metric families."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def add_routes(app: web.Application, others: OtherProcesses | None = None) -> None:
    """``/metrics``; with ``others``, the node's other processes are merged into it."""
    if others is None:
        app.router.add_get("/metrics", metrics_endpoint)
        return

    async def node_metrics(_request: web.Request) -> web.Response:
        body = merged([generate_latest(REGISTRY), *await others()])
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", node_metrics)
