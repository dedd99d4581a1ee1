"""The composition root: the one place a serving node is assembled.

store → node → replicator → DynamoDB front end, feature routes, TTL deleter, metrics. Each layer
below knows only the layers under it; this module is the only one that knows them all.
A node served by several processes has one ``serving_app`` (its writer) and readers, each a
``reader_app`` over a secondary instance of the same data (``replication/workers.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from dynovault import metrics, replication
from dynovault.api.auth import SignatureVerifier, require_signatures_on
from dynovault.api.server import WORKER_KEY, Authenticator, build_app
from dynovault.expiry import ExpiryDeleter
from dynovault.features.http import add_routes as add_feature_routes
from dynovault.backups.continuous import SnapshotScheduler
from dynovault.backups.exports import fail_unfinished
from dynovault.backups.imports import fail_unfinished_imports
from dynovault.backups.ondemand import discard_unfinished
from dynovault.backups.restore import drop_unfinished_fills
from dynovault.node import Archives, Node
from dynovault.replication import ReplicationConfig, Replicator
from dynovault.replication.workers import CommitBoard, WriterLink, follow_writer
from dynovault.storage.engine import Store
from dynovault.storage.streams import DEFAULT_SHARD_LIMITS, ShardLimits
from dynovault.streams import StreamRetention, roll_shards_for_epoch
from dynovault.storage.secondary import SecondaryStore
from dynovault.storage.vectors import DEFAULT_EXACT_LIMIT
from dynovault.tables import resume_index_builds


@dataclass(frozen=True)
class NodeSettings:
    """What ``dynovault serve`` was told, as the assembly needs it."""

    data_dir: Path
    fsync: bool
    region: str
    address: str
    features: Path
    replication: ReplicationConfig
    authenticate: Authenticator | None = None
    # With signatures verified, /metrics answers unsigned scrapes only when opened explicitly.
    open_metrics: bool = False
    # Seconds between the leader's passes deleting items whose TTL passed.
    ttl_interval: float = 1.0
    archives: Archives = Archives()
    # Vector index partitions up to this size are searched exactly, larger ones by HNSW.
    vector_exact_limit: int = DEFAULT_EXACT_LIMIT
    # Seconds between the snapshots of tables with point-in-time recovery.
    pitr_snapshot_interval: float = 3600.0
    # When streams open a new shard (the same on every node of a cluster).
    shard_limits: ShardLimits = DEFAULT_SHARD_LIMITS
    # The /metrics expositions of the node's reader workers, merged into the writer's.
    other_processes: metrics.OtherProcesses | None = None


def serving_app(settings: NodeSettings) -> web.Application:
    store = Store(
        settings.data_dir, sync=settings.fsync, vector_exact_limit=settings.vector_exact_limit,
        shard_limits=settings.shard_limits,
    )
    node = Node(store, region=settings.region, address=settings.address, archives=settings.archives)
    discard_unfinished(node)
    fail_unfinished(node)
    fail_unfinished_imports(node)
    replicator = Replicator(node, settings.replication)
    app = build_app(node, settings.authenticate, replicator.guard)
    replication.install(app, replicator)
    add_feature_routes(app, node, settings.features, replicator.guard)
    metrics.add_routes(app, settings.other_processes)
    replicator.on_lead.append(lambda: _take_over_duties(node))
    replicator.on_lead.append(lambda: roll_shards_for_epoch(node, replicator.history.epoch))
    deleter = ExpiryDeleter(node, settings.ttl_interval, replicator.may_write)
    app.on_startup.append(deleter.start)
    app.on_shutdown.append(deleter.stop)
    snapshots = SnapshotScheduler(node, settings.pitr_snapshot_interval)
    app.on_startup.append(snapshots.start)
    app.on_shutdown.append(snapshots.stop)
    retention = StreamRetention(node)
    app.on_startup.append(retention.start)
    app.on_shutdown.append(retention.stop)
    _require_signatures(app, settings)
    app.on_cleanup.append(lambda _app: _close(node))
    return app


def reader_app(settings: NodeSettings, writer_socket: Path, board: CommitBoard, name: str) -> web.Application:
    """A reader worker: eventually consistent data reads from a secondary instance of the
    writer's data, everything else passed to the writer at ``writer_socket``."""
    store = SecondaryStore(settings.data_dir, vector_exact_limit=settings.vector_exact_limit)
    node = Node(store, region=settings.region, address=settings.address, archives=settings.archives)
    writer = WriterLink(writer_socket, lambda: node.store.tables)
    app = build_app(node, settings.authenticate, writer.guard, writer.passthrough)
    app[WORKER_KEY] = name
    add_feature_routes(app, node, settings.features, writer.guard, writable=False)
    app.router.add_route("*", "/{path:.*}", writer.proxy)
    _require_signatures(app, settings)
    app.on_startup.append(writer.start)
    app.on_cleanup.append(writer.stop)
    catching_up: list[asyncio.Task] = []

    async def start_catching_up(_app: web.Application) -> None:
        catching_up.append(asyncio.create_task(follow_writer(store, board)))

    async def stop_catching_up(_app: web.Application) -> None:
        for task in catching_up:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        store.close()

    app.on_startup.append(start_catching_up)
    app.on_cleanup.append(stop_catching_up)
    return app


def _require_signatures(app: web.Application, settings: NodeSettings) -> None:
    if isinstance(settings.authenticate, SignatureVerifier):
        # Nothing but the health checks (and /metrics when opened) answers an unsigned
        # request; POST / checks its signature itself.
        open_paths = {"/", "/health", "/metrics"} if settings.open_metrics else {"/", "/health"}
        require_signatures_on(app, settings.authenticate, frozenset(open_paths))


def _take_over_duties(node: Node) -> None:
    """A node that starts leading (at start, or promoted or elected later) finishes the
    index builds under way and drops the tables a restore or an import was still filling;
    a follower's come from its leader."""
    resume_index_builds(node)
    drop_unfinished_fills(node)


async def _close(node: Node) -> None:
    node.store.close()
