"""Stream records: each change of an item of a table with a stream, as the stream shows it,
kept in their own column family under the LSN of the change's log record.

A stream is a view of the replication log: its records are staged in the WriteBatch of
the change (by ``Store._stage_change``, on a leader committing and on a follower applying
the leader's log), keyed by the same LSN, so the stream of every node holds the same
records under the same sequence numbers. The old image a stream needs is the stored
value the change replaces, which the commit reads anyway. Keeping them apart from the log
lets them live 24 hours whatever the log's retention says.

Keys of the column family (``sid`` is a stream's 16-byte id):

- ``d | sid`` -> the stream's description (JSON): table, label, view type, key schema,
  status;
- ``s | sid | first LSN`` -> a shard (JSON): creation time, parent shard, whether it is
  closed and its last record;
- ``t | sid | first LSN`` -> the LSN through which retention dropped the shard's records;
- ``r | sid | LSN`` -> a record: what changed (INSERT, MODIFY, REMOVE, and whether the
  TTL deleter removed it), the commit time, the item's storage key and the images its
  view type keeps, as stored values (size prefix and wire JSON, spliced as they are).

A shard is a run of a stream's records. The open shard closes and a child opens when a
record arrives and the open shard holds ``ShardLimits.records`` records or is older than
``ShardLimits.age_us`` (so a shard idle that long closes empty); the decision depends on
the records alone, so replicas cut their shards at the same LSNs. A table change giving the
table a new shard generation (``SHARD_GENERATION_MEMBER``) also closes the open shard, at the
LSN of that change, on every replica alike.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson
from rocksdict import Rdict, WriteBatch

STREAM_CF = "stream"
# The catalog member holding the id of a table's current stream (not shown by DescribeTable).
STREAM_ID_MEMBER = "StreamId"
# The catalog member naming the generation of a stream's shards: a table change that gives
# it a new value closes the open shard there (not shown by DescribeTable either).
SHARD_GENERATION_MEMBER = "StreamShardGeneration"
SPECIFICATION_MEMBER = "StreamSpecification"

_DESCRIPTION = b"d"
_SHARD = b"s"
_RECORD = b"r"
_TRIMMED = b"t"
_LSN = struct.Struct(">Q")
_HEADER = struct.Struct(">BQII")
_EXPIRED = 0x80

INSERT, MODIFY, REMOVE = 1, 2, 3
EVENT_NAMES = {INSERT: "INSERT", MODIFY: "MODIFY", REMOVE: "REMOVE"}
_KEEPS_OLD = frozenset({"OLD_IMAGE", "NEW_AND_OLD_IMAGES"})
_KEEPS_NEW = frozenset({"NEW_IMAGE", "NEW_AND_OLD_IMAGES"})


@dataclass(frozen=True, slots=True)
class ShardLimits:
    """When a stream's open shard closes: DynamoDB's shards live about four hours."""

    records: int = 100_000
    age_us: int = 4 * 3600 * 1_000_000


DEFAULT_SHARD_LIMITS = ShardLimits()


def stream_id(description: dict) -> bytes | None:
    """The id of the stream a table description has enabled, or None."""
    if not (description.get(SPECIFICATION_MEMBER) or {}).get("StreamEnabled"):
        return None
    return bytes.fromhex(description[STREAM_ID_MEMBER])


def stream_description(table: dict, key_names: tuple[str, ...], created_us: int) -> dict:
    """What a stream keeps of the table description that enabled it: enough to describe
    it and decode its records' keys after the table changed or was deleted."""
    return {
        "TableName": table["TableName"],
        "StreamLabel": table["LatestStreamLabel"],
        "StreamViewType": table[SPECIFICATION_MEMBER]["StreamViewType"],
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": [d for d in table["AttributeDefinitions"] if d["AttributeName"] in key_names],
        "CreationRequestDateTime": created_us / 1e6,
    }


def _description_key(sid: bytes) -> bytes:
    return _DESCRIPTION + sid


def _shard_key(sid: bytes, first_lsn: int) -> bytes:
    return _SHARD + sid + _LSN.pack(first_lsn)


def _trimmed_key(sid: bytes, first_lsn: int) -> bytes:
    return _TRIMMED + sid + _LSN.pack(first_lsn)


def _record_key(sid: bytes, lsn: int) -> bytes:
    return _RECORD + sid + _LSN.pack(lsn)


