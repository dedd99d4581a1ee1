"""ItemCollectionMetrics: on a table with local secondary indexes, the size of the item
collection a write touched (the items sharing its partition key, with their LSI
entries), which ``ReturnItemCollectionMetrics=SIZE`` asks for."""

from __future__ import annotations

import math

from dynovault.node import Node
from dynovault.storage import keycodec
from dynovault.storage.engine import ItemChange, Table, stored_size
from dynovault.storage.indexes import ENTRY_OVERHEAD_BYTES

_GIGABYTE = 1 << 30


def wants_metrics(request: dict, table: Table) -> bool:
    return request.get("ReturnItemCollectionMetrics") == "SIZE" and any(
        not index.layout.is_global for index in table.indexes
    )


def item_collection_metrics(node: Node, table: Table, storage_key: bytes) -> dict:
    """The metrics of the collection holding ``storage_key``: its partition key and
    DynamoDB's estimate of its size, a range of whole gigabytes."""
    schema = table.schema
    partition = schema.decode(storage_key)[schema.hash_name]
    prefix = keycodec.partition_prefix(schema.hash_type, partition[schema.hash_type])
    end = keycodec.after_prefix(prefix)
    size = sum(stored_size(stored) for _, stored in node.store.iterate(table, prefix, end))
    for index in table.indexes:
        if not index.layout.is_global:
            entries = node.store.iterate(index, prefix, end)
            size += sum(stored_size(stored) + ENTRY_OVERHEAD_BYTES for _, stored in entries)
    lower = math.floor(size / _GIGABYTE)
    return {"ItemCollectionKey": {schema.hash_name: partition}, "SizeEstimateRangeGB": [float(lower), float(lower + 1)]}


def collection_metrics_by_table(request: dict, node: Node, changes: list[ItemChange]) -> dict[str, list[dict]]:
    """One ItemCollectionMetrics per item collection a multi-item write (BatchWriteItem,
    TransactWriteItems) wrote, by table."""
    metrics: dict[str, list[dict]] = {}
    for change in changes:
        if wants_metrics(request, change.table):
            collection = item_collection_metrics(node, change.table, change.key)
            listed = metrics.setdefault(change.table.name, [])
            if all(known["ItemCollectionKey"] != collection["ItemCollectionKey"] for known in listed):
                listed.append(collection)
    return metrics
