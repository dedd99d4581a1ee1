"""Cluster mode: leadership is a lease in etcd, never decided by a node alone.

Every node holds an etcd lease (TTL ``LEASE_TTL``) that it keeps alive, and publishes
itself under ``/dynovault/<cluster>/members/<name>`` with that lease: its URL, role and
log position. The leader is whoever holds ``/dynovault/<cluster>/leader`` (written with the
leader's lease, so it disappears when the leader stops refreshing it). Taking it is one
transaction that also bumps ``/dynovault/<cluster>/epoch``, so epochs are unique
cluster-wide.

When there is no leader, the live members compare positions (the epoch of their last
record, then its LSN) and only the most up-to-date one tries to take the key, after
everyone has had ``SETTLE_SECONDS`` to publish a fresh position. In sync mode the leader
publishes ``/dynovault/<cluster>/acked`` (the highest LSN it acknowledged, in a
transaction that checks it still holds the leader key) before it acknowledges, so a
candidate that does not hold every acknowledged write knows it and the cluster stays
read-only, saying why, rather than elect it.

A leader acknowledges nothing once its lease deadline, as measured from before the last
refresh was sent, is less than ``ACK_SAFETY_SECONDS`` away: a process that was paused
(SIGSTOP) past its lease finds the deadline passed on waking and refuses, while etcd has
already let the lease expire and another node take the key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from dynovault.errors import ServiceUnavailable
from dynovault.replication import etcd
from dynovault.replication.etcd import EtcdClient, EtcdUnavailable, KeyValue
from dynovault.replication.lag_metrics import ELECTIONS_WON, LEADERSHIP_LOST

log = logging.getLogger(__name__)

LEASE_TTL = 2
KEEPALIVE_SECONDS = 0.4
POLL_SECONDS = 0.2
PUBLISH_SECONDS = 0.5
SETTLE_SECONDS = 0.3
ACK_SAFETY_SECONDS = 0.5


class LocalNode(Protocol):
    """What the coordinator asks of the node it runs in (the Replicator)."""

    def position(self) -> dict: ...

    async def promote(self, epoch: int | None = None) -> dict: ...

    async def follow(self, leader_url: str) -> dict: ...

    async def step_down(self) -> None: ...


@dataclass
class ClusterView:
    """One read of the cluster's keys."""

    leader: dict | None
    leader_revision: int
    leader_lease: int
    epoch: int
    epoch_revision: int
    acked: dict | None
    members: dict[str, dict]

    @classmethod
    def read(cls, prefix: str, keys: dict[str, KeyValue]) -> ClusterView:
        leader, epoch, acked = keys.get(prefix + "leader"), keys.get(prefix + "epoch"), keys.get(prefix + "acked")
        members = {kv.key[len(prefix + "members/"):]: kv.json() for kv in keys.values()
                   if kv.key.startswith(prefix + "members/")}
        return cls(
            leader=leader.json() if leader else None,
            leader_revision=leader.mod_revision if leader else 0,
            leader_lease=leader.lease if leader else 0,
            epoch=epoch.json() if epoch else 0,
            epoch_revision=epoch.mod_revision if epoch else 0,
            acked=acked.json() if acked else None,
            members=members,
        )


def cluster_prefix(name: str) -> str:
    return f"/dynovault/{name}/"


def rank(position: dict) -> tuple[int, int]:
    """How up to date a node is: the epoch of its last record, then that record's LSN."""
    return position["last_epoch"], position["last_lsn"]


