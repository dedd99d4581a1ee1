"""Table snapshot files: one table's items as of one commit, outside the database.

A snapshot is taken from a RocksDB checkpoint of the node (hard links, made in an
instant on the event loop, so it holds exactly the commits up to the store's last LSN at
that moment). The table's column family is then read from the checkpoint, opened
read-only, which may take long and runs off the event loop; writes to the live table go
on meanwhile and are not in the snapshot.

File layout: ``MAGIC``, then one frame per item (key length, value length, key, stored
value) in key order, then an end frame (``END`` as key length) holding the item count and
the sum of the items' sizes. A file is written under a temporary name, fsynced and only
then renamed into place, so a file under its final name is always complete; a reader
checks the end frame as well.
"""

from __future__ import annotations

import os
import shutil
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rocksdict import AccessType, Options, Rdict

from dynovault.storage.engine import Store, Table
from dynovault.storage.stored import stored_size

MAGIC = b"DVSNAP1\n"
_FRAME = struct.Struct(">II")
_END = 0xFFFFFFFF
_TOTALS = struct.Struct(">QQ")
# Items between progress reports (and between checks that the snapshot is still wanted).
PROGRESS_EVERY = 10_000
PARTIAL_SUFFIX = ".partial"


class SnapshotCorrupt(Exception):
    """A snapshot file that is not one, or that ends before its end frame."""


@dataclass(frozen=True, slots=True)
class SnapshotTotals:
    items: int
    size_bytes: int


def dump_table(checkpoint: Path, column_family: str, target: Path,
               progress: Callable[[int], None] | None = None) -> SnapshotTotals:
    """Write the items of ``column_family`` in ``checkpoint`` to the snapshot file
    ``target``, then remove the checkpoint. ``progress`` is told of each further batch of
    items written."""
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    try:
        db = Rdict(str(checkpoint), options=Options(raw_mode=True),
                   column_families={column_family: Options(raw_mode=True)},
                   access_type=AccessType.read_only())
        try:
            totals = _write_items(db.get_column_family(column_family), partial, progress)
        finally:
            db.close()
        os.replace(partial, target)
        _fsync_directory(target.parent)
        return totals
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(checkpoint, ignore_errors=True)


def _write_items(data: Rdict, path: Path, progress: Callable[[int], None] | None) -> SnapshotTotals:
    items = size = 0
    with open(path, "wb") as sink:
        sink.write(MAGIC)
        it = data.iter()
        it.seek_to_first()
        while it.valid():
            key, value = it.key(), it.value()
            sink.write(_FRAME.pack(len(key), len(value)))
            sink.write(key)
            sink.write(value)
            items += 1
            size += stored_size(value)
            if progress is not None and items % PROGRESS_EVERY == 0:
                progress(PROGRESS_EVERY)
            it.next()
        del it
        if progress is not None and items % PROGRESS_EVERY:
            progress(items % PROGRESS_EVERY)
        sink.write(_FRAME.pack(_END, _TOTALS.size) + _TOTALS.pack(items, size))
        sink.flush()
        os.fsync(sink.fileno())
    return SnapshotTotals(items, size)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class SnapshotReader:
    """The items of a snapshot file in key order, read in chunks; the totals of its end
    frame once every item was read."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")
        if self._file.read(len(MAGIC)) != MAGIC:
            self._file.close()
            raise SnapshotCorrupt(f"{path} is not a table snapshot")
        self.totals: SnapshotTotals | None = None

    def chunk(self, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` more items; an empty list at the end."""
        items: list[tuple[bytes, bytes]] = []
        while self.totals is None and len(items) < limit:
            header = self._read(_FRAME.size)
            key_length, value_length = _FRAME.unpack(header)
            if key_length == _END:
                self.totals = SnapshotTotals(*_TOTALS.unpack(self._read(value_length)))
                break
            items.append((self._read(key_length), self._read(value_length)))
        return items

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        while chunk := self.chunk(PROGRESS_EVERY):
            yield from chunk

    def _read(self, length: int) -> bytes:
        data = self._file.read(length)
        if len(data) != length:
            raise SnapshotCorrupt(f"{self._file.name} ends early")
        return data

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SnapshotReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class PendingSnapshot:
    """A table as of one commit, held in a checkpoint until ``write`` turns it into a
    snapshot file (which may run in another thread)."""

    checkpoint: Path
    column_family: str
    lsn: int
    taken_at: float

    def write(self, target: Path, progress: Callable[[int], None] | None = None) -> SnapshotTotals:
        return dump_table(self.checkpoint, self.column_family, target, progress)

    def discard(self) -> None:
        shutil.rmtree(self.checkpoint, ignore_errors=True)


def checkpoint_table(store: Store, table: Table, scratch: Path) -> PendingSnapshot:
    """Hold ``table`` as of the store's last commit in a new checkpoint under ``scratch``."""
    scratch.mkdir(parents=True, exist_ok=True)
    checkpoint = scratch / f"checkpoint-{uuid.uuid4().hex}"
    store.create_checkpoint(checkpoint)
    return PendingSnapshot(checkpoint, table.column_family, store.last_lsn, time.time())