@dataclass(slots=True)
class Shard:
    """One shard: records with LSNs from ``first_lsn`` (through ``last_lsn`` once closed)."""

    first_lsn: int
    created_us: int
    parent: int | None = None
    closed: bool = False
    # The LSN of the shard's last record (None: it has none).
    last_lsn: int | None = None
    # Records at or below this LSN were dropped by retention (0: none were).
    trimmed_through: int = 0

    def encode(self) -> bytes:
        return orjson.dumps(
            {"created": self.created_us, "parent": self.parent, "closed": self.closed, "last": self.last_lsn}
        )

    @classmethod
    def decode(cls, first_lsn: int, raw: bytes, trimmed: bytes | None) -> Shard:
        fields = orjson.loads(raw)
        trimmed_through = _LSN.unpack(trimmed)[0] if trimmed else 0
        return cls(first_lsn, fields["created"], fields["parent"], fields["closed"], fields["last"], trimmed_through)


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """A stored record, as GetRecords needs it."""

    lsn: int
    event: int
    expired: bool
    commit_time_us: int
    key: bytes
    old: bytes | None
    new: bytes | None


def encode_record(event: int, expired: bool, commit_time_us: int, key: bytes, old: bytes, new: bytes) -> bytes:
    kind = event | (_EXPIRED if expired else 0)
    return _HEADER.pack(kind, commit_time_us, len(key), len(old)) + key + old + new


def decode_record(lsn: int, raw: bytes) -> StreamRecord:
    kind, commit_time_us, key_length, old_length = _HEADER.unpack_from(raw)
    pos = _HEADER.size
    key = raw[pos : pos + key_length]
    pos += key_length
    old = raw[pos : pos + old_length]
    new = raw[pos + old_length :]
    return StreamRecord(lsn, kind & ~_EXPIRED, bool(kind & _EXPIRED), commit_time_us, key, old or None, new or None)


@dataclass(slots=True)
class LiveStream:
    """A table's current stream, which its item changes append to."""

    sid: bytes
    view_type: str
    cf_handle: object
    limits: ShardLimits
    shard: Shard
    shard_records: int = 0
    # Records appended by this process (a metric's source).
    produced: int = field(default=0)
    # The shard generation the table's description named when the open shard opened.
    generation: object = None

    def stage(
        self, batch: WriteBatch, lsn: int, commit_time_us: int, key: bytes, old: bytes | None, new: bytes | None,
        expired: bool,
    ) -> None:
        """Append the record of one item change, opening a child shard first when the
        open one is full or old."""
        if self.shard_records >= self.limits.records or commit_time_us - self.shard.created_us >= self.limits.age_us:
            self.roll(batch, lsn, commit_time_us)
        event = REMOVE if new is None else (INSERT if old is None else MODIFY)
        kept_old = old if old is not None and self.view_type in _KEEPS_OLD else b""
        kept_new = new if new is not None and self.view_type in _KEEPS_NEW else b""
        batch.put(
            _record_key(self.sid, lsn), encode_record(event, expired, commit_time_us, key, kept_old, kept_new),
            self.cf_handle,
        )
        self.shard.last_lsn = lsn
        self.shard_records += 1
        self.produced += 1

    def roll(self, batch: WriteBatch, lsn: int, commit_time_us: int) -> None:
        """Stage the close of the open shard and the opening of its child at ``lsn``."""
        self.shard.closed = True
        batch.put(_shard_key(self.sid, self.shard.first_lsn), self.shard.encode(), self.cf_handle)
        self.shard = Shard(lsn, commit_time_us, parent=self.shard.first_lsn)
        batch.put(_shard_key(self.sid, lsn), self.shard.encode(), self.cf_handle)
        self.shard_records = 0

    def close(self, batch: WriteBatch, streams: StreamCatalog) -> None:
        """Stage the end of this stream (its table disabled it or was deleted): its open
        shard closes and its description says DISABLED; its records stay readable."""
        self.shard.closed = True
        batch.put(_shard_key(self.sid, self.shard.first_lsn), self.shard.encode(), self.cf_handle)
        streams.stage_description(batch, self.sid, {**streams.descriptions[self.sid], "StreamStatus": "DISABLED"})