@dataclass
class Coordinator:
    client: EtcdClient
    cluster_name: str
    name: str
    url: str
    sync_replicas: int
    node: LocalNode
    lease: int = 0
    lease_deadline: float = 0.0
    leading_revision: int = 0
    leader_url: str | None = None
    read_only: str | None = None
    etcd_error: str | None = None
    elections_won: int = 0
    _acked_published: int = 0
    _acked_wanted: int = 0
    _acked_epoch: int = 0
    _acked_signal: asyncio.Event = field(default_factory=asyncio.Event)
    _acked_waiters: list[tuple[int, asyncio.Future]] = field(default_factory=list)
    _settle_until: float = 0.0
    _published_at: float = 0.0
    _tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return cluster_prefix(self.cluster_name)

    @property
    def leading(self) -> bool:
        return self.leading_revision != 0

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._forever(self._keep_lease, KEEPALIVE_SECONDS)),
                       asyncio.create_task(self._forever(self._observe, POLL_SECONDS))]
        if self.sync_replicas:
            self._tasks.append(asyncio.create_task(self._publish_acked()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.lease:
            try:  # let the others elect at once instead of waiting out the lease
                await self.client.revoke(self.lease)
            except EtcdUnavailable:
                pass

    async def _forever(self, step: Callable[[], Awaitable[None]], interval: float) -> None:
        while True:
            try:
                await step()
                self.etcd_error = None
            except EtcdUnavailable as error:
                self.etcd_error = str(error)
            except Exception:
                log.exception("cluster coordination step failed")
            await asyncio.sleep(interval)

    # ---- lease -----------------------------------------------------------------------

    async def _keep_lease(self) -> None:
        sent = time.monotonic()
        ttl = await self.client.keepalive(self.lease) if self.lease else 0
        if ttl > 0:
            self.lease_deadline = sent + ttl
            return
        if self.lease:
            log.error("etcd lease expired", extra={"lease": self.lease})
        await self._lose_leadership("its etcd lease expired")
        sent = time.monotonic()
        self.lease, ttl = await self.client.grant(LEASE_TTL)
        self.lease_deadline = sent + ttl
        await self._publish_member()

    def lease_remaining(self) -> float:
        return max(0.0, self.lease_deadline - time.monotonic()) if self.lease else 0.0

    def refusal(self) -> str | None:
        """Why this node may not acknowledge a write now (None: it may)."""
        if not self.leading:
            return "it does not hold the cluster's leader lease"
        if time.monotonic() > self.lease_deadline - ACK_SAFETY_SECONDS:
            return "its leader lease is about to expire (or expired while the process was paused)"
        return None

    def check_may_acknowledge(self) -> None:
        reason = self.refusal()
        if reason is not None:
            raise ServiceUnavailable(f"This node cannot acknowledge the write: {reason}")

    # ---- observing the cluster -------------------------------------------------------

    async def _observe(self) -> None:
        view = ClusterView.read(self.prefix, await self.client.range_prefix(self.prefix))
        if time.monotonic() - self._published_at >= PUBLISH_SECONDS:
            await self._publish_member()
        if view.leader is None:
            await self._without_leader(view)
            return
        self.read_only = None
        self._settle_until = 0.0
        if view.leader["name"] == self.name and view.leader_revision == self.leading_revision:
            return
        if view.leader["name"] == self.name and view.leader_lease != self.lease:
            return  # written by this node before a restart: it goes when that lease expires
        if self.leading:
            await self._lose_leadership(f"{view.leader['name']} holds the leader key")
        if view.leader["url"] != self.leader_url:
            self.leader_url = view.leader["url"]
            log.warning("following the cluster's leader", extra={"leader": self.leader_url, "epoch": view.leader["epoch"]})
            await self.node.follow(self.leader_url)

    async def _without_leader(self, view: ClusterView) -> None:
        if self.leading:
            await self._lose_leadership("the leader key is gone")
        elif self.leader_url is not None:
            log.warning("the cluster's leader is gone", extra={"leader": self.leader_url})
            self.leader_url = None
            await self.node.step_down()
        now = time.monotonic()
        if not self._settle_until:
            # Everyone noticed at about the same time: publish fresh positions, then compare.
            self._settle_until = now + SETTLE_SECONDS
            await self._publish_member()
            return
        if now < self._settle_until or not self.lease:
            return
        await self._elect(view)

    async def _elect(self, view: ClusterView) -> None:
        mine = self.node.position()
        positions = {**view.members, self.name: mine}
        best = max(positions, key=lambda name: (rank(positions[name]), name))
        acked = view.acked
        if acked is not None and rank(positions[best]) < (acked["epoch"], acked["lsn"]):
            self.read_only = (
                f"no live node holds every acknowledged write (acknowledged through LSN {acked['lsn']} of epoch "
                f"{acked['epoch']}; the most up-to-date live node, {best}, ends at LSN {positions[best]['last_lsn']} "
                f"of epoch {positions[best]['last_epoch']}): the cluster stays read-only until such a node returns"
            )
            return
        self.read_only = None
        if best != self.name:
            return
        epoch = max(view.epoch, mine["epoch"]) + 1
        leader = orjson.dumps({"name": self.name, "url": self.url, "epoch": epoch})
        won, revision = await self.client.txn(
            [etcd.unchanged_since(self.prefix + "leader", 0), etcd.unchanged_since(self.prefix + "epoch", view.epoch_revision)],
            [etcd.put(self.prefix + "leader", leader, self.lease), etcd.put(self.prefix + "epoch", orjson.dumps(epoch))],
        )
        if not won:
            return
        self.leading_revision = revision
        self.leader_url = self.url
        self._acked_published = self._acked_wanted = 0
        ELECTIONS_WON.inc()
        self.elections_won += 1
        log.warning("elected leader", extra={"epoch": epoch, "last_lsn": mine["last_lsn"]})
        await self.node.promote(epoch)

    async def _lose_leadership(self, reason: str) -> None:
        if not self.leading:
            return
        self.leading_revision = 0
        self.leader_url = None
        LEADERSHIP_LOST.inc()
        log.error("no longer the cluster's leader", extra={"reason": reason})
        self._fail_acked_waiters(ServiceUnavailable(f"This node stopped being the leader: {reason}"))
        await self.node.step_down()

    async def _publish_member(self) -> None:
        if not self.lease:
            return
        self._published_at = time.monotonic()
        member = {"name": self.name, "url": self.url, **self.node.position(), "read_only": self.read_only,
                  "at": time.time()}
        await self.client.put(self.prefix + "members/" + self.name, orjson.dumps(member), self.lease)

    # ---- what sync mode acknowledged -------------------------------------------------

    async def acknowledged(self, lsn: int, epoch: int) -> None:
        """Return once etcd records that writes through ``lsn`` may be acknowledged (sync
        mode): a candidate for leadership must hold them."""
        if lsn <= self._acked_published:
            return
        self.check_may_acknowledge()
        future = asyncio.get_running_loop().create_future()
        self._acked_waiters.append((lsn, future))
        self._acked_wanted = max(self._acked_wanted, lsn)
        self._acked_epoch = epoch
        self._acked_signal.set()
        await future

    async def _publish_acked(self) -> None:
        """One etcd transaction per batch of acknowledgements, each only while this node
        still holds the leader key it won."""
        while True:
            await self._acked_signal.wait()
            self._acked_signal.clear()
            target = self._acked_wanted
            if target <= self._acked_published or not self.leading:
                continue
            try:
                held, _ = await self.client.txn(
                    [etcd.unchanged_since(self.prefix + "leader", self.leading_revision)],
                    [etcd.put(self.prefix + "acked", orjson.dumps({"epoch": self._acked_epoch, "lsn": target}))],
                )
            except EtcdUnavailable as error:
                self._fail_acked_waiters(ServiceUnavailable(f"etcd did not record the acknowledgement: {error}"))
                continue
            if not held:
                await self._lose_leadership("another node holds the leader key")
                continue
            self._acked_published = max(self._acked_published, target)
            self._release_acked_waiters()

    def _release_acked_waiters(self) -> None:
        waiting = []
        for lsn, future in self._acked_waiters:
            if lsn <= self._acked_published:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((lsn, future))
        self._acked_waiters = waiting
        if waiting:
            self._acked_signal.set()

    def _fail_acked_waiters(self, error: Exception) -> None:
        waiters, self._acked_waiters = self._acked_waiters, []
        for _, future in waiters:
            if not future.done():
                future.set_exception(error)

    # ---- status ----------------------------------------------------------------------

    def status(self) -> dict:
        return {
            "coordinator": "etcd",
            "cluster_name": self.cluster_name,
            "lease": self.lease or None,
            "lease_remaining_seconds": round(self.lease_remaining(), 3),
            "holds_leader_lease": int(self.leading),
            "elections_won": self.elections_won,
            "read_only": int(self.read_only is not None),
            "read_only_reason": self.read_only,
            "etcd_error": self.etcd_error,
        }
