"""PutItem: replaces the whole item; the change and its log record commit together."""

from __future__ import annotations

from dynovault.api.node import Node
from dynovault.api.reads import with_members
from dynovault.api.validation import (
    check_return_values,
    consumed_capacity,
    store_form,
    validated_item,
    write_units,
)
from dynovault.expressions.params import write_guard
from dynovault.storage.engine import ItemChange, stored_json, stored_size


async def handle(request: dict, node: Node) -> bytes:
    return_values = check_return_values(request)
    guard = write_guard(request)
    table = node.table(request["TableName"])
    item, size, key = validated_item(table, request["Item"])
    guard.check(lambda: node.store.get(table, key))
    (old,) = node.store.write([ItemChange(table, key, store_form(item, size))])
    body = b'{"Attributes":' + stored_json(old) + b"}" if old and return_values == "ALL_OLD" else b"{}"
    units = write_units(max(size, stored_size(old) if old else 0))
    return with_members(body, ConsumedCapacity=consumed_capacity(request, table.name, units))
