"""Replication-log records: what changed, in a compact binary form.

A record is written in the same WriteBatch as the change it describes, keyed by a
big-endian LSN, so the log and the data never disagree after a crash. Replication ships
these records and applies them without knowing which operation produced them.

One commit may write several records (a BatchWriteItem, a transaction): every record of
such a commit but its last is marked ``continued``, so whoever ships or applies the log
can keep a commit whole. A deletion by the TTL deleter is marked ``expired``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

_HEADER = struct.Struct(">BQH")
_KEY_LENGTH = struct.Struct(">I")
LSN = struct.Struct(">Q")
# The bit of the kind byte that marks a record followed by more of its commit.
_CONTINUED = 0x80
# The bit that marks an item deleted because its TTL passed (its stream record says so).
_EXPIRED = 0x40
_FLAGS = _CONTINUED | _EXPIRED


class RecordKind(IntEnum):
    PUT_ITEM = 1
    DELETE_ITEM = 2
    PUT_TABLE = 3
    DELETE_TABLE = 4
    # A transaction's ClientRequestToken: ``key`` is the token, ``value`` what it stands for.
    CLIENT_TOKEN = 5


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One change. ``value`` is the stored item for PUT_ITEM, the table description for
    PUT_TABLE, and empty for deletes."""

    kind: RecordKind
    commit_time_us: int
    table: str
    key: bytes = b""
    value: bytes = b""
    continued: bool = False
    expired: bool = False

    def encode(self) -> bytes:
        name = self.table.encode()
        flags = (_CONTINUED if self.continued else 0) | (_EXPIRED if self.expired else 0)
        return (
            _HEADER.pack(self.kind | flags, self.commit_time_us, len(name))
            + name
            + _KEY_LENGTH.pack(len(self.key))
            + self.key
            + self.value
        )

    @classmethod
    def decode(cls, data: bytes) -> LogRecord:
        kind, commit_time_us, name_length = _HEADER.unpack_from(data)
        pos = _HEADER.size
        table = data[pos : pos + name_length].decode()
        pos += name_length
        (key_length,) = _KEY_LENGTH.unpack_from(data, pos)
        pos += _KEY_LENGTH.size
        key = data[pos : pos + key_length]
        return cls(
            RecordKind(kind & ~_FLAGS), commit_time_us, table, key, data[pos + key_length :],
            bool(kind & _CONTINUED), bool(kind & _EXPIRED),
        )

    @staticmethod
    def continues_commit(data: bytes) -> bool:
        """Whether an encoded record is followed by more records of its commit."""
        return bool(data[0] & _CONTINUED)


def lsn_key(lsn: int) -> bytes:
    return LSN.pack(lsn)
