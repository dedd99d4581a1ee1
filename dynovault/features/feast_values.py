"""Feast's ``feast.types.Value`` protobuf, defined here, and its JSON-native form.

Feast stores every feature value as a serialized ``Value`` (a oneof over scalars, lists,
sets, maps, ...). The message is rebuilt from a compact field table into a private
descriptor pool, so the serving path needs only the ``protobuf`` package, and a process
that also imports Feast (tests, the bench) sees no duplicate-symbol clash.

The JSON-native form is what Feast's feature server puts in a response: bytes as base64,
non-finite floats as "NaN"/"Infinity"/"-Infinity", maps as objects, nulls as None.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_PACKAGE = "feast.types"
_F = descriptor_pb2.FieldDescriptorProto
_SCALAR_TYPES = {
    "bytes": _F.TYPE_BYTES,
    "string": _F.TYPE_STRING,
    "int32": _F.TYPE_INT32,
    "int64": _F.TYPE_INT64,
    "double": _F.TYPE_DOUBLE,
    "float": _F.TYPE_FLOAT,
    "bool": _F.TYPE_BOOL,
}

# The oneof ``val`` of Value: field name, number, type (a scalar or a message name).
VALUE_FIELDS: tuple[tuple[str, int, str], ...] = (
    ("bytes_val", 1, "bytes"),
    ("string_val", 2, "string"),
    ("int32_val", 3, "int32"),
    ("int64_val", 4, "int64"),
    ("double_val", 5, "double"),
    ("float_val", 6, "float"),
    ("bool_val", 7, "bool"),
    ("unix_timestamp_val", 8, "int64"),
    ("bytes_list_val", 11, "BytesList"),
    ("string_list_val", 12, "StringList"),
    ("int32_list_val", 13, "Int32List"),
    ("int64_list_val", 14, "Int64List"),
    ("double_list_val", 15, "DoubleList"),
    ("float_list_val", 16, "FloatList"),
    ("bool_list_val", 17, "BoolList"),
    ("unix_timestamp_list_val", 18, "Int64List"),
    ("null_val", 19, "Null"),
    ("map_val", 20, "Map"),
    ("map_list_val", 21, "MapList"),
    ("bytes_set_val", 22, "BytesSet"),
    ("string_set_val", 23, "StringSet"),
    ("int32_set_val", 24, "Int32Set"),
    ("int64_set_val", 25, "Int64Set"),
    ("double_set_val", 26, "DoubleSet"),
    ("float_set_val", 27, "FloatSet"),
    ("bool_set_val", 28, "BoolSet"),
    ("unix_timestamp_set_val", 29, "Int64Set"),
    ("json_val", 32, "string"),
    ("json_list_val", 33, "StringList"),
    ("struct_val", 34, "Map"),
    ("struct_list_val", 35, "MapList"),
    ("uuid_val", 36, "string"),
    ("time_uuid_val", 37, "string"),
    ("uuid_list_val", 38, "StringList"),
    ("time_uuid_list_val", 39, "StringList"),
    ("uuid_set_val", 40, "StringSet"),
    ("time_uuid_set_val", 41, "StringSet"),
    ("list_val", 42, "RepeatedValue"),
    ("set_val", 43, "RepeatedValue"),
    ("decimal_val", 44, "string"),
    ("decimal_list_val", 45, "StringList"),
    ("decimal_set_val", 46, "StringSet"),
    ("scalar_map_val", 47, "ScalarMap"),
    ("zoned_timestamp_val", 48, "ZonedTimestamp"),
)

# Feast's ValueType enum: name -> number (the numbers double as the entity-key type tags).
VALUE_TYPES: dict[str, int] = {
    "INVALID": 0, "BYTES": 1, "STRING": 2, "INT32": 3, "INT64": 4, "DOUBLE": 5, "FLOAT": 6,
    "BOOL": 7, "UNIX_TIMESTAMP": 8, "BYTES_LIST": 11, "STRING_LIST": 12, "INT32_LIST": 13,
    "INT64_LIST": 14, "DOUBLE_LIST": 15, "FLOAT_LIST": 16, "BOOL_LIST": 17,
    "UNIX_TIMESTAMP_LIST": 18, "NULL": 19, "MAP": 20, "MAP_LIST": 21, "BYTES_SET": 22,
    "STRING_SET": 23, "INT32_SET": 24, "INT64_SET": 25, "DOUBLE_SET": 26, "FLOAT_SET": 27,
    "BOOL_SET": 28, "UNIX_TIMESTAMP_SET": 29, "JSON": 32, "JSON_LIST": 33, "STRUCT": 34,
    "STRUCT_LIST": 35, "UUID": 36, "TIME_UUID": 37, "UUID_LIST": 38, "TIME_UUID_LIST": 39,
    "UUID_SET": 40, "TIME_UUID_SET": 41, "VALUE_LIST": 42, "VALUE_SET": 43, "DECIMAL": 44,
    "DECIMAL_LIST": 45, "DECIMAL_SET": 46, "SCALAR_MAP": 47, "ZONED_TIMESTAMP": 48,
}

_REPEATED_MESSAGES = {
    "BytesList": "bytes", "StringList": "string", "Int32List": "int32", "Int64List": "int64",
    "DoubleList": "double", "FloatList": "float", "BoolList": "bool", "BytesSet": "bytes",
    "StringSet": "string", "Int32Set": "int32", "Int64Set": "int64", "DoubleSet": "double",
    "FloatSet": "float", "BoolSet": "bool", "MapList": "Map", "RepeatedValue": "Value",
}

_MAP_KEY_FIELDS = (
    ("int32_key", 1, "int32"), ("int64_key", 2, "int64"), ("float_key", 3, "float"),
    ("double_key", 4, "double"), ("bool_key", 5, "bool"), ("unix_timestamp_key", 6, "int64"),
    ("bytes_key", 7, "bytes"), ("uuid_key", 8, "string"), ("time_uuid_key", 9, "string"),
    ("decimal_key", 10, "string"),
)


def _field(name: str, number: int, kind: str, repeated: bool = False, oneof: int | None = None) -> _F:
    field = _F(name=name, number=number, label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
    if kind in _SCALAR_TYPES:
        field.type = _SCALAR_TYPES[kind]
    elif kind == "Null":
        field.type, field.type_name = _F.TYPE_ENUM, f".{_PACKAGE}.Null"
    else:
        field.type, field.type_name = _F.TYPE_MESSAGE, f".{_PACKAGE}.{kind}"
    if oneof is not None:
        field.oneof_index = oneof
    return field


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="dynovault/features/feast_value.proto", package=_PACKAGE, syntax="proto3"
    )
    value = proto.message_type.add(name="Value")
    value.oneof_decl.add(name="val")
    value.field.extend(_field(name, number, kind, oneof=0) for name, number, kind in VALUE_FIELDS)
    for name, element in _REPEATED_MESSAGES.items():
        proto.message_type.add(name=name).field.append(_field("val", 1, element, repeated=True))
    map_message = proto.message_type.add(name="Map")
    entry = map_message.nested_type.add(name="ValEntry")
    entry.options.map_entry = True
    entry.field.extend([_field("key", 1, "string"), _field("value", 2, "Value")])
    map_message.field.append(_field("val", 1, "Map.ValEntry", repeated=True))
    map_key = proto.message_type.add(name="MapKey")
    map_key.oneof_decl.add(name="key")
    map_key.field.extend(_field(name, number, kind, oneof=0) for name, number, kind in _MAP_KEY_FIELDS)
    proto.message_type.add(name="ScalarMapEntry").field.extend(
        [_field("key", 1, "MapKey"), _field("value", 2, "Value")]
    )
    proto.message_type.add(name="ScalarMap").field.append(_field("val", 1, "ScalarMapEntry", repeated=True))
    proto.message_type.add(name="ZonedTimestamp").field.extend(
        [_field("unix_timestamp", 1, "int64"), _field("zone", 2, "string")]
    )
    proto.enum_type.add(name="Null").value.add(name="NULL", number=0)
    return proto


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file_descriptor())
Value = message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{_PACKAGE}.Value"))

# Feast's marker for a null timestamp inside a zoned timestamp.
_NULL_TIMESTAMP = -9223372036854775808
_FLOAT_FIELDS = frozenset({"double_val", "float_val"})
_FLOAT_COLLECTIONS = frozenset({"double_list_val", "float_list_val", "double_set_val", "float_set_val"})
_BYTES_COLLECTIONS = frozenset({"bytes_list_val", "bytes_set_val"})
_MAP_FIELDS = frozenset({"map_val", "struct_val"})
_MAP_LIST_FIELDS = frozenset({"map_list_val", "struct_list_val"})
_NESTED_VALUE_FIELDS = frozenset({"list_val", "set_val"})
_SCALAR_FIELDS = frozenset(
    name for name, _, kind in VALUE_FIELDS if kind in _SCALAR_TYPES and kind != "bytes"
) - _FLOAT_FIELDS


def field_for_type(value_type: str) -> str:
    """The oneof field that holds a value of Feast ValueType ``value_type``."""
    if value_type == "VALUE_LIST":
        return "list_val"
    if value_type == "VALUE_SET":
        return "set_val"
    return value_type.lower() + "_val"


def decode(data: bytes) -> Any:
    """The JSON-native form of a serialized Value, as Feast's feature server renders it."""
    return to_native(Value.FromString(data))


