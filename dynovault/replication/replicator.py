"""A node's replication role and the transitions between roles.

One Replicator per serving process. It decides, per request, whether this node answers
it (leader; follower for eventually consistent reads), forwards it to the leader
(follower), or holds the answer until replicas acknowledged it (leader in sync mode).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from dynovault.errors import ServiceUnavailable
from dynovault.guard import Forwardable, LeaderAnswer
from dynovault.node import Node
from dynovault.replication import history as history_store
from dynovault.replication import identity as identity_store
from dynovault.replication.acklog import AckLog
from dynovault.replication.config import ReplicationConfig, Role
from dynovault.replication.coordinator import Coordinator
from dynovault.replication.etcd import EtcdClient, parse_endpoints
from dynovault.replication.follower import Follower
from dynovault.replication.history import History
from dynovault.replication.identity import Identity
from dynovault.replication.leader import Leader
from dynovault.replication.retention import LogRetention
from dynovault.replication.routing import forward, is_write, served_by_follower

log = logging.getLogger(__name__)
T = TypeVar("T")


class Replicator:
    def __init__(self, node: Node, config: ReplicationConfig) -> None:
        self.node = node
        self.config = config
        self.history: History | None = history_store.load(node.store)
        self.identity = identity_store.resolve(
            identity_store.load(node.store), config, self.history.epoch if self.history else 0
        )
        identity_store.save(node.store, self.identity)
        self.coordinator: Coordinator | None = None
        self.ack_log = AckLog(config.ack_log) if config.ack_log else None
        self.heard_at = time.time()
        # Called whenever this node starts leading: at start, on promotion, on election.
        self.on_lead: list[Callable[[], None]] = []
        self.retention = LogRetention(config.retention_bytes, config.retention_seconds)
        self.session: aiohttp.ClientSession | None = None
        self.leader: Leader | None = None
        self.follower: Follower | None = None
        self._retention_task: asyncio.Task | None = None
        self._transition = asyncio.Lock()

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self, _app: web.Application | None = None) -> None:
        # True is aiohttp's default certificate verification; a context carries the cluster's own CA.
        connector = aiohttp.TCPConnector(ssl=self.config.client_ssl or True)
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60), connector=connector)
        self.leader = Leader(
            store=lambda: self.node.store,
            history=lambda: self.history,
            on_newer_epoch=self._fence,
            fenced=lambda: self.identity.fenced,
            sync_replicas=self.config.sync_replicas,
            sync_timeout=self.config.sync_timeout,
            scratch_dir=self.config.scratch_dir,
            checkpoints_at_once=self.config.checkpoints_at_once,
            checkpoint_write_timeout=self.config.checkpoint_write_timeout,
        )
        if self.config.cluster_url:
            self.coordinator = Coordinator(
                EtcdClient(parse_endpoints(self.config.cluster_url), self.session), self.config.cluster_name,
                self.config.node_name, self.config.advertise_url, self.config.sync_replicas, self,
            )
            await self.coordinator.start()
        elif self.role is Role.LEADER:
            self._lead()
        else:
            self._follow(self.leader_url)
        self._retention_task = asyncio.create_task(
            self.retention.run(lambda: self.node.store, self.config.retention_interval)
        )

    async def stop(self, _app: web.Application | None = None) -> None:
        if self._retention_task is not None:
            self._retention_task.cancel()
        if self.coordinator is not None:
            await self.coordinator.stop()
        await self._stop_following()
        if self.leader is not None and self.leader.active:
            await self.leader.deactivate()
        if self.session is not None:
            await self.session.close()

    def _lead(self) -> None:
        if self.history is None:
            self._adopt_history(History.new(self.node.store.last_lsn + 1))
        self.leader.activate()
        for duty in self.on_lead:
            duty()

    def _follow(self, leader_url: str) -> None:
        self.follower = Follower(
            leader_url,
            self.config.node_name,
            self.session,
            store=lambda: self.node.store,
            replace_store=self._replace_store,
            adopt_history=self._adopt_history,
            scratch_dir=self.config.scratch_dir,
            credentials=self.config.credentials,
            last_heard=self.heard_at,
        )
        self.follower.start()

    async def _stop_following(self) -> None:
        if self.follower is not None:
            await self.follower.stop()
            self.heard_at = self.follower.last_heard
            self.follower = None

    def _adopt_history(self, history: History) -> None:
        self.history = history
        history_store.save(self.node.store, history)

    def _replace_store(self, checkpoint: Path) -> None:
        """Take the leader's checkpoint, which carries the leader's identity: ours stays."""
        self.node.store = self.node.store.replaced_by(checkpoint)
        self.history = history_store.load(self.node.store)
        identity_store.save(self.node.store, self.identity)

    def _become(self, identity: Identity) -> None:
        self.identity = identity
        identity_store.save(self.node.store, identity)

    def _fence(self, newer_epoch: int) -> None:
        """A follower knows a newer epoch: another node was promoted while we were away.
        Kept in the store, so a restart with the original command refuses writes too."""
        if self.identity.fenced is None:
            log.error("a newer leader exists; refusing writes", extra={"newer_epoch": newer_epoch})
        self._become(self.identity.fenced_at(newer_epoch, f"a node was promoted under epoch {newer_epoch}"))

    @property
    def role(self) -> Role:
        return self.identity.role

    @property
    def leader_url(self) -> str | None:
        return self.identity.leader_url

    # ---- role changes ----------------------------------------------------------------

    async def promote(self, epoch: int | None = None) -> dict:
        """Become the leader under a new epoch (``epoch``, or one above any this node
        knows), starting at our next LSN. A fenced leader is promoted the same way: its
        lineage may have forked from the newer leader's, and the new epoch marks what it
        writes from now on as its own."""
        async with self._transition:
            if self.role is Role.FOLLOWER or self.identity.fenced is not None:
                await self._stop_following()
                next_lsn = self.node.store.last_lsn + 1
                known = max(self.history.epoch if self.history else 0, self.identity.fenced_by_epoch or 0)
                new_epoch = epoch or known + 1
                self._adopt_history(self.history.promoted(next_lsn, new_epoch) if self.history
                                    else History.new(next_lsn, new_epoch))
                was_leading = self.role is Role.LEADER
                self._become(self.identity.leading())
                if not was_leading:
                    self._lead()
                log.warning("promoted to leader", extra={"epoch": new_epoch, "first_lsn": next_lsn})
            return self.status()

    async def follow(self, leader_url: str) -> dict:
        """Become (or re-point as) a follower of ``leader_url``."""
        async with self._transition:
            await self._stop_serving()
            self._become(self.identity.following(leader_url.rstrip("/")))
            self._follow(self.leader_url)
            log.warning("following", extra={"leader": self.leader_url})
            return self.status()

    async def _stop_serving(self) -> None:
        if self.role is Role.LEADER:
            await self.leader.deactivate()
        await self._stop_following()

    # ---- what the cluster coordinator asks of this node ------------------------------

    def position(self) -> dict:
        last_lsn = self.node.store.last_lsn
        return {
            "role": self.role.value,
            "epoch": self.history.epoch if self.history else 0,
            "last_epoch": self.history.epoch_of(last_lsn) if self.history else 0,
            "last_lsn": last_lsn,
            "connected": self.follower is not None and self.follower.connected,
        }

    async def step_down(self) -> None:
        """Stop leading (or following) and wait for the coordinator to name a leader."""
        async with self._transition:
            await self._stop_serving()
            self._become(self.identity.following(None))

    # ---- request guard ---------------------------------------------------------------

    async def guard(
        self, operation: str, payload: dict[str, Any], run_here: Callable[[], Awaitable[T]], request: Forwardable
    ) -> T | LeaderAnswer:
        """Run the request here, forward it to the leader, or run it here and hold the
        answer until enough replicas acknowledged what it wrote (see ``dynovault.guard``)."""
        if self.role is Role.FOLLOWER:
            if served_by_follower(operation, payload):
                return await run_here()
            if self.follower is None:
                raise ServiceUnavailable(f"This node is a read replica and knows no leader: {self._leaderless()}")
            if self.config.credentials is not None and not self.follower.proven:
                raise ServiceUnavailable(
                    f"This node is a read replica and its leader at {self.leader_url} has not proven "
                    "it holds the cluster's credentials, so the request is not forwarded there"
                )
            return await forward(self.session, self.leader_url, self.config.node_name, request)
        if not is_write(operation):
            return await run_here()
        if self.identity.fenced is not None:
            raise ServiceUnavailable(f"This node is no longer the leader: {self.identity.fenced}")
        if self.coordinator is not None:
            self.coordinator.check_may_acknowledge()
        elif not self.config.sync_replicas and self.ack_log is None:
            return await run_here()
        before = self.node.store.last_lsn
        result = await run_here()
        lsn = self.node.store.last_lsn
        if lsn > before:
            await self._acknowledge(lsn)
        return result

    def may_write(self) -> bool:
        """Whether writes may start here now: a leader that is not fenced and, in cluster
        mode, holds the leader lease (for background writers that skip the guard)."""
        if self.role is not Role.LEADER or self.identity.fenced is not None:
            return False
        return self.coordinator is None or self.coordinator.refusal() is None

    async def _acknowledge(self, lsn: int) -> None:
        """Hold a committed write's answer until it may be given: K followers applied it,
        etcd records it as acknowledged (sync mode), and this node still holds the lease."""
        if self.config.sync_replicas:
            await self.leader.wait_replicated(lsn)
        if self.coordinator is not None:
            if self.config.sync_replicas:
                await self.coordinator.acknowledged(lsn, self.history.epoch_of(lsn))
            self.coordinator.check_may_acknowledge()
        if self.ack_log is not None:
            self.ack_log.record(self.history.epoch, lsn)

    def _leaderless(self) -> str:
        if self.coordinator is None:
            return "it is not following any leader"
        if self.coordinator.etcd_error:
            return f"etcd cannot be reached ({self.coordinator.etcd_error})"
        return self.coordinator.read_only or "an election is in progress"

    # ---- status ----------------------------------------------------------------------

    def status(self) -> dict:
        store = self.node.store
        status = {
            "role": self.role.value,
            "node": self.config.node_name,
            "cluster": self.history.cluster if self.history else None,
            "epoch": self.history.epoch if self.history else 0,
            "last_lsn": store.last_lsn,
            "oldest_lsn": store.oldest_lsn,
            "retained_log_bytes": self.retention.retained_bytes,
            "sync_replicas": self.config.sync_replicas,
            "fenced_by_epoch": self.identity.fenced_by_epoch,
            "fenced": self.identity.fenced,
        }
        if self.role is Role.LEADER and self.leader is not None:
            status["followers"] = self.leader.follower_status()
        if self.role is Role.FOLLOWER and self.follower is not None:
            status.update(self.follower.status())
        elif self.role is Role.FOLLOWER:
            status.update({"leader": None, "connected": False, "lag_seconds": max(0.0, time.time() - self.heard_at)})
        if self.coordinator is not None:
            status.update(self.coordinator.status())
        return status
