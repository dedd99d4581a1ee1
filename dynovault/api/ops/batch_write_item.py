"""BatchWriteItem: every request is validated before anything is written, then all of
them commit in one WriteBatch, so a refused batch writes nothing."""

from __future__ import annotations

from collections import Counter, defaultdict

from dynovault.api.capacity import consumed_capacity, index_write_units, write_units
from dynovault.api.collections import collection_metrics_by_table
from dynovault.errors import DUPLICATE_KEYS, ValidationException
from dynovault.items import store_form, validated_item, validated_key
from dynovault.node import Node
from dynovault.storage.engine import ItemChange, Table, stored_size

MAX_REQUESTS = 25


async def handle(request: dict, node: Node) -> dict:
    changes, sizes = _changes(node, request["RequestItems"])
    olds = node.store.write(changes)
    units: dict[str, float] = defaultdict(float)
    index_units: dict[str, Counter] = defaultdict(Counter)
    for change, size, old in zip(changes, sizes, olds):
        units[change.table.name] += write_units(max(size, stored_size(old) if old else 0))
        index_units[change.table.name] += index_write_units(request, change.table, change.key, old, change.value)
    response: dict = {"UnprocessedItems": {}}
    capacities = [consumed_capacity(request, name, total, index_units[name]) for name, total in units.items()]
    if capacities and capacities[0] is not None:
        response["ConsumedCapacity"] = capacities
    metrics = collection_metrics_by_table(request, node, changes)
    if metrics:
        response["ItemCollectionMetrics"] = metrics
    return response


def _changes(node: Node, request_items: dict) -> tuple[list[ItemChange], list[int]]:
    if sum(len(requests) for requests in request_items.values()) > MAX_REQUESTS:
        raise ValidationException("Too many items requested for the BatchWriteItem call")
    changes: list[ItemChange] = []
    sizes: list[int] = []
    seen: set[tuple[str, bytes]] = set()
    for name, requests in request_items.items():
        table = node.table(name)
        for write_request in requests:
            change, size = _change(table, write_request)
            # Keyed by the table itself: one table may be named by its name and its ARN.
            if (table.name, change.key) in seen:
                raise ValidationException(DUPLICATE_KEYS)
            seen.add((table.name, change.key))
            changes.append(change)
            sizes.append(size)
    return changes, sizes


def _change(table: Table, write_request: dict) -> tuple[ItemChange, int]:
    put, delete = write_request.get("PutRequest"), write_request.get("DeleteRequest")
    if (put is None) == (delete is None):
        raise ValidationException(
            "Supplied WriteRequest must contain exactly one of PutRequest or DeleteRequest"
        )
    if put is not None:
        item, size, key = validated_item(table, put["Item"], batched=True)
        return ItemChange(table, key, store_form(item, size)), size
    _, key = validated_key(table, delete["Key"])
    return ItemChange(table, key, None), 0
