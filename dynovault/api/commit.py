"""What PutItem and DeleteItem share once their change is validated and its condition holds."""

from __future__ import annotations

from dynovault.api.capacity import consumed_capacity, index_write_units, write_units
from dynovault.api.collections import item_collection_metrics, wants_metrics
from dynovault.api.reads import with_members
from dynovault.node import Node
from dynovault.storage.engine import ItemChange, stored_json, stored_size


def commit_single(request: dict, node: Node, change: ItemChange, new_size: int) -> bytes:
    """Commit one item change and shape its answer: the old item for ReturnValues ALL_OLD,
    and write capacity by the larger of the old and the new item."""
    (old,) = node.store.write([change])
    wants_old = old is not None and request.get("ReturnValues") == "ALL_OLD"
    body = b'{"Attributes":' + stored_json(old) + b"}" if wants_old else b"{}"
    units = write_units(max(new_size, stored_size(old) if old else 0))
    indexes = index_write_units(request, change.table, change.key, old, change.value)
    metrics = item_collection_metrics(node, change.table, change.key) if wants_metrics(request, change.table) else None
    return with_members(
        body,
        ConsumedCapacity=consumed_capacity(request, change.table.name, units, indexes),
        ItemCollectionMetrics=metrics,
    )
