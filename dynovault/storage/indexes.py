"""Secondary-index entries: what one table item puts into each of its table's indexes.

An index entry's storage key is ``hash8(partition) | enc(partition attributes) |
enc(sort attributes) | table storage key``: the same layout as a table key (so Query is
one prefix walk and parallel Scan segments are hash ranges), with the item's own table key
appended so that items sharing index key values stay distinct entries. Its value is the
projected item in stored form. An item lacking an index key attribute, or holding one of
another type than the index declares, is not in that index (a sparse index).

Everything here is derived from the table description and the item alone, so the leader,
a follower applying the leader's log and a backfill all compute identical entries.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import orjson
from rocksdict import Options, Rdict, WriteBatch

from dynovault.storage.keycodec import (
    HASH_BYTES,
    decode_value,
    encode_value,
    partition_hash,
)
from dynovault.storage.stored import stored_json, stored_size, stored_value
from dynovault.values.attributes import canonical_item

# DynamoDB counts 100 bytes of overhead for every index entry in an index's size.
ENTRY_OVERHEAD_BYTES = 100

# Where an index that is still being built has got to (see LiveIndex.built_through).
BUILD_PREFIX = b"index-build:"
_STATS = struct.Struct(">qq")

Item = dict[str, dict]
KeyPart = tuple[str, str]


@dataclass(frozen=True, slots=True)
class IndexLayout:
    """One secondary index of a table, as storage needs it.

    ``projected`` is None for an ALL projection, otherwise every attribute the index
    holds: the table key, the index key and any INCLUDE attributes."""

    name: str
    is_global: bool
    hash_parts: tuple[KeyPart, ...]
    range_parts: tuple[KeyPart, ...]
    projected: frozenset[str] | None
    column_family: str

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.hash_parts + self.range_parts)

    def partition_prefix(self, values: list[dict]) -> bytes:
        """Storage key prefix of one index partition, given its partition attribute values."""
        encoded = b"".join(encode_value(tag, value[tag]) for (_, tag), value in zip(self.hash_parts, values))
        return partition_hash(encoded) + encoded

    def index_key(self, item: Item) -> bytes | None:
        """The index key part of the item's entry, or None when the item is not indexed."""
        encoded = []
        for name, tag in self.hash_parts + self.range_parts:
            value = item.get(name)
            if value is None or tag not in value:
                return None
            encoded.append(encode_value(tag, value[tag]))
        partition = b"".join(encoded[: len(self.hash_parts)])
        return partition_hash(partition) + partition + b"".join(encoded[len(self.hash_parts) :])

    def entry(self, item: Item, table_key: bytes, stored: bytes) -> tuple[bytes, bytes] | None:
        """The (storage key, stored value) the item puts into this index, or None.
        ``stored`` is the item's own stored value, which an ALL projection reuses."""
        key = self.index_key(item)
        if key is None:
            return None
        if self.projected is None:
            return key + table_key, stored
        projection = {name: value for name, value in item.items() if name in self.projected}
        _, size = canonical_item(projection)
        return key + table_key, stored_value(orjson.dumps(projection), size)

    def decode(self, data: bytes) -> tuple[Item, bytes]:
        """The index key attributes an entry's storage key holds, and the table storage
        key that follows them."""
        key: Item = {}
        pos = HASH_BYTES
        for name, tag in self.hash_parts + self.range_parts:
            value, pos = decode_value(tag, data, pos)
            key[name] = {tag: value}
        return key, data[pos:]


def index_column_family(table_id: str, index_name: str) -> str:
    """The column family of one index: named after its table and a digest of its name
    (index names may be 255 characters long)."""
    digest = hashlib.blake2b(index_name.encode(), digest_size=8).hexdigest()
    return f"i_{table_id.replace('-', '')}_{digest}"


def key_parts(key_schema: list[dict], types: dict[str, str]) -> tuple[tuple[KeyPart, ...], tuple[KeyPart, ...]]:
    """The (name, type) of each partition and each sort attribute of a key schema, in order."""
    hash_parts = tuple((k["AttributeName"], types[k["AttributeName"]]) for k in key_schema if k["KeyType"] == "HASH")
    range_parts = tuple((k["AttributeName"], types[k["AttributeName"]]) for k in key_schema if k["KeyType"] == "RANGE")
    return hash_parts, range_parts


