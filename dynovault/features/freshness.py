"""Freshness per feature view, in the node's ``/metrics``.

Stale features hurt ranking as much as slow ones, so the layer measures how old what it
serves is, how long a write takes to become readable, and when each view last changed.
"""

from __future__ import annotations

import time

from prometheus_client import Gauge, Histogram

from dynovault.metrics import LATENCY_BUCKETS, REGISTRY

# Ages of served values: a second to a month (batch views are hours old, pushed ones seconds).
AGE_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400, 30 * 86400)

LAST_INGEST = Gauge(
    "dynovault_feature_last_ingest_timestamp_seconds",
    "Unix time of the last write to the feature view, by lane",
    ["feature_view", "lane"],
    registry=REGISTRY,
)
INGEST_TO_VISIBLE = Histogram(
    "dynovault_feature_ingest_to_visible_seconds",
    "From a write request's arrival to its rows being readable (micro-batching included)",
    ["feature_view", "lane"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
EVENT_TO_VISIBLE = Histogram(
    "dynovault_feature_event_to_visible_seconds",
    "From a row's event timestamp to it being readable: the whole pipeline's delay",
    ["feature_view", "lane"],
    buckets=AGE_BUCKETS,
    registry=REGISTRY,
)
SERVED_AGE = Histogram(
    "dynovault_feature_served_age_seconds",
    "Age (now - event timestamp) of the feature rows /get-online-features found",
    ["feature_view"],
    buckets=AGE_BUCKETS,
    registry=REGISTRY,
)


def record_write(view: str, lane: str, arrived: float, event_seconds: list[float]) -> None:
    now = time.time()
    LAST_INGEST.labels(view, lane).set(now)
    INGEST_TO_VISIBLE.labels(view, lane).observe(now - arrived)
    pipeline = EVENT_TO_VISIBLE.labels(view, lane)
    for seconds in event_seconds:
        pipeline.observe(max(0.0, now - seconds))


def record_served(view: str, now: float, event_seconds: list[float]) -> None:
    served = SERVED_AGE.labels(view)
    for seconds in event_seconds:
        served.observe(max(0.0, now - seconds))
