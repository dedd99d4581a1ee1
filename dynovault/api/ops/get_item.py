"""GetItem: stored bytes are spliced into the response unless a projection applies."""

from __future__ import annotations

from dynovault.api.capacity import consumed_capacity, read_units
from dynovault.api.reads import item_bytes, projection_for, with_members
from dynovault.api.validation import check_key_paths
from dynovault.items import validated_key
from dynovault.node import Node
from dynovault.storage.engine import stored_size


async def handle(request: dict, node: Node) -> bytes:
    table = node.table(request["TableName"])
    projection = projection_for(request)
    _, key = validated_key(table, request["Key"])
    if projection is not None:
        check_key_paths(table.schema.names, projection.paths)
    stored = node.store.get(table, key)
    consistent = bool(request.get("ConsistentRead"))
    units = read_units(stored_size(stored) if stored else 0, consistent)
    body = b"{}" if stored is None else b'{"Item":' + item_bytes(stored, projection) + b"}"
    return with_members(body, ConsumedCapacity=consumed_capacity(request, table.name, units))