def layouts_of(description: dict) -> tuple[IndexLayout, ...]:
    """Every secondary index a table description declares, LSIs first."""
    types = {d["AttributeName"]: d["AttributeType"] for d in description["AttributeDefinitions"]}
    table_keys = {k["AttributeName"] for k in description["KeySchema"]}
    layouts = []
    for member, is_global in (("LocalSecondaryIndexes", False), ("GlobalSecondaryIndexes", True)):
        for index in description.get(member, ()):
            hash_parts, range_parts = key_parts(index["KeySchema"], types)
            projection = index["Projection"]
            projected = None
            if projection.get("ProjectionType", "ALL") != "ALL":
                index_keys = {name for name, _ in hash_parts + range_parts}
                projected = frozenset(table_keys | index_keys | set(projection.get("NonKeyAttributes", ())))
            layouts.append(
                IndexLayout(
                    name=index["IndexName"],
                    is_global=is_global,
                    hash_parts=hash_parts,
                    range_parts=range_parts,
                    projected=projected,
                    column_family=index_column_family(description["TableId"], index["IndexName"]),
                )
            )
    return tuple(layouts)


@dataclass(slots=True)
class IndexFamily:
    """The column family an index (secondary or vector) keeps its entries in, with its
    statistics and the progress of its build.

    ``built_through`` is None once the index holds an entry for every item. While it is
    being built from a table that already held items it is the last table key indexed so
    far (b"" before the first): a write to an item at or below it maintains the index,
    one above it is left to the build, which will reach that item later. So every item
    is indexed exactly once, whatever order writes and build chunks come in."""

    column_family: str
    data: Rdict
    cf_handle: object
    item_count: int = 0
    size_bytes: int = 0
    built_through: bytes | None = None

    @property
    def progress_key(self) -> bytes:
        """Where the progress of this index's build is kept (in the meta column family)."""
        return BUILD_PREFIX + self.column_family.encode()

    def covers(self, table_key: bytes) -> bool:
        return self.built_through is None or table_key <= self.built_through

    def count(self, size: int, sign: int) -> None:
        """Account for an entry of ``size`` bytes coming (sign 1) or going (-1)."""
        self.item_count += sign
        self.size_bytes += sign * size

    def stats_entry(self) -> tuple[bytes, bytes]:
        """The statistics record of this index, keyed like a table's by column family."""
        return self.column_family.encode(), _STATS.pack(self.item_count, self.size_bytes)


def family_fields(db: Rdict, column_family: str, stats: Rdict, meta: Rdict, create: bool) -> dict | None:
    """The IndexFamily fields of an index's column family (created when missing and
    ``create``): its statistics and build progress. None when it is missing."""
    try:
        data = db.get_column_family(column_family)
    except Exception:
        if not create:
            return None
        data = db.create_column_family(column_family, Options(raw_mode=True))
    raw_stats = stats.get(column_family.encode())
    count, size = _STATS.unpack(raw_stats) if raw_stats else (0, 0)
    return {
        "column_family": column_family,
        "data": data,
        "cf_handle": db.get_column_family_handle(column_family),
        "item_count": count,
        "size_bytes": size,
        "built_through": meta.get(BUILD_PREFIX + column_family.encode()),
    }


@dataclass(slots=True, kw_only=True)
class LiveIndex(IndexFamily):
    """A secondary index of a live table: its layout and its column family."""

    layout: IndexLayout

    def stage(self, batch: WriteBatch, table_key: bytes, old: Item | None, old_stored: bytes | None,
              new: Item | None, new_stored: bytes | None) -> None:
        """Stage in ``batch`` what one item change does to this index: drop the entry of
        the old item, put the entry of the new one (nothing when they are the same)."""
        if not self.covers(table_key):
            return
        before = self.layout.entry(old, table_key, old_stored) if old is not None else None
        after = self.layout.entry(new, table_key, new_stored) if new is not None else None
        if before == after:
            return
        if before is not None:
            if after is None or before[0] != after[0]:
                batch.delete(before[0], self.cf_handle)
            self._account(before[1], -1)
        if after is not None:
            batch.put(after[0], after[1], self.cf_handle)
            self._account(after[1], 1)

    def stage_build(self, batch: WriteBatch, table_key: bytes, stored: bytes) -> None:
        """Stage the entry of one item the build reaches (it was not indexed before)."""
        entry = self.layout.entry(orjson.loads(stored_json(stored)), table_key, stored)
        if entry is not None:
            batch.put(entry[0], entry[1], self.cf_handle)
            self._account(entry[1], 1)

    def _account(self, stored: bytes, sign: int) -> None:
        self.count(stored_size(stored) + ENTRY_OVERHEAD_BYTES, sign)


def open_indexes(db: Rdict, description: dict, stats: Rdict, meta: Rdict, create: bool) -> tuple[LiveIndex, ...] | None:
    """The live indexes a table description declares, with their statistics and build
    progress; None when one's column family is missing and ``create`` is false (a
    secondary instance opened before the index existed)."""
    indexes = []
    for layout in layouts_of(description):
        fields = family_fields(db, layout.column_family, stats, meta, create)
        if fields is None:
            return None
        indexes.append(LiveIndex(layout=layout, **fields))
    return tuple(indexes)
