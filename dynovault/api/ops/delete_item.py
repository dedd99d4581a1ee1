"""DeleteItem: deleting a missing item succeeds and still consumes one write unit."""

from __future__ import annotations

from dynovault.api.node import Node
from dynovault.api.reads import with_members
from dynovault.api.validation import (
    check_return_values,
    consumed_capacity,
    validated_key,
    write_units,
)
from dynovault.expressions.params import write_guard
from dynovault.storage.engine import ItemChange, stored_json, stored_size


async def handle(request: dict, node: Node) -> bytes:
    return_values = check_return_values(request)
    guard = write_guard(request)
    table = node.table(request["TableName"])
    _, key = validated_key(table, request["Key"])
    guard.check(lambda: node.store.get(table, key))
    (old,) = node.store.write([ItemChange(table, key, None)])
    body = b'{"Attributes":' + stored_json(old) + b"}" if old and return_values == "ALL_OLD" else b"{}"
    units = write_units(stored_size(old) if old else 0)
    return with_members(body, ConsumedCapacity=consumed_capacity(request, table.name, units))
