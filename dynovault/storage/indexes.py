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
from dataclasses import dataclass

import orjson

from dynovault.storage.keycodec import HASH_BYTES, decode_value, encode_value, partition_hash
from dynovault.storage.stored import stored_value
from dynovault.values.attributes import canonical_item

# DynamoDB counts 100 bytes of overhead for every index entry in an index's size.
ENTRY_OVERHEAD_BYTES = 100

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
