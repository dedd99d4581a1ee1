"""Log retention: keep the newest records within a size and an age bound.

The size of the retained log is counted incrementally (only records written since the
last pass are read), so a pass costs in proportion to what was written and trimmed, not
to the size of the log. A follower whose next record was trimmed re-bootstraps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from dynovault.replication.lag_metrics import TRIMMED_RECORDS
from dynovault.storage.engine import Store
from dynovault.storage.replog import LogRecord

log = logging.getLogger(__name__)

_CHUNK = 5000  # records read between yields to the event loop, so serving goes on


class LogRetention:
    def __init__(self, max_bytes: int, max_age_seconds: float) -> None:
        self.max_bytes = max_bytes
        self.max_age_seconds = max_age_seconds
        self.retained_bytes = 0
        self._counted_through = 0
        self._counted_store: Store | None = None

    async def run(self, store: Callable[[], Store], interval: float) -> None:
        while True:
            try:
                await self.enforce(store())
            except Exception:  # a store swapped by a bootstrap mid-pass: count again next time
                log.exception("log retention pass failed")
                self._counted_store = None
            await asyncio.sleep(interval)

    async def enforce(self, store: Store) -> int:
        """Trim what exceeds the bounds; return how many records were dropped."""
        if store is not self._counted_store:
            self._counted_store, self._counted_through, self.retained_bytes = store, 0, 0
        await self._count_new(store)
        cutoff, dropped_bytes = await self._cutoff(store)
        if cutoff <= store.oldest_lsn:
            return 0
        dropped = cutoff - store.oldest_lsn
        store.trim_log(cutoff)
        self.retained_bytes -= dropped_bytes
        TRIMMED_RECORDS.inc(dropped)
        log.info("log trimmed", extra={"before_lsn": cutoff, "records": dropped})
        return dropped

    async def _count_new(self, store: Store) -> None:
        last_lsn = store.last_lsn
        while self._counted_through < last_lsn:
            chunk = _read_chunk(store, self._counted_through + 1, last_lsn)
            if not chunk:
                return
            self.retained_bytes += sum(len(raw) for _, raw in chunk)
            self._counted_through = chunk[-1][0]
            await asyncio.sleep(0)

    async def _cutoff(self, store: Store) -> tuple[int, int]:
        """The first LSN to keep and the bytes of the records before it. The last
        record always stays, and only records already counted are dropped."""
        oldest_allowed_us = (time.time() - self.max_age_seconds) * 1e6
        excess = self.retained_bytes - self.max_bytes
        dropped_bytes = 0
        cutoff = store.oldest_lsn
        oldest = store.log_record(cutoff)
        if excess <= 0 and (oldest is None or oldest.commit_time_us >= oldest_allowed_us):
            return cutoff, 0
        limit = min(store.last_lsn, self._counted_through)
        while chunk := _read_chunk(store, cutoff, limit - 1):
            for lsn, raw in chunk:
                too_old = LogRecord.decode(raw).commit_time_us < oldest_allowed_us
                if dropped_bytes >= excess and not too_old:
                    return cutoff, dropped_bytes
                dropped_bytes += len(raw)
                cutoff = lsn + 1
            await asyncio.sleep(0)
        return cutoff, dropped_bytes


def _read_chunk(store: Store, from_lsn: int, through_lsn: int) -> list[tuple[int, bytes]]:
    """Up to ``_CHUNK`` records in ``[from_lsn, through_lsn]``, read with no iterator left
    open (a bootstrap may replace the store while this task waits)."""
    chunk = []
    for lsn, raw in store.iterate_log(from_lsn):
        if lsn > through_lsn:
            break
        chunk.append((lsn, raw))
        if len(chunk) >= _CHUNK:
            break
    return chunk
