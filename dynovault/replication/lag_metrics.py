"""Replication metrics, in the spirit of PostgreSQL's ``pg_stat_replication``.

Positions and distances are gauges computed at scrape time from the live replication
state (so a follower that disconnects stops being reported); lags are also histograms,
observed as records are applied (follower) and acknowledged (leader).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dynovault.metrics import LATENCY_BUCKETS, REGISTRY

APPLY_LAG = Histogram(
    "dynovault_replication_apply_lag_seconds",
    "Follower: time from a record's commit on the leader to its apply here",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
ACK_LAG = Histogram(
    "dynovault_replication_ack_lag_seconds",
    "Leader: time from a commit to a follower's acknowledgement that it applied it",
    ["follower"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
SYNC_WAIT = Histogram(
    "dynovault_replication_sync_wait_seconds",
    "Leader in sync mode: time a write waited for its replica acknowledgements",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
SYNC_TIMEOUTS = Counter(
    "dynovault_replication_sync_timeouts",
    "Leader in sync mode: writes answered with an error because too few replicas acknowledged in time",
    registry=REGISTRY,
)
RECORDS_APPLIED = Counter(
    "dynovault_replication_applied_records", "Follower: log records applied", registry=REGISTRY
)
BYTES_APPLIED = Counter(
    "dynovault_replication_applied_bytes", "Follower: log record bytes applied", registry=REGISTRY
)
BOOTSTRAPS = Counter(
    "dynovault_replication_bootstraps", "Follower: checkpoints fetched from the leader", registry=REGISTRY
)
DISCARDED_RECORDS = Counter(
    "dynovault_replication_discarded_records",
    "Records a re-bootstrap gave up because this node's log forked (kept under discarded-records/)",
    registry=REGISTRY,
)
ELECTIONS_WON = Counter(
    "dynovault_replication_elections_won", "Cluster mode: times this node took the leader lease", registry=REGISTRY
)
LEADERSHIP_LOST = Counter(
    "dynovault_replication_leadership_lost",
    "Cluster mode: times this node stopped leading (lease expired, or another node holds the leader key)",
    registry=REGISTRY,
)
TRIMMED_RECORDS = Counter(
    "dynovault_replication_log_trimmed_records", "Log records dropped by retention", registry=REGISTRY
)

# (name, help, status key) of the per-follower gauges a leader reports.
_FOLLOWER_GAUGES = (
    ("sent_lsn", "Last LSN sent to the follower", "sent_lsn"),
    ("follower_applied_lsn", "Last LSN the follower acknowledged as applied", "applied_lsn"),
    ("lsn_distance", "Records the follower has not applied yet", "lsn_distance"),
    ("bytes_behind", "Log bytes the follower has not applied yet", "bytes_behind"),
    ("seconds_behind", "Age of the oldest commit the follower has not applied", "seconds_behind"),
)
# (name, help, status key) of the gauges every node reports about itself.
_NODE_GAUGES = (
    ("epoch", "Replication epoch (term) this node knows", "epoch"),
    ("last_lsn", "Last LSN in this node's log (a follower: its applied LSN)", "last_lsn"),
    ("oldest_lsn", "Oldest LSN still retained in this node's log", "oldest_lsn"),
    ("leader_lsn", "Follower: the leader's last LSN, as last heard", "leader_lsn"),
    ("lag_lsn", "Follower: records behind the leader, as last heard", "lag_lsn"),
    ("lag_seconds", "Follower: age of the last applied commit while behind the leader, else 0", "lag_seconds"),
    ("connected", "Follower: 1 while streaming from the leader", "connected"),
    ("lease_remaining_seconds", "Cluster mode: seconds left on this node's etcd lease", "lease_remaining_seconds"),
    ("holds_leader_lease", "Cluster mode: 1 while this node holds the leader key", "holds_leader_lease"),
    ("read_only", "Cluster mode: 1 while no live node holds every acknowledged write", "read_only"),
)


class ReplicationCollector(Collector):
    """Turns a status snapshot (``status()``) into gauges at scrape time."""

    def __init__(self) -> None:
        self.status: Callable[[], dict] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.status is None:
            return
        status = self.status()
        role = GaugeMetricFamily("dynovault_replication_role", "1 for this node's role", labels=["role"])
        role.add_metric([status["role"]], 1)
        yield role
        for name, text, key in _NODE_GAUGES:
            if status.get(key) is not None:
                yield GaugeMetricFamily(f"dynovault_replication_{name}", text, value=status[key])
        yield from _follower_gauges(status.get("followers", []))


def _follower_gauges(followers: list[dict]) -> Iterator[GaugeMetricFamily]:
    for name, text, key in _FOLLOWER_GAUGES:
        family = GaugeMetricFamily(f"dynovault_replication_{name}", text, labels=["follower"])
        for follower in followers:
            family.add_metric([follower["name"]], follower[key])
        yield family


COLLECTOR = ReplicationCollector()
REGISTRY.register(COLLECTOR)
