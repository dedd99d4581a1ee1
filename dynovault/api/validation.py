"""Validation every data-plane operation shares: keys and items against a table's key
schema, with DynamoDB's own messages, and DynamoDB's capacity arithmetic."""

from __future__ import annotations

import math
from typing import Any

import orjson

from dynovault.errors import ValidationException
from dynovault.storage.attributes import Item, canonical_item, canonical_value, invalid
from dynovault.storage.engine import KeySchema, Table, stored_value

MAX_ITEM_SIZE = 400 * 1024
MAX_HASH_KEY_SIZE = 2048
MAX_RANGE_KEY_SIZE = 1024
_KEY_MISMATCH = "The provided key element does not match the schema"


def _check_key_value(name: str, tag: str, value: Any, size: int, is_hash: bool) -> None:
    if not size and tag in ("S", "B"):
        kind = "string" if tag == "S" else "binary"
        raise ValidationException(
            "One or more parameter values are not valid. The AttributeValue for a key attribute "
            f"cannot contain an empty {kind} value. Key: {name}"
        )
    if is_hash and size > MAX_HASH_KEY_SIZE:
        raise invalid("Size of hashkey has exceeded the maximum size limit of2048 bytes")
    if not is_hash and size > MAX_RANGE_KEY_SIZE:
        raise invalid("Aggregated size of all range keys has exceeded the size limit of 1024 bytes")


def _key_parts(schema: KeySchema) -> list[tuple[str, str, bool]]:
    parts = [(schema.hash_name, schema.hash_type, True)]
    if schema.range_name is not None:
        parts.append((schema.range_name, schema.range_type, False))
    return parts


def validated_key(table: Table, key: Any) -> tuple[dict, bytes]:
    """Canonical key and storage key for a request's ``Key``: exactly the schema's
    attributes, each of the schema's type."""
    schema = table.schema
    if not isinstance(key, dict) or len(key) != len(schema.names):
        raise ValidationException(_KEY_MISMATCH)
    canonical = {}
    for name, tag, is_hash in _key_parts(schema):
        value = key.get(name)
        if value is None:
            raise ValidationException(_KEY_MISMATCH)
        canonical[name], size = canonical_value(value)
        if tag not in value:
            raise ValidationException(_KEY_MISMATCH)
        _check_key_value(name, tag, value, size, is_hash)
    return canonical, schema.encode(canonical)


def check_key_paths(table: Table, paths: tuple[tuple[str | int, ...], ...]) -> None:
    """DynamoDB refuses document paths that look inside a key attribute (keys are scalars)."""
    for path in paths:
        if len(path) > 1 and path[0] in table.schema.names:
            raise ValidationException(
                "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: "
                f"Key: {path[0]}"
            )


def key_of(table: Table, item: Item) -> dict:
    return {name: item[name] for name in table.schema.names}


def validated_item(table: Table, item: Any, batched: bool = False) -> tuple[Item, int, bytes]:
    """Canonical item, its DynamoDB size and its storage key, or DynamoDB's refusal.
    A ``batched`` item (BatchWriteItem) missing a key or holding one of the wrong type
    gets the plain schema mismatch, PutItem's refusal names the key."""
    canonical, size = canonical_item(item)
    for name, tag, is_hash in _key_parts(table.schema):
        value = canonical.get(name)
        if (value is None or tag not in value) and batched:
            raise ValidationException(_KEY_MISMATCH)
        if value is None:
            raise invalid(f"Missing the key {name} in the item")
        if tag not in value:
            actual = next(iter(value))
            raise invalid(f"Type mismatch for key {name} expected: {tag} actual: {actual}")
        _check_key_value(name, tag, value, canonical_value(value)[1], is_hash)
    check_item_size(size)
    return canonical, size, table.schema.encode(canonical)


def check_item_size(size: int) -> None:
    if size > MAX_ITEM_SIZE:
        raise ValidationException("Item size has exceeded the maximum allowed size")


def store_form(item: Item, size: int) -> bytes:
    return stored_value(orjson.dumps(item), size)


def check_return_values(request: dict, allowed: tuple[str, ...] = ("NONE", "ALL_OLD")) -> str:
    mode = request.get("ReturnValues", "NONE")
    if mode not in allowed:
        raise ValidationException(f"ReturnValues can only be {' or '.join(reversed(allowed))}")
    return mode


# ---- consumed capacity ------------------------------------------------------------------


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / 1024)))


def consumed_capacity(request: dict, table_name: str, units: float) -> dict | None:
    """DynamoDB's ConsumedCapacity for one table, shaped by ReturnConsumedCapacity. Outside
    transactions DynamoDB reports the total alone, without a read/write split."""
    mode = request.get("ReturnConsumedCapacity", "NONE")
    if mode == "NONE":
        return None
    capacity: dict = {"TableName": table_name, "CapacityUnits": units}
    if mode == "INDEXES":
        capacity["Table"] = {"CapacityUnits": units}
    return capacity

