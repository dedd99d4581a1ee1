"""Order-preserving, self-delimiting key encoding.

A stored key is ``hash8(partition) | enc(partition) | enc(sort)``. The hash spreads
partitions over the keyspace (so parallel Scan segments are contiguous ranges) and
``enc`` keeps DynamoDB's sort order inside a partition, so Query is one prefix walk:

* S: UTF-8 bytes, B: raw bytes — both compared bytewise as DynamoDB does — with 0x00
  escaped as 0x00 0xFF and a 0x00 0x00 terminator, so a shorter value sorts first.
* N: sign class, then a 16-bit exponent and one byte per digit (inverted for negatives),
  closed by a terminator that sorts shorter mantissas correctly on both sides of zero.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from decimal import Decimal

from dynovault.values.keys import KeySchema
from dynovault.values.numbers import DECIMAL_CONTEXT, format_number, parse_number

HASH_BYTES = 8
_NEGATIVE, _ZERO, _POSITIVE = 0x01, 0x02, 0x03
_EXPONENT_BIAS = 1 << 15


def encode_bytes(raw: bytes) -> bytes:
    return raw.replace(b"\x00", b"\x00\xff") + b"\x00\x00"


def decode_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    out = bytearray()
    while True:
        end = data.index(b"\x00", pos)
        out += data[pos:end]
        if data[end + 1] == 0x00:
            return bytes(out), end + 2
        out.append(0)
        pos = end + 2


def encode_number(value: Decimal) -> bytes:
    if not value:
        return bytes([_ZERO])
    sign, digits, _ = value.as_tuple()
    mantissa = "".join(map(str, digits)).rstrip("0")
    exponent = value.adjusted() + 1 + _EXPONENT_BIAS
    if sign:
        return (
            bytes([_NEGATIVE])
            + struct.pack(">H", 0xFFFF - exponent)
            + bytes(0xFE - int(d) for d in mantissa)
            + b"\xff"
        )
    return bytes([_POSITIVE]) + struct.pack(">H", exponent) + bytes(1 + int(d) for d in mantissa) + b"\x00"


def decode_number(data: bytes, pos: int) -> tuple[Decimal, int]:
    kind = data[pos]
    if kind == _ZERO:
        return Decimal(0), pos + 1
    negative = kind == _NEGATIVE
    (exponent,) = struct.unpack_from(">H", data, pos + 1)
    pos += 3
    terminator = 0xFF if negative else 0x00
    end = data.index(bytes([terminator]), pos)
    if negative:
        exponent = 0xFFFF - exponent
        mantissa = "".join(str(0xFE - b) for b in data[pos:end])
    else:
        mantissa = "".join(str(b - 1) for b in data[pos:end])
    exponent -= _EXPONENT_BIAS
    value = Decimal(f"{'-' if negative else ''}0.{mantissa}E{exponent}")
    return value.normalize(DECIMAL_CONTEXT), end + 1


def encode_value(type_tag: str, value: str) -> bytes:
    """Encode one key attribute given its DynamoDB type tag and wire value."""
    if type_tag == "S":
        return encode_bytes(value.encode())
    if type_tag == "N":
        return encode_number(parse_number(value))
    return encode_bytes(base64.b64decode(value))


def decode_value(type_tag: str, data: bytes, pos: int) -> tuple[str, int]:
    if type_tag == "N":
        number, pos = decode_number(data, pos)
        return format_number(number), pos
    raw, pos = decode_bytes(data, pos)
    return (raw.decode() if type_tag == "S" else base64.b64encode(raw).decode()), pos


def partition_hash(encoded_partition: bytes) -> bytes:
    return hashlib.blake2b(encoded_partition, digest_size=HASH_BYTES).digest()


def after_prefix(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key that starts with ``prefix`` (None: there is
    none, every key from ``prefix`` on starts with it)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def partition_prefix(type_tag: str, value: str) -> bytes:
    encoded = encode_value(type_tag, value)
    return partition_hash(encoded) + encoded


@dataclass(frozen=True, slots=True)
class KeyCodec(KeySchema):
    """A key schema that also turns keys into storage keys and back."""

    def encode(self, key: dict) -> bytes:
        """Storage key for an item or key whose key attributes are already validated."""
        prefix = partition_prefix(self.hash_type, key[self.hash_name][self.hash_type])
        if self.range_name is None:
            return prefix
        return prefix + encode_value(self.range_type, key[self.range_name][self.range_type])

    def decode(self, data: bytes) -> dict:
        value, pos = decode_value(self.hash_type, data, HASH_BYTES)
        key = {self.hash_name: {self.hash_type: value}}
        if self.range_name is not None:
            key[self.range_name] = {self.range_type: decode_value(self.range_type, data, pos)[0]}
        return key
