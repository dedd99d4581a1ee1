"""Keys and items checked against a table's key schema, with DynamoDB's own messages,
and turned into what storage keeps. Every writer (the DynamoDB operations and the
feature lanes) goes through these, so one rule set guards every stored item."""

from __future__ import annotations

from typing import Any

import orjson

from dynovault.errors import KEY_MISMATCH, ValidationException, empty_key_value, invalid
from dynovault.indexes import check_index_keys
from dynovault.storage.engine import Table, stored_value
from dynovault.values.attributes import (
    MAX_ITEM_SIZE,
    Item,
    canonical_item,
    canonical_value,
)
from dynovault.values.keys import MAX_HASH_KEY_SIZE, MAX_RANGE_KEY_SIZE
from dynovault.vectors import check_vectors


def _check_key_value(name: str, tag: str, size: int, is_hash: bool) -> None:
    if not size and tag in ("S", "B"):
        raise empty_key_value(name, tag)
    if is_hash and size > MAX_HASH_KEY_SIZE:
        raise invalid("Size of hashkey has exceeded the maximum size limit of2048 bytes")
    if not is_hash and size > MAX_RANGE_KEY_SIZE:
        raise invalid("Aggregated size of all range keys has exceeded the size limit of 1024 bytes")


def validated_key(table: Table, key: Any) -> tuple[dict, bytes]:
    """Canonical key and storage key for a request's ``Key``: exactly the schema's
    attributes, each of the schema's type."""
    schema = table.schema
    if not isinstance(key, dict) or len(key) != len(schema.names):
        raise ValidationException(KEY_MISMATCH)
    canonical = {}
    for name, tag, is_hash in schema.parts:
        value = key.get(name)
        if value is None:
            raise ValidationException(KEY_MISMATCH)
        canonical[name], size = canonical_value(value)
        if tag not in value:
            raise ValidationException(KEY_MISMATCH)
        _check_key_value(name, tag, size, is_hash)
    return canonical, schema.encode(canonical)


def validated_item(table: Table, item: Any, batched: bool = False) -> tuple[Item, int, bytes]:
    """Canonical item, its DynamoDB size and its storage key, or DynamoDB's refusal.
    A ``batched`` item (BatchWriteItem) missing a key or holding one of the wrong type
    gets the plain schema mismatch, PutItem's refusal names the key."""
    canonical, size = canonical_item(item)
    for name, tag, is_hash in table.schema.parts:
        value = canonical.get(name)
        if (value is None or tag not in value) and batched:
            raise ValidationException(KEY_MISMATCH)
        if value is None:
            raise invalid(f"Missing the key {name} in the item")
        if tag not in value:
            actual = next(iter(value))
            raise invalid(f"Type mismatch for key {name} expected: {tag} actual: {actual}")
        _check_key_value(name, tag, canonical_value(value)[1], is_hash)
    check_item_size(size)
    check_index_keys_of(table, canonical)
    return canonical, size, table.schema.encode(canonical)


def check_index_keys_of(table: Table, item: Item, by_update: bool = False) -> None:
    """Refuse an item that gives one of the table's index key attributes (search-schema
    attributes included) a wrong value, or a vector index a malformed vector."""
    if table.indexes or table.vector_indexes:
        layouts = (*(index.layout for index in table.indexes), *(index.layout for index in table.vector_indexes))
        check_index_keys(layouts, item, by_update)
    if table.vector_indexes:
        check_vectors((index.layout for index in table.vector_indexes), item)


def check_item_size(size: int, message: str = "Item size has exceeded the maximum allowed size") -> None:
    if size > MAX_ITEM_SIZE:
        raise ValidationException(message)


def store_form(item: Item, size: int) -> bytes:
    return stored_value(orjson.dumps(item), size)
