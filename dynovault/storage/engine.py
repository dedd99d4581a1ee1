"""The RocksDB store: one column family per table, per secondary index and per vector
index, a catalog, statistics and the replication log, all changed together in single
WriteBatches: an item change, its index entries and its log record commit or vanish as one.
What is kept in memory besides (the vector indexes' search spaces) changes only after the
batch holding its cause is written.

Calls are synchronous and short; the server runs them on its event loop, which also makes
each read-modify-write (conditional writes, counters) atomic with respect to others.
"""

from __future__ import annotations

import gc
import logging
import shutil
import struct
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
from rocksdict import Checkpoint, Options, Rdict, WriteBatch, WriteOptions

from dynovault.errors import StartupError
from dynovault.storage.expiry import (
    EXPIRY_CF,
    ExpiryOrder,
    decode_expiry_key,
    overdue_range,
    ttl_attribute,
    ttl_value,
)
from dynovault.storage.indexes import BUILD_PREFIX, LiveIndex, open_indexes
from dynovault.storage.keycodec import KeyCodec, after_prefix
from dynovault.storage.recovery import HISTORY_CF, history_key, history_range, keeps_history
from dynovault.storage.replog import LSN, LogRecord, RecordKind, lsn_key
from dynovault.storage.stored import stored_json as stored_json
from dynovault.storage.stored import stored_size as stored_size
from dynovault.storage.stored import stored_value as stored_value
from dynovault.storage.streams import (
    DEFAULT_SHARD_LIMITS,
    SHARD_GENERATION_MEMBER,
    STREAM_CF,
    LiveStream,
    ShardLimits,
    StreamCatalog,
    stream_description,
    stream_id,
)
from dynovault.storage.vectors import (
    DEFAULT_EXACT_LIMIT,
    LiveVectorIndex,
    VectorChange,
    open_vector_index,
    open_vector_indexes,
    vector_layouts_of,
)

log = logging.getLogger(__name__)

CATALOG_CF = "catalog"
# Beside RocksDB's files in the data directory.
GRAPHS_DIR = "vector-graphs"
STATS_CF = "stats"
REPLOG_CF = "replog"
META_CF = "meta"
_SYSTEM_CFS = ("default", CATALOG_CF, STATS_CF, REPLOG_CF, META_CF, EXPIRY_CF, HISTORY_CF, STREAM_CF)
_STATS = struct.Struct(">qq")
# Items an index build indexes per commit, so writes and reads go on between chunks.
BUILD_CHUNK_ITEMS = 256
# A transaction's ClientRequestToken is remembered this long (DynamoDB's ten minutes), in
# the meta column family: by token, and by time so expired ones are dropped as new ones
# come. Both follow the token's log record, so a follower remembers what its leader did.
CLIENT_TOKEN_TTL_US = 10 * 60 * 1_000_000
_TOKEN_PREFIX = b"client-token:"
_TOKEN_BY_TIME_PREFIX = b"client-token-at:"
_TOKEN_TIME = struct.Struct(">q")
# Expired tokens dropped per commit that remembers a new one.
_TOKENS_DROPPED_PER_COMMIT = 16


@dataclass(slots=True)
class Table:
    """A live table: its description (as DynamoDB would describe it) and its data."""

    description: dict
    schema: KeyCodec
    data: Rdict
    cf_handle: object
    column_family: str
    item_count: int = 0
    size_bytes: int = 0
    indexes: tuple[LiveIndex, ...] = ()
    expiry: ExpiryOrder | None = None
    # Whether the table's item changes are kept in the history (point-in-time recovery).
    keeps_history: bool = False
    vector_indexes: tuple[LiveVectorIndex, ...] = ()
    stream: LiveStream | None = None

    @property
    def name(self) -> str:
        return self.description["TableName"]

    def index(self, name: str) -> LiveIndex | None:
        return next((index for index in self.indexes if index.layout.name == name), None)

    def vector_index(self, name: str) -> LiveVectorIndex | None:
        return next((index for index in self.vector_indexes if index.layout.name == name), None)

    @property
    def derived(self) -> bool:
        """Whether an item change here stages more than the item and its log record."""
        return bool(self.indexes or self.vector_indexes) or self.expiry is not None


