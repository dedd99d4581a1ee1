"""Time to live: the deleter that removes expired items, and the TTL states it moves
tables through.

A table's TTL setting lives in its catalog description (so it replicates). Enabling it
makes the table ENABLING while storage orders the items it already holds by expiry
(``Store.build_index`` on the expiry order, a chunk per pass); the deleter then makes it
ENABLED. Disabling makes it DISABLING, which the deleter's next pass makes DISABLED.

Only a leader deletes: every ``interval`` seconds it walks each ENABLED table's expiry
order from the longest overdue item and deletes in chunks of ``CHUNK_ITEMS`` through the
normal commit path, yielding to requests between chunks; followers receive the deletions
through the log. An expired item not deleted yet is still read, as in DynamoDB.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dynovault.metrics import REGISTRY
from dynovault.node import Node
from dynovault.periodic import Periodic
from dynovault.storage.engine import Store, Table
from dynovault.storage.expiry import TTL_MEMBER

log = logging.getLogger(__name__)

# Items deleted per commit, so foreground requests wait at most one small commit.
CHUNK_ITEMS = 100
# Overdue items counted per table for the backlog gauge (a scrape reads no more).
BACKLOG_COUNT_LIMIT = 100_000

DELETED = Counter(
    "dynovault_ttl_deleted_items", "Items deleted because their TTL passed", ["table"], registry=REGISTRY
)


def ttl_status(table: Table) -> str:
    return (table.description.get(TTL_MEMBER) or {}).get("TimeToLiveStatus", "DISABLED")


def with_ttl(description: dict, status: str, attribute: str | None) -> dict:
    """A table description with its TTL setting replaced."""
    ttl = {"TimeToLiveStatus": status} if attribute is None else {"TimeToLiveStatus": status, "AttributeName": attribute}
    return {**description, TTL_MEMBER: ttl}


class ExpiryDeleter(Periodic):
    """The background task deleting expired items, active while ``is_leader()``."""

    name = "TTL"

    def __init__(self, node: Node, interval: float, is_leader: Callable[[], bool]) -> None:
        super().__init__(interval)
        self.node = node
        self.is_leader = is_leader

    async def start(self, _app: object = None) -> None:
        COLLECTOR.store = lambda: self.node.store
        await super().start()

    async def run_pass(self) -> None:
        if self.is_leader():
            await self.sweep()

    async def sweep(self) -> None:
        """One pass over every table with TTL."""
        for name in list(self.node.store.tables):
            table = self.node.store.tables.get(name)
            if table is None:
                continue
            status = ttl_status(table)
            if status == "ENABLED":
                await self._delete_expired(name)
            elif status == "ENABLING":
                self._build_order(table)
            elif status == "DISABLING":
                self.node.store.put_table(with_ttl(table.description, "DISABLED", None))

    def _build_order(self, table: Table) -> None:
        """Order one more chunk of the items a table held when TTL was enabled; once all
        are, the table is ENABLED."""
        store = self.node.store
        if store.build_index(table, table.expiry):
            attribute = table.description[TTL_MEMBER]["AttributeName"]
            store.put_table(with_ttl(table.description, "ENABLED", attribute))

    async def _delete_expired(self, name: str) -> None:
        while True:
            store = self.node.store
            table = store.tables.get(name)
            if table is None or ttl_status(table) != "ENABLED" or not self.is_leader():
                return
            deleted = store.expire(table, time.time(), CHUNK_ITEMS)
            if not deleted:
                return
            DELETED.labels(name).inc(deleted)
            await asyncio.sleep(0)


class ExpiryCollector(Collector):
    """The TTL backlog of every table, read from its expiry order at scrape time."""

    def __init__(self) -> None:
        self.store: Callable[[], Store] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.store is None:
            return
        backlog = GaugeMetricFamily(
            "dynovault_ttl_backlog_items",
            f"Items whose TTL passed and that are not deleted yet (counted up to {BACKLOG_COUNT_LIMIT})",
            labels=["table"],
        )
        oldest = GaugeMetricFamily(
            "dynovault_ttl_oldest_overdue_seconds",
            "Seconds since the TTL of the longest overdue item not deleted yet passed (0: none)",
            labels=["table"],
        )
        store, now = self.store(), time.time()
        for name, table in list(store.tables.items()):
            if table.expiry is None:
                continue
            overdue = store.overdue(table, now, BACKLOG_COUNT_LIMIT)
            backlog.add_metric([name], len(overdue))
            oldest.add_metric([name], max(0.0, now - overdue[0][0]) if overdue else 0.0)
        yield backlog
        yield oldest


COLLECTOR = ExpiryCollector()
REGISTRY.register(COLLECTOR)
