"""A read-only view of a running node's data directory, from another process.

RocksDB lets a second process open a database as a *secondary instance*: read-only, no lock
taken, following the primary's files. ``SecondaryStore`` is ``Store``'s read side over one
(tables, point reads, multi-gets, range walks, the log), so the same read code serves from
it. It sees the primary's commits only when told to catch up, which costs a fixed few
hundred microseconds (RocksDB re-reads the primary's manifest and log tail): callers catch
up when the primary committed something, not on a timer.

New tables and indexes are new column families, which a secondary only sees when reopened;
a data directory replaced under it (a follower bootstrapped from a checkpoint) is reopened
too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import orjson
from rocksdict import AccessType, Options, Rdict

from dynovault.storage.engine import CATALOG_CF, META_CF, REPLOG_CF, STATS_CF, Store, now_us, open_table
from dynovault.storage.vectors import DEFAULT_EXACT_LIMIT


class SecondaryStore(Store):
    """``Store`` opened as a RocksDB secondary instance; every write method fails in RocksDB."""

    def __init__(self, path: str | Path, vector_exact_limit: int = DEFAULT_EXACT_LIMIT) -> None:
        self.path = Path(path)
        self.vector_exact_limit = vector_exact_limit
        self._vector_changes = []
        self.commit_listeners = []
        self.scratch = Path(tempfile.mkdtemp(prefix="dynovault-secondary-"))
        self._open()

    def _open(self) -> None:
        options = Options(raw_mode=True)
        names = [name for name in Rdict.list_cf(str(self.path), options) if name != "default"]
        self._directory = _identity(self.path)
        self.db = Rdict(
            str(self.path),
            options=options,
            column_families={name: Options(raw_mode=True) for name in names},
            access_type=AccessType.secondary(str(self.scratch)),
        )
        self._catalog = self.db.get_column_family(CATALOG_CF)
        self._stats = self.db.get_column_family(STATS_CF)
        self.replog = self.db.get_column_family(REPLOG_CF)
        self.meta = self.db.get_column_family(META_CF)
        self._handles = {}
        self._catalog_bytes: dict[bytes, bytes] = {}
        self.tables = {}
        self.last_lsn = self._read_last_lsn()
        if not self._load_catalog():
            raise RuntimeError(f"{self.path}: a table's column family is missing right after opening")

    def _load_catalog(self) -> bool:
        """Re-read the table catalog if it changed; False when a table's column families
        are not open yet (they were created after this instance was opened)."""
        catalog = dict(self._catalog.items())
        if catalog == self._catalog_bytes:
            return True
        tables = {}
        for name, raw in catalog.items():
            # Searches go to the writer: a reader holds no vector search spaces.
            table = open_table(self.db, orjson.loads(raw), self._stats, self.meta, self.vector_exact_limit,
                               vector_spaces=False)
            if table is None:
                return False
            tables[name.decode()] = table
        self.tables, self._catalog_bytes = tables, catalog
        return True

    def catch_up(self) -> float | None:
        """Follow the primary to its latest commit. Returns how many seconds the oldest
        commit this made visible had been committed for (None when nothing new became
        visible): the staleness reads here had for that commit."""
        if self.replaced():
            before = self.last_lsn
            self._reopen()
            return self._staleness_since(before)
        self.follow_primary()
        return self.refresh()

    def replaced(self) -> bool:
        """Whether the data directory was replaced (a follower's bootstrap) since opening."""
        return _identity(self.path) != self._directory

    def follow_primary(self) -> None:
        """RocksDB's part of a catch-up, the costly one. It releases the GIL and may run on
        another thread while reads go on; ``refresh`` then makes what it found visible."""
        self.db.try_catch_up_with_primary()

    def refresh(self) -> float | None:
        """After ``follow_primary``: the new last LSN and catalog (reopening for new column
        families), and the staleness as ``catch_up`` returns it."""
        before = self.last_lsn
        self.last_lsn = self._read_last_lsn()
        if not self._load_catalog():
            self._reopen()
        return self._staleness_since(before)

    def _staleness_since(self, before: int) -> float | None:
        if self.last_lsn <= before:
            return None
        first = self.log_record(before + 1) or self.log_record(self.last_lsn)
        return None if first is None else max(0.0, (now_us() - first.commit_time_us) / 1e6)

    def _reopen(self) -> None:
        self.db.close()
        self._open()

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _identity(path: Path) -> tuple[int, int]:
    """The directory's inode: a data directory replaced by a checkpoint is another one."""
    status = os.stat(path)
    return status.st_dev, status.st_ino