_DECODED: dict[str, Any] = {}
DECODE_CACHE_ENTRIES = 200_000


def decode_base64(text: str) -> Any:
    """``decode`` of a value as DynamoDB JSON carries it (base64), parsed once per
    distinct text: feature values repeat across entities and across requests, and
    parsing is most of the cost of serving them."""
    native = _DECODED.get(text, _DECODED)
    if native is _DECODED:
        native = decode(binascii.a2b_base64(text))
        if len(_DECODED) >= DECODE_CACHE_ENTRIES:
            _DECODED.clear()
        _DECODED[text] = native
    return native


def to_native(value: Any) -> Any:
    which = value.WhichOneof("val")
    if which in _SCALAR_FIELDS:
        return getattr(value, which)
    if which is None or which == "null_val":
        return None
    if which in _FLOAT_FIELDS:
        return _float(getattr(value, which))
    if which == "bytes_val":
        return base64.b64encode(value.bytes_val).decode("ascii")
    return _collection_to_native(which, getattr(value, which))


def _collection_to_native(which: str, payload: Any) -> Any:
    if which in _FLOAT_COLLECTIONS:
        return [_float(f) for f in payload.val]
    if which in _BYTES_COLLECTIONS:
        return [base64.b64encode(b).decode("ascii") for b in payload.val]
    if which in _NESTED_VALUE_FIELDS:
        return [to_native(v) for v in payload.val]
    if which in _MAP_FIELDS:
        return {k: to_native(v) for k, v in payload.val.items()}
    if which in _MAP_LIST_FIELDS:
        return [{k: to_native(v) for k, v in m.val.items()} for m in payload.val]
    if which == "zoned_timestamp_val":
        return _zoned_timestamp(payload)
    if which == "scalar_map_val":
        return None
    return list(payload.val)


