"""Feast's entity keys: serialization v3 and the hashed ``entity_id`` its DynamoDB store keys by.

v3 layout, join keys sorted by name: ``u32le n``; per key ``u32le STRING | u32le len | name``;
then per value ``u32le type | u32le len | bytes``. The item key is the hex of MurmurHash3
x64-128 (seed 0) of those bytes; the join-key values themselves are not stored.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

import mmh3

from dynovault.features.feast_values import VALUE_TYPES

_U32 = struct.Struct("<I")
_INT64 = struct.Struct("<q")
_INT32 = struct.Struct("<i")
_STRING_TAG = VALUE_TYPES["STRING"]
ENTITY_KEY_TYPES = ("INT64", "INT32", "STRING", "BYTES", "UNIX_TIMESTAMP")


class EntityValueError(ValueError):
    """A join-key value that does not fit its declared type."""


def _int_encoder(packer: struct.Struct, type_name: str) -> Callable[[Any], bytes]:
    def encode(value: Any) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EntityValueError(f"expected an integer for a {type_name} join key, got {value!r}")
        try:
            return packer.pack(value)
        except struct.error:
            raise EntityValueError(f"{value!r} is out of range for a {type_name} join key") from None

    return encode


def _encode_string(value: Any) -> bytes:
    if not isinstance(value, str):
        raise EntityValueError(f"expected a string for a STRING join key, got {value!r}")
    return value.encode()


def _encode_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    raise EntityValueError(f"expected bytes for a BYTES join key, got {value!r}")


_VALUE_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    "INT64": _int_encoder(_INT64, "INT64"),
    "INT32": _int_encoder(_INT32, "INT32"),
    "UNIX_TIMESTAMP": _int_encoder(_INT64, "UNIX_TIMESTAMP"),
    "STRING": _encode_string,
    "BYTES": _encode_bytes,
}


class EntityKeyCodec:
    """Serializes and hashes entity keys of one fixed set of join keys and types."""

    def __init__(self, join_keys: Sequence[tuple[str, str]]) -> None:
        for name, value_type in join_keys:
            if value_type not in _VALUE_ENCODERS:
                raise ValueError(f"join key {name!r} has type {value_type}, which Feast cannot key by")
        ordered = sorted(join_keys)
        # Position in the caller's order of each key in sorted order.
        self._order = [list(join_keys).index(pair) for pair in ordered]
        self._header = _U32.pack(len(ordered)) + b"".join(
            _U32.pack(_STRING_TAG) + _U32.pack(len(name.encode())) + name.encode() for name, _ in ordered
        )
        self._value_tags = [_U32.pack(VALUE_TYPES[value_type]) for _, value_type in ordered]
        self._encoders = [_VALUE_ENCODERS[value_type] for _, value_type in ordered]

    def serialize(self, values: Sequence[Any]) -> bytes:
        """The v3 bytes of one entity key; ``values`` in the order the join keys were given."""
        parts = [self._header]
        for position, tag, encode in zip(self._order, self._value_tags, self._encoders):
            raw = encode(values[position])
            parts.append(tag + _U32.pack(len(raw)) + raw)
        return b"".join(parts)

    def entity_id(self, values: Sequence[Any]) -> str:
        return mmh3.hash_bytes(self.serialize(values)).hex()