def column_family_of(description: dict) -> str:
    """The column family holding a table's items (named after its TableId)."""
    return "t_" + description["TableId"].replace("-", "")


def open_table(
    db: Rdict, description: dict, stats: Rdict, meta: Rdict | None = None, exact_limit: int = DEFAULT_EXACT_LIMIT,
    graphs: Path | None = None, vector_spaces: bool = True,
) -> Table | None:
    """The live table a catalog description names in ``db``, with its statistics; None
    when its column family is not open (a secondary instance opened before it existed).
    Its indexes are opened too when ``meta`` (which holds their build progress) is given:
    a read-only secondary instance does without them. Vector indexes' search spaces are
    loaded only with ``vector_spaces`` (a process that never searches does without)."""
    family = column_family_of(description)
    try:
        data = db.get_column_family(family)
    except Exception:
        return None
    indexes = () if meta is None else open_indexes(db, description, stats, meta, create=False)
    vector_indexes = () if meta is None else open_vector_indexes(
        db, description, stats, meta, False, exact_limit, load=vector_spaces, graphs=graphs
    )
    if indexes is None or vector_indexes is None:
        return None
    raw_stats = stats.get(family.encode())
    count, size = _STATS.unpack(raw_stats) if raw_stats else (0, 0)
    return Table(
        description=description,
        schema=KeyCodec.of(description),
        data=data,
        cf_handle=db.get_column_family_handle(family),
        column_family=family,
        item_count=count,
        size_bytes=size,
        indexes=indexes,
        expiry=None if meta is None else expiry_order_of(db, description, meta),
        keeps_history=keeps_history(description),
        vector_indexes=vector_indexes,
    )


def expiry_order_of(db: Rdict, description: dict, meta: Rdict) -> ExpiryOrder | None:
    """The expiry order of a table with TTL, with the progress of its build if one is
    under way."""
    attribute = ttl_attribute(description)
    if attribute is None:
        return None
    order = ExpiryOrder(column_family_of(description), attribute, db.get_column_family_handle(EXPIRY_CF))
    order.built_through = meta.get(order.progress_key)
    return order


@dataclass(frozen=True, slots=True)
class ClientToken:
    """A request's idempotency token and the digest of the request it was sent with."""

    token: bytes
    digest: bytes


@dataclass(frozen=True, slots=True)
class ItemChange:
    """A put (``value`` is a stored value) or a delete (``value`` is None) of one item;
    ``expired`` marks a deletion by the TTL deleter."""

    table: Table
    key: bytes
    value: bytes | None
    expired: bool = False


# Item changes staged in one WriteBatch: (column family, key) -> (table, staged value).
_Staged = dict[tuple[str, bytes], tuple[Table, bytes | None]]


def _options() -> Options:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    return opts


def now_us() -> int:
    return time.time_ns() // 1000


