"""Replication-log records: what changed, in a compact binary form.

A record is written in the same WriteBatch as the change it describes, keyed by a
big-endian LSN, so the log and the data never disagree after a crash. Replication ships
these records and applies them without knowing which operation produced them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

_HEADER = struct.Struct(">BQH")
_KEY_LENGTH = struct.Struct(">I")
LSN = struct.Struct(">Q")


class RecordKind(IntEnum):
    PUT_ITEM = 1
    DELETE_ITEM = 2
    PUT_TABLE = 3
    DELETE_TABLE = 4


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One change. ``value`` is the stored item for PUT_ITEM, the table description for
    PUT_TABLE, and empty for deletes."""

    kind: RecordKind
    commit_time_us: int
    table: str
    key: bytes = b""
    value: bytes = b""

    def encode(self) -> bytes:
        name = self.table.encode()
        return (
            _HEADER.pack(self.kind, self.commit_time_us, len(name))
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
        return cls(RecordKind(kind), commit_time_us, table, key, data[pos + key_length :])


def lsn_key(lsn: int) -> bytes:
    return LSN.pack(lsn)