class StreamCatalog:
    """Every stream a node keeps (enabled, or disabled and still readable), and reads of
    their shards and records."""

    def __init__(self, db: Rdict, limits: ShardLimits) -> None:
        self.data = db.get_column_family(STREAM_CF)
        self.cf_handle = db.get_column_family_handle(STREAM_CF)
        self.limits = limits
        self.descriptions: dict[bytes, dict] = {
            key[1:]: orjson.loads(raw) for key, raw in self._items(_DESCRIPTION)
        }

    def _items(self, prefix: bytes, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        it = self.data.iter()
        it.seek(start or prefix)
        while it.valid() and it.key().startswith(prefix):
            yield it.key(), it.value()
            it.next()

    def stage_description(self, batch: WriteBatch, sid: bytes, description: dict) -> None:
        batch.put(_description_key(sid), orjson.dumps(description), self.cf_handle)
        self.descriptions[sid] = description

    def open(self, batch: WriteBatch, sid: bytes, description: dict, first_lsn: int, created_us: int) -> LiveStream:
        """Stage a new stream with its first shard, which starts at ``first_lsn``."""
        self.stage_description(batch, sid, {**description, "StreamStatus": "ENABLED"})
        shard = Shard(first_lsn, created_us)
        batch.put(_shard_key(sid, first_lsn), shard.encode(), self.cf_handle)
        return LiveStream(sid, description["StreamViewType"], self.cf_handle, self.limits, shard)

    def resume(self, sid: bytes) -> LiveStream | None:
        """The live state of an enabled stream as its column family left it (on opening
        the store): its open shard and how many records it holds."""
        description = self.descriptions.get(sid)
        if description is None or description["StreamStatus"] != "ENABLED":
            return None
        shard = self.shards(sid)[-1]
        count = 0
        for record in self.records(sid, shard, shard.first_lsn):
            shard.last_lsn = record.lsn
            count += 1
        return LiveStream(sid, description["StreamViewType"], self.cf_handle, self.limits, shard, count)

    def shards(self, sid: bytes) -> list[Shard]:
        """The stream's shards, oldest first (the order of their ids)."""
        prefix = _SHARD + sid
        firsts = ((_LSN.unpack_from(key, len(prefix))[0], raw) for key, raw in self._items(prefix))
        return [Shard.decode(first, raw, self.data.get(_trimmed_key(sid, first))) for first, raw in firsts]

    def shard(self, sid: bytes, first_lsn: int) -> Shard | None:
        raw = self.data.get(_shard_key(sid, first_lsn))
        return None if raw is None else Shard.decode(first_lsn, raw, self.data.get(_trimmed_key(sid, first_lsn)))

    def records(self, sid: bytes, shard: Shard, from_lsn: int) -> Iterator[StreamRecord]:
        """The records of one shard from ``from_lsn`` on, in LSN order."""
        if shard.closed and shard.last_lsn is None:
            return
        prefix = _RECORD + sid
        for key, raw in self._items(prefix, _record_key(sid, max(from_lsn, shard.first_lsn))):
            lsn = _LSN.unpack_from(key, len(prefix))[0]
            if shard.closed and lsn > shard.last_lsn:
                return
            yield decode_record(lsn, raw)

    def first_record_after(self, sid: bytes, lsn: int) -> StreamRecord | None:
        """The stream's first record with an LSN above ``lsn``, in whichever shard."""
        prefix = _RECORD + sid
        for key, raw in self._items(prefix, _record_key(sid, lsn + 1)):
            return decode_record(_LSN.unpack_from(key, len(prefix))[0], raw)
        return None

    def trim(self, before_us: int, limit: int) -> int:
        """Drop up to ``limit`` records committed before ``before_us``, the shards emptied
        that way once closed, and streams disabled before then with no shard left; return
        how many records were dropped. Local to this node, like log retention."""
        dropped = 0
        for sid in list(self.descriptions):
            batch = WriteBatch(raw_mode=True)
            dropped += self._trim_stream(batch, sid, before_us, limit - dropped)
            if not batch.is_empty():
                self.data.write(batch)
            if dropped >= limit:
                break
        return dropped

    def _trim_stream(self, batch: WriteBatch, sid: bytes, before_us: int, limit: int) -> int:
        dropped = 0
        shards = self.shards(sid)
        for shard in list(shards):
            trimmed_before = shard.trimmed_through
            for record in self.records(sid, shard, shard.first_lsn):
                if record.commit_time_us >= before_us or dropped >= limit:
                    break
                batch.delete(_record_key(sid, record.lsn), self.cf_handle)
                shard.trimmed_through = record.lsn
                dropped += 1
            emptied = shard.closed and (shard.last_lsn is None or shard.trimmed_through >= shard.last_lsn)
            if emptied and shard.created_us < before_us:
                batch.delete(_shard_key(sid, shard.first_lsn), self.cf_handle)
                batch.delete(_trimmed_key(sid, shard.first_lsn), self.cf_handle)
                shards.remove(shard)
            elif shard.trimmed_through != trimmed_before:
                batch.put(_trimmed_key(sid, shard.first_lsn), _LSN.pack(shard.trimmed_through), self.cf_handle)
            if dropped >= limit:
                return dropped
        description = self.descriptions[sid]
        if not shards and description["StreamStatus"] == "DISABLED":
            batch.delete(_description_key(sid), self.cf_handle)
            del self.descriptions[sid]
        return dropped
