"""The expiry order: every item of a TTL table whose TTL attribute is a Number, ordered
by the instant it expires, so finding expired items is one range walk, never a scan.

An entry's key is ``len(column family) | column family | expiry second (big-endian
u64) | table storage key`` and its value is empty: all tables share one column family,
each table's entries are one prefix, and within it they sort by expiry, then by key.
The expiry second is the TTL value rounded up (an item expires once the clock passes its
value), clamped into what eight bytes hold.

Entries are staged with the item in its WriteBatch, from the item alone and the table's
TTL attribute, so a follower applying the leader's log derives the same order.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import orjson
from rocksdict import WriteBatch

from dynovault.storage.stored import stored_json

EXPIRY_CF = "expiry"
# Where the build of an expiry order for a table that already held items has got to.
_BUILD_PREFIX = b"expiry-build:"
_SECOND = struct.Struct(">Q")
_MAX_SECOND = (1 << 64) - 1
# TTL values more than five years in the past never expire, as in DynamoDB.
HORIZON_SECONDS = 5 * 365 * 86400

Item = dict[str, dict]


def table_prefix(column_family: str) -> bytes:
    """The prefix every expiry entry of one table starts with."""
    name = column_family.encode()
    return bytes([len(name)]) + name


def expiry_key(column_family: str, second: int, table_key: bytes) -> bytes:
    return table_prefix(column_family) + _SECOND.pack(second) + table_key


def overdue_range(column_family: str, now: float) -> tuple[bytes, bytes]:
    """The keys of one table's entries that expired by ``now`` (within the horizon)."""
    last = math.floor(now)
    return (
        expiry_key(column_family, max(0, last - HORIZON_SECONDS), b""),
        expiry_key(column_family, last + 1, b""),
    )


def decode_expiry_key(key: bytes) -> tuple[str, int, bytes]:
    """The (column family, expiry second, table key) of an entry's key."""
    end = 1 + key[0]
    (second,) = _SECOND.unpack_from(key, end)
    return key[1:end].decode(), second, key[end + _SECOND.size :]


def ttl_value(item: Item, attribute: str) -> Decimal | None:
    """The item's TTL attribute as a number, or None when it is absent or not a Number
    (DynamoDB ignores such items)."""
    value = item.get(attribute)
    if not isinstance(value, dict) or "N" not in value:
        return None
    try:
        return Decimal(value["N"])
    except InvalidOperation:
        return None


def expiry_second(value: Decimal) -> int:
    """The whole second from which an item with TTL ``value`` counts as expired."""
    if value <= 0:
        return 0
    if value >= _MAX_SECOND:
        return _MAX_SECOND
    return math.ceil(value)


@dataclass(slots=True)
class ExpiryOrder:
    """The expiry order of one table, by its TTL attribute.

    ``built_through`` works as an index build's does (see LiveIndex.built_through): None
    once every item is in the order; while TTL is being enabled on a table that already
    held items, the last table key ordered so far, and writes above it are left to the
    build."""

    column_family: str
    attribute: str
    cf_handle: object
    built_through: bytes | None = None

    @property
    def prefix(self) -> bytes:
        return table_prefix(self.column_family)

    @property
    def progress_key(self) -> bytes:
        return _BUILD_PREFIX + self.column_family.encode()

    def entry(self, item: Item | None, table_key: bytes) -> bytes | None:
        value = ttl_value(item, self.attribute) if item is not None else None
        return None if value is None else expiry_key(self.column_family, expiry_second(value), table_key)

    def stage(self, batch: WriteBatch, table_key: bytes, old: Item | None, new: Item | None) -> None:
        """Move the item's entry from where its old TTL put it to where the new one does."""
        if self.built_through is not None and table_key > self.built_through:
            return
        before, after = self.entry(old, table_key), self.entry(new, table_key)
        if before == after:
            return
        if before is not None:
            batch.delete(before, self.cf_handle)
        if after is not None:
            batch.put(after, b"", self.cf_handle)

    def stage_build(self, batch: WriteBatch, table_key: bytes, stored: bytes) -> None:
        """Stage the entry of one item the build reaches (it was not ordered before)."""
        entry = self.entry(orjson.loads(stored_json(stored)), table_key)
        if entry is not None:
            batch.put(entry, b"", self.cf_handle)


# The catalog member holding a table's TTL setting, as DescribeTimeToLive describes it.
TTL_MEMBER = "TimeToLiveDescription"


def ttl_attribute(description: dict) -> str | None:
    """The attribute a table's items are ordered by expiry on: named while TTL is
    enabled or being enabled (its order is built then)."""
    ttl = description.get(TTL_MEMBER) or {}
    return ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLING", "ENABLED") else None
