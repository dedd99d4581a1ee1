"""UpdateItem: a read-modify-write of one item (created when missing) under an optional
condition; it runs without yielding to the event loop, so it is atomic like DynamoDB's."""

from __future__ import annotations

import orjson

from dynovault.api.capacity import consumed_capacity, index_write_units, write_units
from dynovault.api.collections import item_collection_metrics, wants_metrics
from dynovault.api.reads import with_members
from dynovault.api.request_expressions import UPDATE_ITEM, parse_expressions
from dynovault.api.updates import (
    creates_nothing,
    refuse_key_updates,
    stored_item,
    updated_item,
)
from dynovault.api.validation import check_return_values
from dynovault.expressions import UpdateExpression
from dynovault.expressions.paths import Item, project
from dynovault.items import store_form, validated_key
from dynovault.node import Node
from dynovault.storage.engine import ItemChange, stored_size

RETURN_VALUES = ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")


def _returned(mode: str, old: Item | None, new: Item, update: UpdateExpression | None) -> Item | None:
    if mode == "ALL_OLD":
        return old
    if mode == "ALL_NEW":
        return new
    if mode in ("UPDATED_OLD", "UPDATED_NEW") and update is not None:
        # The paths as they read in the item before or after the update: a REMOVEd
        # attribute is gone from the new item, but a REMOVEd list element's place holds
        # the element shifted into it, which DynamoDB returns as UPDATED_NEW.
        paths = tuple(action.path for action in update.actions)
        indexes_lists = any(isinstance(e, int) for path in paths for e in path)
        source = old if mode == "UPDATED_OLD" else new
        return project(source or {}, paths, indexes_lists)
    return None


async def handle(request: dict, node: Node) -> bytes:
    mode = check_return_values(request, RETURN_VALUES)
    expressions = parse_expressions(request, UPDATE_ITEM)
    update = expressions.update
    table = node.table(request["TableName"])
    key, storage_key = validated_key(table, request["Key"])
    refuse_key_updates(table, update)

    stored = node.store.get(table, storage_key)
    old = stored_item(stored)
    expressions.check_condition(old or {})
    new, size = updated_item(table, key, stored, expressions)
    if creates_nothing(stored, update):
        return with_members(b"{}", ConsumedCapacity=consumed_capacity(request, table.name, write_units(0)))
    change = ItemChange(table, storage_key, store_form(new, size))
    node.store.write([change])

    returned = _returned(mode, old, new, update)
    body = orjson.dumps({"Attributes": returned}) if returned else b"{}"
    units = write_units(max(size, stored_size(stored) if stored else 0))
    indexes = index_write_units(request, table, storage_key, stored, change.value)
    metrics = item_collection_metrics(node, table, storage_key) if wants_metrics(request, table) else None
    return with_members(
        body, ConsumedCapacity=consumed_capacity(request, table.name, units, indexes), ItemCollectionMetrics=metrics
    )
