"""The stored form of an item, in a table and in an index alike: its DynamoDB size (which
capacity and statistics need without decoding it), then its wire JSON (which reads
return as it is)."""

from __future__ import annotations

import struct

_SIZE_PREFIX = struct.Struct(">I")


def stored_value(item_json: bytes, size: int) -> bytes:
    return _SIZE_PREFIX.pack(size) + item_json


def stored_json(value: bytes) -> bytes:
    return value[_SIZE_PREFIX.size :]


def stored_size(value: bytes) -> int:
    return _SIZE_PREFIX.unpack_from(value)[0]