def _float(f: float) -> float | str:
    """Finite floats as numbers; others as the protobuf JSON strings (JSON has no NaN)."""
    if math.isfinite(f):
        return f
    if math.isnan(f):
        return "NaN"
    return "Infinity" if f > 0 else "-Infinity"


def _zoned_timestamp(zoned: Any) -> str | None:
    if zoned.unix_timestamp == _NULL_TIMESTAMP:
        return None
    return datetime.fromtimestamp(zoned.unix_timestamp, tz=_zone(zoned.zone)).isoformat()


def _zone(name: str) -> timezone | ZoneInfo:
    """A zone as Feast names it: an IANA name, or a fixed offset (``UTC``, ``UTC-07:00``,
    ``+05:30``, ``+0530``); anything else reads as UTC, as Feast reads it."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        pass
    match = _OFFSET.fullmatch(name.strip())
    if match is None:
        return UTC
    sign, hours, minutes = match.groups()
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-offset if sign == "-" else offset)


_OFFSET = re.compile(r"(?:UTC|GMT)?([+-])(\d{2}):?(\d{2})")


# ---- encoding (the ingestion lanes write Feast's layout) ------------------------------
#
# Scalars are written in protobuf's wire format directly (a tag byte, then a varint, a
# fixed 4/8-byte number or a length-prefixed string): batch ingest encodes every value of
# every row, and building a message per value costs several times more. The result is
# byte-for-byte what protobuf (and Feast) produce, which the tests check.

_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")
_BOOL_VALUES = {True: b"\x38\x01", False: b"\x38\x00"}
_INT_RANGES = {"INT32": (-(2**31), 2**31 - 1), "INT64": (-(2**63), 2**63 - 1), "UNIX_TIMESTAMP": (-(2**63), 2**63 - 1)}
_INT_TAGS = {"INT32": b"\x18", "INT64": b"\x20", "UNIX_TIMESTAMP": b"\x40"}
_LIST_ELEMENT_CONVERTERS = {"JSON_LIST": lambda v: v if isinstance(v, str) else json.dumps(v)}


def _varint(number: int) -> bytes:
    if number < 0:
        number += 1 << 64
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _missing(python_value: Any, value_type: str) -> bool:
    """None, or NaN where pandas/pyarrow use it for a missing number: Feast stores both
    as the empty Value, except NaN in float features, where NaN is a value."""
    return python_value is None or (
        isinstance(python_value, float) and math.isnan(python_value) and value_type not in ("DOUBLE", "FLOAT")
    )


def _encode_int(python_value: Any, value_type: str) -> bytes:
    if value_type == "UNIX_TIMESTAMP":
        python_value = _epoch_seconds(python_value)
    if isinstance(python_value, bool) or not isinstance(python_value, (int, float)) or int(python_value) != python_value:
        raise ValueError(f"{python_value!r} is not a valid {value_type} value")
    low, high = _INT_RANGES[value_type]
    if not low <= python_value <= high:
        raise ValueError(f"{python_value!r} is out of range for {value_type}")
    return _INT_TAGS[value_type] + _varint(int(python_value))


def _encode_string(python_value: Any, tag: bytes) -> bytes:
    raw = python_value if isinstance(python_value, bytes) else str(python_value).encode()
    return tag + _varint(len(raw)) + raw


def _encode_scalar(python_value: Any, value_type: str) -> bytes | None:
    """Wire bytes of a scalar Value, or None when ``value_type`` is not a scalar."""
    if value_type in _INT_TAGS:
        return _encode_int(python_value, value_type)
    if value_type == "DOUBLE":
        return b"\x29" + _DOUBLE.pack(float(python_value))
    if value_type == "FLOAT":
        number = float(python_value)
        try:
            return b"\x35" + _FLOAT.pack(number)
        except OverflowError:
            return b"\x35" + _FLOAT.pack(math.copysign(math.inf, number))
    if value_type == "STRING":
        return _encode_string(python_value, b"\x12")
    if value_type == "BOOL":
        if not isinstance(python_value, bool):
            raise ValueError(f"{python_value!r} is not a valid BOOL value")
        return _BOOL_VALUES[python_value]
    if value_type == "BYTES":
        raw = python_value if isinstance(python_value, bytes) else base64.b64decode(python_value)
        return _encode_string(raw, b"\x0a")
    return None


def encode(python_value: Any, value_type: str) -> bytes:
    """Serialize a Python value as a Value of ``value_type`` (None: the empty Value,
    which is how Feast stores a missing feature value)."""
    if _missing(python_value, value_type):
        return b""
    scalar = _encode_scalar(python_value, value_type)
    if scalar is not None:
        return scalar
    message = Value()
    field = field_for_type(value_type)
    if value_type == "JSON":
        message.json_val = python_value if isinstance(python_value, str) else json.dumps(python_value)
    elif value_type in ("UNIX_TIMESTAMP_LIST", "UNIX_TIMESTAMP_SET"):
        getattr(message, field).val.extend(_epoch_seconds(v) for v in python_value)
    elif value_type.endswith(("_LIST", "_SET")) and value_type not in ("VALUE_LIST", "VALUE_SET", "MAP_LIST", "STRUCT_LIST"):
        convert = _LIST_ELEMENT_CONVERTERS.get(value_type, _identity)
        getattr(message, field).val.extend(convert(v) for v in python_value)
    else:
        raise ValueError(f"writing values of type {value_type} is not supported")
    return message.SerializeToString()


def _identity(value: Any) -> Any:
    return value


def _epoch_seconds(value: Any) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp())
    return int(value)
