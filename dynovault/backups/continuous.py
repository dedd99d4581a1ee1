"""Point-in-time recovery: periodic snapshots of a table plus its change history.

Enabling recovery on a table (a catalog change, so it replicates) makes the store keep
every later item change of it in its history (``storage/recovery``), and a snapshot of
the table is taken at once. Every node then keeps its own snapshots, one every
``snapshot interval`` while the table changes, as snapshot files under
``<backup dir>/pitr/<TableId>/<LSN>-<microseconds>.snap``, and trims what restoring to a
time inside the recovery period no longer needs: snapshots older than the newest one
taken before the period began (the base) and all but the newest few after it, and the
history up to the base's LSN.

A restore to time T starts from the newest snapshot taken at or before T and applies the
history's changes after it whose commit time is at or before T: exactly the commits made
by T. The earliest restorable time is the oldest snapshot kept (or the start of the
recovery period, when later); the latest is now.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from dynovault.backups import jobs
from dynovault.backups.ondemand import scratch_dir, snapshot_chunks
from dynovault.backups.restore import Chunk, fill_table, restored_description
from dynovault.errors import (
    InvalidRestoreTimeException,
    PointInTimeRecoveryUnavailableException,
    ValidationException,
)
from dynovault.node import Node
from dynovault.periodic import Periodic
from dynovault.storage.engine import Table
from dynovault.storage.recovery import PITR_MEMBER, keeps_history
from dynovault.storage.replog import LogRecord, RecordKind
from dynovault.storage.snapshots import SnapshotReader, checkpoint_table
from dynovault.tables import describe

DEFAULT_RECOVERY_DAYS = 35
DAY_SECONDS = 86400
# History records read per step of a restore or of the check for changes.
HISTORY_CHUNK = 5000
SNAPSHOT_SUFFIX = ".snap"
# Snapshots kept after the oldest one a restore may need, so a restore replays little history.
RECENT_SNAPSHOTS = 6

log = logging.getLogger(__name__)

# TableIds whose snapshot is being written; TableIds a restore is reading (their history
# and snapshots are not trimmed meanwhile).
_SNAPSHOTTING: set[str] = set()
_READING: Counter[str] = Counter()
# The LSN each table's history was last trimmed through (trimming again with nothing new to
# drop would only add range tombstones).
_TRIMMED_THROUGH: dict[str, int] = {}


@dataclass(frozen=True, slots=True, order=True)
class Snapshot:
    """A complete snapshot file of a table with recovery: it holds the commits up to
    ``lsn``, all made by ``taken_at``."""

    taken_at: float
    lsn: int
    path: Path


def recovery_days(description: dict) -> int | None:
    """The recovery period of a table with recovery enabled, else None."""
    if not keeps_history(description):
        return None
    return description[PITR_MEMBER]["RecoveryPeriodInDays"]


def _snapshot_dir(node: Node, table_id: str) -> Path:
    return node.backup_dir / "pitr" / table_id


def snapshots(node: Node, table_id: str) -> list[Snapshot]:
    """The complete snapshots of a table, oldest first."""
    directory = _snapshot_dir(node, table_id)
    found = []
    for path in directory.glob(f"*{SNAPSHOT_SUFFIX}") if directory.is_dir() else ():
        lsn, micros = path.stem.split("-")
        found.append(Snapshot(int(micros) / 1e6, int(lsn), path))
    return sorted(found)


# ---- UpdateContinuousBackups / DescribeContinuousBackups ----------------------------------


def update(node: Node, name_or_arn: str, specification: dict) -> dict:
    """Enable (taking the first snapshot at once), re-period or disable recovery."""
    table = jobs.source_table(node, name_or_arn)
    if specification["PointInTimeRecoveryEnabled"]:
        days = specification.get("RecoveryPeriodInDays", recovery_days(table.description) or DEFAULT_RECOVERY_DAYS)
        setting = {"PointInTimeRecoveryStatus": "ENABLED", "RecoveryPeriodInDays": days}
        was_enabled = keeps_history(table.description)
        table = node.store.put_table({**table.description, PITR_MEMBER: setting})
        if not was_enabled:
            take_snapshot(node, table)
    else:
        if "RecoveryPeriodInDays" in specification:
            raise ValidationException(
                "RecoveryPeriodInDays can only be specified when PointInTimeRecoveryEnabled is true")
        table = node.store.put_table({**table.description, PITR_MEMBER: {"PointInTimeRecoveryStatus": "DISABLED"}})
        shutil.rmtree(_snapshot_dir(node, table.description["TableId"]), ignore_errors=True)
    return describe_recovery(node, table)


def describe_recovery(node: Node, table: Table) -> dict:
    """The table's ContinuousBackupsDescription."""
    days = recovery_days(table.description)
    if days is None:
        return {"ContinuousBackupsStatus": "ENABLED",
                "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}}
    recovery: dict = {"PointInTimeRecoveryStatus": "ENABLED", "RecoveryPeriodInDays": days}
    window = restorable_window(node, table)
    if window is not None:
        recovery["EarliestRestorableDateTime"], recovery["LatestRestorableDateTime"] = window
    return {"ContinuousBackupsStatus": "ENABLED", "PointInTimeRecoveryDescription": recovery}


def restorable_window(node: Node, table: Table) -> tuple[float, float] | None:
    """(earliest, latest) restorable time; None until the first snapshot is complete."""
    kept = snapshots(node, table.description["TableId"])
    if not kept:
        return None
    now = time.time()
    return max(kept[0].taken_at, now - recovery_days(table.description) * DAY_SECONDS), now


# ---- snapshots and trimming --------------------------------------------------------------


def take_snapshot(node: Node, table: Table) -> None:
    """Snapshot the table as of now, writing the file in the background."""
    table_id = table.description["TableId"]
    if table_id in _SNAPSHOTTING:
        return
    pending = checkpoint_table(node.store, table, scratch_dir(node))
    directory = _snapshot_dir(node, table_id)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{pending.lsn:020d}-{int(pending.taken_at * 1e6)}{SNAPSHOT_SUFFIX}"
    _SNAPSHOTTING.add(table_id)
    name = table.name

    async def write() -> None:
        # Holds the table's name only: a follower swapping in a checkpoint meanwhile must be
        # able to close every handle into its old data.
        try:
            await asyncio.to_thread(pending.write, target, lambda items: jobs.progress("pitr-snapshot", name, items))
        finally:
            _SNAPSHOTTING.discard(table_id)

    jobs.start("pitr-snapshot", name, write())


def unneeded(kept: list[Snapshot], horizon: float) -> list[Snapshot]:
    """The snapshots restoring to any time after ``horizon`` no longer needs: all before
    the newest one taken at or before it (the base every such restore can start from),
    and all but the newest ``RECENT_SNAPSHOTS`` after the base (they only shorten the
    history a restore replays)."""
    base = max(len([s for s in kept if s.taken_at <= horizon]) - 1, 0)
    later = kept[base + 1 :]
    return kept[:base] + later[: max(len(later) - RECENT_SNAPSHOTS, 0)]


def _changed_since(node: Node, table: Table, lsn: int) -> bool:
    return bool(node.store.history(table, lsn, 1))


def maintain(node: Node, table: Table, interval: float) -> None:
    """One pass over a table with recovery: snapshot it when due, trim what is not needed."""
    table_id = table.description["TableId"]
    kept = snapshots(node, table_id)
    if table_id not in _SNAPSHOTTING and (
        not kept or (time.time() - kept[-1].taken_at >= interval and _changed_since(node, table, kept[-1].lsn))
    ):
        take_snapshot(node, table)
    if _READING[table_id] or not kept:
        return
    dropped = unneeded(kept, time.time() - recovery_days(table.description) * DAY_SECONDS)
    for snapshot in dropped:
        snapshot.path.unlink(missing_ok=True)
    base = next(snapshot for snapshot in kept if snapshot not in dropped)
    if _TRIMMED_THROUGH.get(table_id) != base.lsn:
        node.store.trim_history(table, base.lsn)
        _TRIMMED_THROUGH[table_id] = base.lsn


def forget_orphans(node: Node) -> None:
    """Delete the snapshots of tables deleted or no longer recoverable."""
    root = node.backup_dir / "pitr"
    recoverable = {t.description["TableId"] for t in node.store.tables.values() if keeps_history(t.description)}
    for directory in root.iterdir() if root.is_dir() else ():
        if directory.name not in recoverable:
            shutil.rmtree(directory, ignore_errors=True)


class SnapshotScheduler(Periodic):
    """The background task keeping every recoverable table's snapshots, on every node.
    It looks every few seconds (at most ``interval``) whether a snapshot is due."""

    name = "point-in-time recovery"

    def __init__(self, node: Node, interval: float) -> None:
        super().__init__(min(interval, 10.0))
        self.node = node
        self.snapshot_interval = interval

    async def run_pass(self) -> None:
        """One pass over the recoverable tables, holding none of them while it yields: a
        table holds its column family, and a follower swapping in a checkpoint cannot
        reopen its data while any handle into the old one lives."""
        forget_orphans(self.node)
        for name in list(self.node.store.tables):
            self._maintain(name)
            await asyncio.sleep(0)

    def _maintain(self, name: str) -> None:
        table = self.node.store.tables.get(name)
        if table is not None and keeps_history(table.description):
            maintain(self.node, table, self.snapshot_interval)


# ---- a table as of a point in time ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PointInTime:
    """A recoverable table as of ``when``: the newest snapshot taken by then, already
    open (so trimming cannot take it away), and the table's history after it."""

    source: Table
    base: Snapshot
    reader: SnapshotReader
    when: float

    @property
    def when_us(self) -> int:
        return int(self.when * 1e6)


def point_in_time(node: Node, source: Table, when: float) -> PointInTime:
    """``source`` as of ``when``, which must lie in its restorable window."""
    base = max(s for s in snapshots(node, source.description["TableId"]) if s.taken_at <= when)
    return PointInTime(source, base, SnapshotReader(base.path), when)


def checked_time(node: Node, source: Table, when: float | None, refused: type[Exception], what: str) -> float:
    """``when`` (None: the latest restorable time), or ``refused`` when recovery cannot
    reach it."""
    if recovery_days(source.description) is None:
        raise PointInTimeRecoveryUnavailableException(
            f"Point in time recovery is not enabled for table '{source.name}'")
    window = restorable_window(node, source)
    if window is None:
        raise refused("The table has no restorable time yet: its first snapshot is being taken")
    when = window[1] if when is None else when
    if not window[0] <= when <= window[1]:
        raise refused(f"{what} must be between EarliestRestorableDateTime and LatestRestorableDateTime")
    return when


async def history_after(point: PointInTime, node: Node) -> AsyncIterator[list[tuple[int, LogRecord]]]:
    """The source's changes after the base snapshot, a chunk at a time, not trimmed while
    they are read; raises if the source is deleted meanwhile."""
    table_id = point.source.description["TableId"]
    after_lsn = point.base.lsn
    _READING[table_id] += 1
    try:
        while True:
            if node.store.tables.get(point.source.name) is not point.source:
                raise RuntimeError(f"table {point.source.name} was deleted while being read")
            records = node.store.history(point.source, after_lsn, HISTORY_CHUNK)
            if not records:
                return
            yield records
            after_lsn = records[-1][0]
            await asyncio.sleep(0)
    finally:
        _READING[table_id] -= 1


def item_value(record: LogRecord) -> bytes | None:
    """The stored item a change left (None: it deleted the item)."""
    return record.value if record.kind is RecordKind.PUT_ITEM else None


async def items_at(node: Node, point: PointInTime) -> AsyncIterator[Chunk]:
    """Every item of the source as of the point: the snapshot's that did not change
    since, then the changed ones that exist."""
    changes: dict[bytes, bytes | None] = {}
    with point.reader:
        async for records in history_after(point, node):
            for _, record in records:
                if record.commit_time_us <= point.when_us:
                    changes[record.key] = item_value(record)
        async for chunk in snapshot_chunks(point.reader):
            yield [(key, value) for key, value in chunk if key not in changes]
    changed = [(key, value) for key, value in changes.items() if value is not None]
    for start in range(0, len(changed), HISTORY_CHUNK):
        yield changed[start : start + HISTORY_CHUNK]


# ---- RestoreTableToPointInTime -----------------------------------------------------------


def restore_to_point_in_time(node: Node, request: dict) -> dict:
    """Create the target table (CREATING) and fill it with the source as of the restore
    time in the background; answer the new table's description."""
    source = jobs.source_table(node, request.get("SourceTableArn") or request.get("SourceTableName") or "")
    latest = request.get("UseLatestRestorableTime")
    if latest and "RestoreDateTime" in request:
        raise ValidationException("Only one of RestoreDateTime or UseLatestRestorableTime can be specified")
    if not latest and "RestoreDateTime" not in request:
        raise ValidationException("Either RestoreDateTime or UseLatestRestorableTime must be specified")
    requested = None if latest else jobs.seconds(request["RestoreDateTime"])
    when = checked_time(node, source, requested, InvalidRestoreTimeException, "RestoreDateTime")
    summary = {"SourceTableArn": node.table_arn(source.name)}
    description = restored_description(node, source.description, request, summary, when)
    point = point_in_time(node, source, when)
    table = node.store.put_table(description)
    jobs.start("restore", table.name, fill_table(node, description, items_at(node, point), "restore"))
    return describe(node, table)