class Store:
    """One node's data. ``sync`` makes every commit fsync its WAL before returning; a
    vector index partition holding more than ``vector_exact_limit`` vectors is searched
    through an HNSW graph, a smaller one exactly; ``shard_limits`` say when streams open
    new shards (the same on every replica)."""

    def __init__(
        self,
        path: str | Path,
        sync: bool = False,
        vector_exact_limit: int = DEFAULT_EXACT_LIMIT,
        shard_limits: ShardLimits = DEFAULT_SHARD_LIMITS,
    ) -> None:
        self.path = Path(path)
        self.vector_exact_limit = vector_exact_limit
        # What the batch being staged does to vector spaces, applied once it is written.
        self._vector_changes: list[VectorChange] = []
        self._options = _options()
        self.db, existing = self._open()
        self._write_options = WriteOptions()
        self._write_options.sync = sync
        self._catalog = self.db.get_column_family(CATALOG_CF)
        self._stats = self.db.get_column_family(STATS_CF)
        self.replog = self.db.get_column_family(REPLOG_CF)
        self.meta = self.db.get_column_family(META_CF)
        self._handles = {name: self.db.get_column_family_handle(name) for name in _SYSTEM_CFS[1:]}
        self.tables: dict[str, Table] = {}
        self.streams = StreamCatalog(self.db, shard_limits)
        self.last_lsn = self._read_last_lsn()
        self.commit_listeners: list[Callable[[int], None]] = []
        self._load_tables(set(existing))
        self.finish_index_builds()

    # ---- lifecycle -------------------------------------------------------------------

    def _open(self) -> tuple[Rdict, list[str]]:
        """The database and the column families it held; what keeps it from opening (a
        lock another process holds, a directory that cannot be read) as one line."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            existing = Rdict.list_cf(str(self.path), self._options) if (self.path / "CURRENT").exists() else []
            families = {name: Options(raw_mode=True) for name in set(existing) | set(_SYSTEM_CFS)}
            families.pop("default")
            return Rdict(str(self.path), options=self._options, column_families=families), existing
        except OSError as error:
            raise StartupError(f"data directory {self.path}: {error.strerror or error}") from None
        except Exception as error:  # rocksdict raises plain Exceptions carrying RocksDB's status
            if "lock" in str(error).lower():
                raise StartupError(f"data directory {self.path} is in use by another process") from None
            raise StartupError(f"data directory {self.path} cannot be opened: {error}") from None

    def _read_last_lsn(self) -> int:
        it = self.replog.iter()
        it.seek_to_last()
        return LSN.unpack(it.key())[0] if it.valid() else 0

    def _load_tables(self, families: set[str]) -> None:
        for name, raw in self._catalog.items():
            description = orjson.loads(raw)
            self.tables[name.decode()] = self._open_table(description)
        live = {t.column_family for t in self.tables.values()}
        live |= {index.column_family for t in self.tables.values() for index in (*t.indexes, *t.vector_indexes)}
        for orphan in families - live - set(_SYSTEM_CFS):
            log.info("dropping orphan column family", extra={"column_family": orphan})
            self.db.drop_column_family(orphan)

    def _open_table(self, description: dict) -> Table:
        family = column_family_of(description)
        try:
            self.db.get_column_family(family)
        except Exception:
            self.db.create_column_family(family, Options(raw_mode=True))
        open_indexes(self.db, description, self._stats, self.meta, create=True)
        open_vector_indexes(self.db, description, self._stats, self.meta, True, load=False)
        table = open_table(self.db, description, self._stats, self.meta, self.vector_exact_limit, self.graphs)
        sid = stream_id(description)
        table.stream = None if sid is None else self.streams.resume(sid)
        if table.stream is not None:
            table.stream.generation = description.get(SHARD_GENERATION_MEMBER)
        return table

    @property
    def graphs(self) -> Path:
        """Where vector indexes' graph snapshots are kept (see storage/graph_snapshots.py)."""
        return self.path / GRAPHS_DIR

    def close(self) -> None:
        """Close the database, snapshotting vector graphs first so the next opening need
        not rebuild them."""
        for table in self.tables.values():
            for index in table.vector_indexes:
                index.space.save_graphs()
        self.db.close()

    def _drop_index(self, index: LiveIndex | LiveVectorIndex) -> None:
        self.db.drop_column_family(index.column_family)
        if isinstance(index, LiveVectorIndex):
            index.space.forget_graphs()

    # ---- catalog ---------------------------------------------------------------------

    def put_table(self, description: dict, commit_time_us: int | None = None) -> Table:
        """Create a table or replace its description; logged for replication."""
        description.setdefault("TableId", str(uuid.uuid4()))
        name = description["TableName"]
        table = self.tables.get(name)
        if table is None or table.description["TableId"] != description["TableId"]:
            if table is not None:
                self.delete_table(name)
            table = self._open_table(description)
        raw = orjson.dumps(description)
        batch = WriteBatch(raw_mode=True)
        self._vector_changes = []
        batch.put(name.encode(), raw, self._handles[CATALOG_CF])
        dropped = self._reindex(batch, table, description)
        dropped += self._revector(batch, table, description)
        self._reorder_expiry(batch, table, description)
        table.keeps_history = keeps_history(description)
        if not table.keeps_history:
            batch.delete_range(*history_range(table.column_family), self._handles[HISTORY_CF])
        table.description = description
        commit_time_us = commit_time_us or now_us()
        self._log(batch, LogRecord(RecordKind.PUT_TABLE, commit_time_us, name, b"", raw))
        self._restream(batch, table, commit_time_us)
        self._commit(batch)
        for index in dropped:
            self._drop_index(index)
        self.tables[name] = table
        return table

    def _reindex(self, batch: WriteBatch, table: Table, description: dict) -> list[LiveIndex]:
        """Give ``table`` the indexes ``description`` declares; return those it no longer
        does (their column families are dropped once the batch commits). An index new to
        a table that holds items starts empty and is built from them (see build_index)."""
        opened = open_indexes(self.db, description, self._stats, self.meta, create=True)
        kept = {index.column_family: index for index in table.indexes}
        indexes = []
        for index in opened:
            if index.column_family in kept:
                index = kept.pop(index.column_family)
            elif table.item_count:
                index.built_through = b""
                batch.put(BUILD_PREFIX + index.column_family.encode(), b"", self._handles[META_CF])
            indexes.append(index)
        for index in kept.values():
            self._forget_index(batch, index)
        table.indexes = tuple(indexes)
        return list(kept.values())

    def _revector(self, batch: WriteBatch, table: Table, description: dict) -> list[LiveVectorIndex]:
        """``_reindex`` for vector indexes: keep those still declared, start new ones (built
        from the table's items when it holds any) and return those no longer declared."""
        kept = {index.column_family: index for index in table.vector_indexes}
        indexes = []
        for layout in vector_layouts_of(description):
            index = kept.pop(layout.column_family, None)
            if index is None:
                index = open_vector_index(
                    self.db, layout, self._stats, self.meta, True, self.vector_exact_limit, graphs=self.graphs
                )
                if table.item_count:
                    index.built_through = b""
                    batch.put(index.progress_key, b"", self._handles[META_CF])
            indexes.append(index)
        for index in kept.values():
            self._forget_index(batch, index)
        table.vector_indexes = tuple(indexes)
        return list(kept.values())

    def _reorder_expiry(self, batch: WriteBatch, table: Table, description: dict) -> None:
        """Give ``table`` the expiry order its TTL attribute calls for: kept while the
        attribute stays, dropped when TTL is disabled, and a new one (built from the
        items the table holds, see build_expiry) when the attribute changes."""
        attribute = ttl_attribute(description)
        if table.expiry is not None and table.expiry.attribute == attribute:
            return
        if table.expiry is not None:
            self._forget_expiry(batch, table.expiry)
        table.expiry = None
        if attribute is not None:
            table.expiry = ExpiryOrder(table.column_family, attribute, self._handles[EXPIRY_CF])
            if table.item_count:
                table.expiry.built_through = b""
                batch.put(table.expiry.progress_key, b"", self._handles[META_CF])

    def _restream(self, batch: WriteBatch, table: Table, commit_time_us: int) -> None:
        """Give ``table`` the stream its description enables: the current one is kept
        (its open shard closed, with a child from the next LSN, when the description names
        a new shard generation); when the description names another stream (or none), the
        current one ends and the new one starts with a shard from the next LSN."""
        sid = stream_id(table.description)
        generation = table.description.get(SHARD_GENERATION_MEMBER)
        if table.stream is not None and table.stream.sid == sid:
            if table.stream.generation != generation:
                table.stream.roll(batch, self.last_lsn + 1, commit_time_us)
                table.stream.generation = generation
            return
        if table.stream is not None:
            table.stream.close(batch, self.streams)
        table.stream = None
        if sid is not None:
            stream = stream_description(table.description, table.schema.names, commit_time_us)
            table.stream = self.streams.open(batch, sid, stream, self.last_lsn + 1, commit_time_us)
            table.stream.generation = generation

    def _forget_expiry(self, batch: WriteBatch, order: ExpiryOrder) -> None:
        prefix = order.prefix
        batch.delete_range(prefix, after_prefix(prefix), self._handles[EXPIRY_CF])
        batch.delete(order.progress_key, self._handles[META_CF])

    def _forget_index(self, batch: WriteBatch, index: LiveIndex | LiveVectorIndex) -> None:
        batch.delete(index.column_family.encode(), self._handles[STATS_CF])
        batch.delete(index.progress_key, self._handles[META_CF])

    def delete_table(self, name: str, commit_time_us: int | None = None) -> Table:
        table = self.tables.pop(name)
        batch = WriteBatch(raw_mode=True)
        batch.delete(name.encode(), self._handles[CATALOG_CF])
        batch.delete(table.column_family.encode(), self._handles[STATS_CF])
        for index in (*table.indexes, *table.vector_indexes):
            self._forget_index(batch, index)
        if table.expiry is not None:
            self._forget_expiry(batch, table.expiry)
        batch.delete_range(*history_range(table.column_family), self._handles[HISTORY_CF])
        if table.stream is not None:
            table.stream.close(batch, self.streams)
        self._log(batch, LogRecord(RecordKind.DELETE_TABLE, commit_time_us or now_us(), name))
        self._commit(batch)
        self.db.drop_column_family(table.column_family)
        for index in (*table.indexes, *table.vector_indexes):
            self._drop_index(index)
        return table

    # ---- index builds ----------------------------------------------------------------
    # An index added to a table that holds items is built by walking the table in
    # chunks. Every node builds its own from its own items (the log carries only the
    # table change that added the index), so replicas derive the same entries.

    def build_index(
        self, table: Table, index: LiveIndex | LiveVectorIndex | ExpiryOrder, limit: int = BUILD_CHUNK_ITEMS
    ) -> bool:
        """Index the next ``limit`` items of the build of an index, a vector index or an
        expiry order, in one commit with the build's progress; return whether it is complete."""
        if index.built_through is None:
            return True
        start = index.built_through + b"\x00" if index.built_through else b""
        batch = WriteBatch(raw_mode=True)
        self._vector_changes = []
        last = None
        for count, (key, stored) in enumerate(self.iterate(table, start, None), 1):
            if isinstance(index, LiveVectorIndex):
                index.stage_build(batch, key, stored, self._vector_changes)
            else:
                index.stage_build(batch, key, stored)
            last = key
            if count == limit:
                break
        if last is None:
            batch.delete(index.progress_key, self._handles[META_CF])
        else:
            batch.put(index.progress_key, last, self._handles[META_CF])
        if not isinstance(index, ExpiryOrder):
            batch.put(*index.stats_entry(), self._handles[STATS_CF])
        self._write(batch)
        index.built_through = last
        return last is None

    def finish_index_builds(self) -> None:
        """Complete every index build, expiry orders' included, at once (a follower
        applying the change that added an index or enabled TTL, or any node reopening its
        data mid-build)."""
        for table in self.tables.values():
            for index in (*table.indexes, *table.vector_indexes, table.expiry):
                while index is not None and not self.build_index(table, index):
                    pass

    # ---- items -----------------------------------------------------------------------

    def get(self, table: Table, key: bytes) -> bytes | None:
        return table.data.get(key)

    def get_many(self, table: Table, keys: list[bytes]) -> list[bytes | None]:
        return table.data.get(keys)

    def write(
        self, changes: list[ItemChange], commit_time_us: int | None = None, token: ClientToken | None = None
    ) -> list[bytes | None]:
        """Apply item changes atomically with their log records (and remember ``token``
        with them); return the old values. The records of one write are marked as one
        commit, which followers apply whole.

        A change that leaves its item as it was (the same item put again, a delete of
        nothing) is left out: no data write, no log record, no stream record. The old
        values returned are those of every change, left out or not."""
        commit_time_us = commit_time_us or now_us()
        seen: _Staged = {}
        olds, effective = [], []
        for change in changes:
            old = _prior(change, seen)
            olds.append(old)
            if not _unchanged(old, change.value):
                effective.append((change, old))
                seen[(change.table.column_family, change.key)] = (change.table, change.value)
        if not effective and token is None:
            return olds
        batch = WriteBatch(raw_mode=True)
        self._vector_changes = []
        pending: _Staged = {}
        last = len(effective) - (token is None)
        for position, (change, old) in enumerate(effective):
            self._stage_change(batch, change, old, commit_time_us, pending, continued=position < last)
        if token is not None:
            self._stage_token(batch, token, commit_time_us)
        self._stage_stats(batch, pending)
        self._commit(batch)
        return olds

    def client_token(self, token: bytes, now: int | None = None) -> bytes | None:
        """The digest remembered with ``token``, while it is younger than ten minutes."""
        raw = self.meta.get(_TOKEN_PREFIX + token)
        if raw is None:
            return None
        (remembered_at,) = _TOKEN_TIME.unpack_from(raw)
        if (now or now_us()) - remembered_at >= CLIENT_TOKEN_TTL_US:
            return None
        return raw[_TOKEN_TIME.size :]

    def _stage_token(self, batch: WriteBatch, token: ClientToken, commit_time_us: int) -> None:
        """Remember ``token`` as of ``commit_time_us`` with its log record, and forget a
        few tokens that expired by then."""
        meta = self._handles[META_CF]
        previous = self.meta.get(_TOKEN_PREFIX + token.token)
        if previous is not None:
            batch.delete(_TOKEN_BY_TIME_PREFIX + previous[: _TOKEN_TIME.size] + token.token, meta)
        when = _TOKEN_TIME.pack(commit_time_us)
        batch.put(_TOKEN_PREFIX + token.token, when + token.digest, meta)
        batch.put(_TOKEN_BY_TIME_PREFIX + when + token.token, b"", meta)
        expired_before = _TOKEN_BY_TIME_PREFIX + _TOKEN_TIME.pack(commit_time_us - CLIENT_TOKEN_TTL_US)
        it = self.meta.iter()
        it.seek(_TOKEN_BY_TIME_PREFIX)
        for _ in range(_TOKENS_DROPPED_PER_COMMIT):
            if not it.valid() or it.key() >= expired_before:
                break
            batch.delete(it.key(), meta)
            batch.delete(_TOKEN_PREFIX + it.key()[len(_TOKEN_BY_TIME_PREFIX) + _TOKEN_TIME.size :], meta)
            it.next()
        self._log(batch, LogRecord(RecordKind.CLIENT_TOKEN, commit_time_us, "", token.token, token.digest))

    def _stage_change(
        self,
        batch: WriteBatch,
        change: ItemChange,
        old: bytes | None,
        commit_time_us: int,
        pending: _Staged,
        continued: bool = False,
    ) -> None:
        """Add one item change, what it derives and its log record to ``batch``. ``old``
        is the value it replaces, seen through what ``pending`` holds: the values already
        staged in this batch, so a key changed twice in one batch is accounted against
        its staged value, not the committed one."""
        table = change.table
        if table.derived:
            self._stage_derived(batch, table, change.key, old, change.value)
        if change.value is None:
            batch.delete(change.key, table.cf_handle)
            record = LogRecord(
                RecordKind.DELETE_ITEM, commit_time_us, table.name, change.key, continued=continued,
                expired=change.expired,
            )
        else:
            batch.put(change.key, change.value, table.cf_handle)
            record = LogRecord(
                RecordKind.PUT_ITEM, commit_time_us, table.name, change.key, change.value, continued=continued
            )
        encoded = self._log(batch, record)
        if table.keeps_history:
            batch.put(history_key(table.column_family, self.last_lsn), encoded, self._handles[HISTORY_CF])
        if table.stream is not None:
            table.stream.stage(batch, self.last_lsn, commit_time_us, change.key, old, change.value, change.expired)
        self._account(table, old, change.value)
        pending[(table.column_family, change.key)] = (table, change.value)

    def _stage_derived(self, batch: WriteBatch, table: Table, key: bytes, old: bytes | None, new: bytes | None) -> None:
        """Stage what an item change does to the table's indexes, vector indexes and expiry order."""
        old_item = orjson.loads(stored_json(old)) if old is not None else None
        new_item = orjson.loads(stored_json(new)) if new is not None else None
        for index in table.indexes:
            index.stage(batch, key, old_item, old, new_item, new)
        for vector_index in table.vector_indexes:
            vector_index.stage(batch, key, old_item, new_item, self._vector_changes)
        if table.expiry is not None:
            table.expiry.stage(batch, key, old_item, new_item)

    def _stage_stats(self, batch: WriteBatch, pending: _Staged) -> None:
        touched = {table.column_family: table for table, _ in pending.values()}
        for column_family, table in touched.items():
            batch.put(
                column_family.encode(),
                _STATS.pack(table.item_count, table.size_bytes),
                self._handles[STATS_CF],
            )
            for index in (*table.indexes, *table.vector_indexes):
                batch.put(*index.stats_entry(), self._handles[STATS_CF])

    @staticmethod
    def _account(table: Table, old: bytes | None, new: bytes | None) -> None:
        if old is not None:
            table.item_count -= 1
            table.size_bytes -= stored_size(old)
        if new is not None:
            table.item_count += 1
            table.size_bytes += stored_size(new)

    def iterate(
        self, source: Table | LiveIndex, start: bytes, end: bytes | None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Items (or a table's index entries) with ``start <= key < end`` (``end`` None:
        to the end), ascending, or descending from just below ``end`` when ``reverse``."""
        it = source.data.iter()
        if reverse:
            if end is None:
                it.seek_to_last()
            else:
                it.seek_for_prev(end)
                if it.valid() and it.key() >= end:
                    it.prev()
            while it.valid() and it.key() >= start:
                yield it.key(), it.value()
                it.prev()
        else:
            it.seek(start)
            while it.valid() and (end is None or it.key() < end):
                yield it.key(), it.value()
                it.next()

    # ---- expiry ----------------------------------------------------------------------

    def overdue(self, table: Table, now: float, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` (expiry second, table key) of items whose TTL passed by ``now``,
        the longest overdue first."""
        if table.expiry is None:
            return []
        start, end = overdue_range(table.column_family, now)
        it = self.db.get_column_family(EXPIRY_CF).iter()
        it.seek(start)
        found = []
        while it.valid() and it.key() < end and len(found) < limit:
            _, second, key = decode_expiry_key(it.key())
            found.append((second, key))
            it.next()
        return found

    def expire(self, table: Table, now: float, limit: int) -> int:
        """Delete up to ``limit`` items whose TTL passed by ``now``, in one commit through
        the normal path (indexes, expiry order, log); return how many. Each item's TTL is
        read again from the item itself as it is deleted, with nothing in between."""
        changes = []
        for _, key in self.overdue(table, now, limit):
            stored = table.data.get(key)
            value = ttl_value(orjson.loads(stored_json(stored)), table.expiry.attribute) if stored else None
            if value is not None and value < now:
                changes.append(ItemChange(table, key, None, expired=True))
        if changes:
            self.write(changes)
        return len(changes)

    # ---- log -------------------------------------------------------------------------

    def _log(self, batch: WriteBatch, record: LogRecord) -> bytes:
        self.last_lsn += 1
        encoded = record.encode()
        batch.put(lsn_key(self.last_lsn), encoded, self._handles[REPLOG_CF])
        return encoded

    def _write(self, batch: WriteBatch) -> None:
        """Write a batch, then apply what it does to the vector spaces."""
        changes, self._vector_changes = self._vector_changes, []
        self.db.write(batch, self._write_options)
        for change in changes:
            change.apply()

    def _commit(self, batch: WriteBatch) -> None:
        self._write(batch)
        for listener in self.commit_listeners:
            listener(self.last_lsn)

    # ---- point-in-time recovery history -------------------------------------------------

    def history(self, table: Table, after_lsn: int, limit: int) -> list[tuple[int, LogRecord]]:
        """Up to ``limit`` item changes of ``table`` kept in its history after ``after_lsn``,
        in commit order."""
        start, end = history_range(table.column_family)
        it = self.db.get_column_family(HISTORY_CF).iter()
        it.seek(history_key(table.column_family, after_lsn + 1))
        found = []
        while it.valid() and it.key() < end and len(found) < limit:
            found.append((LSN.unpack_from(it.key(), len(start))[0], LogRecord.decode(it.value())))
            it.next()
        return found

    def trim_history(self, table: Table, through_lsn: int) -> None:
        """Forget the changes of ``table`` up to and including ``through_lsn``."""
        start, _ = history_range(table.column_family)
        self.db.get_column_family(HISTORY_CF).delete_range(start, history_key(table.column_family, through_lsn + 1))

    # ---- replication support ---------------------------------------------------------
    # A follower applies its leader's records under the leader's LSNs, so its log is a
    # prefix of the leader's and its last LSN is its applied LSN, committed atomically with
    # the data it describes. Replication reads and trims the log here, never the data.

    def apply(self, records: Iterable[tuple[int, LogRecord]]) -> None:
        """Apply a leader's records in LSN order. Runs of item changes (with the tokens
        remembered among them) commit as one WriteBatch, so a commit of several records
        lands whole; table records commit through put_table/delete_table as on the leader."""
        records = list(records)
        if records and records[-1][1].continued:
            raise LogGapError(f"records end inside a commit, at LSN {records[-1][0]}")
        batch = WriteBatch(raw_mode=True)
        self._vector_changes = []
        pending: _Staged = {}
        for lsn, record in records:
            if lsn != self.last_lsn + 1:
                raise LogGapError(f"record {lsn} does not follow applied LSN {self.last_lsn}")
            if record.kind in (RecordKind.PUT_ITEM, RecordKind.DELETE_ITEM):
                value = record.value if record.kind is RecordKind.PUT_ITEM else None
                change = ItemChange(self.tables[record.table], record.key, value, record.expired)
                old = _prior(change, pending)
                self._stage_change(batch, change, old, record.commit_time_us, pending, record.continued)
                continue
            if record.kind is RecordKind.CLIENT_TOKEN:
                self._stage_token(batch, ClientToken(record.key, record.value), record.commit_time_us)
                continue
            batch, pending = self._commit_staged(batch, pending)
            if record.kind is RecordKind.PUT_TABLE:
                self.put_table(orjson.loads(record.value), record.commit_time_us)
                self.finish_index_builds()
            else:
                self.delete_table(record.table, record.commit_time_us)
        self._commit_staged(batch, pending)

    def _commit_staged(self, batch: WriteBatch, pending: _Staged) -> tuple[WriteBatch, _Staged]:
        if not batch.is_empty():
            self._stage_stats(batch, pending)
            self._commit(batch)
            return WriteBatch(raw_mode=True), {}
        return batch, pending

    @property
    def oldest_lsn(self) -> int:
        """The first LSN still in the log (``last_lsn + 1`` when the log is empty)."""
        it = self.replog.iter()
        it.seek_to_first()
        return LSN.unpack(it.key())[0] if it.valid() else self.last_lsn + 1

    def iterate_log(self, from_lsn: int) -> Iterator[tuple[int, bytes]]:
        """Encoded log records from ``from_lsn`` (or the oldest retained one) onwards."""
        it = self.replog.iter()
        it.seek(lsn_key(from_lsn))
        while it.valid():
            yield LSN.unpack(it.key())[0], it.value()
            it.next()

    def log_record(self, lsn: int) -> LogRecord | None:
        raw = self.replog.get(lsn_key(lsn))
        return None if raw is None else LogRecord.decode(raw)

    def trim_log(self, before_lsn: int) -> None:
        """Drop records below ``before_lsn``; the last record always stays, because it is
        what tells this node its LSN when it restarts."""
        self.replog.delete_range(lsn_key(0), lsn_key(min(before_lsn, self.last_lsn)))

    def create_checkpoint(self, path: str | Path) -> None:
        """A consistent copy of the whole node (data, catalog, log, meta) made of hard links."""
        Checkpoint(self.db).create_checkpoint(str(path))

    def replaced_by(self, checkpoint: Path) -> Store:
        """Close this store, move ``checkpoint`` (a directory made by create_checkpoint) into
        its place and return the store opened there. A crash midway leaves no data
        directory, which a follower answers by bootstrapping again."""
        sync = self._write_options.sync
        self._release()
        retired = self.path.parent / f".{self.path.name}.retired-{uuid.uuid4().hex}"
        self.path.rename(retired)
        checkpoint.rename(self.path)
        shutil.rmtree(retired, ignore_errors=True)
        return Store(self.path, sync=sync, vector_exact_limit=self.vector_exact_limit)

    def _release(self) -> None:
        """Close the database and drop every handle into it: RocksDB keeps its directory
        locked until the last column family and iterator object is gone."""
        self.close()
        self.tables.clear()
        self._handles.clear()
        self.db = self._catalog = self._stats = self.replog = self.meta = self.streams = None
        gc.collect()


def _prior(change: ItemChange, staged: _Staged) -> bytes | None:
    """The value ``change`` replaces: what ``staged`` holds for its key, else the stored one."""
    slot = (change.table.column_family, change.key)
    return staged[slot][1] if slot in staged else change.table.data.get(change.key)


def _unchanged(old: bytes | None, new: bytes | None) -> bool:
    """Whether putting ``new`` in place of ``old`` changes nothing. Sizes differ for most
    real changes, so the byte and item comparisons run only when they match."""
    if old is None or new is None:
        return old is new
    if stored_size(old) != stored_size(new):
        return False
    return old == new or orjson.loads(stored_json(old)) == orjson.loads(stored_json(new))


class LogGapError(Exception):
    """Records offered to a follower do not continue its log."""
