"""TransactGetItems: up to 100 Gets over any tables, read as of one instant.

The reads run one after another without yielding to the event loop, the only place
writes happen, so no write commits between the first and the last: the items form one
consistent snapshot, as a RocksDB snapshot would give. A missing item answers ``{}`` in
its place."""

from __future__ import annotations

from collections import defaultdict

from dynovault.api.capacity import TRANSACTION_FACTOR, read_units, transaction_capacity
from dynovault.api.reads import item_bytes, json_list, projection_for, with_members
from dynovault.api.validation import check_key_paths
from dynovault.errors import ONE_ITEM_ONCE, ValidationException
from dynovault.expressions import Projection
from dynovault.items import validated_key
from dynovault.node import Node
from dynovault.storage.engine import Table, stored_size


async def handle(request: dict, node: Node) -> bytes:
    gets = [_validated(node, transact_item["Get"]) for transact_item in request["TransactItems"]]
    if len({(table.name, key) for table, key, _ in gets}) != len(gets):
        raise ValidationException(ONE_ITEM_ONCE)
    responses = []
    units: dict[str, float] = defaultdict(float)
    for table, key, projection in gets:
        stored = node.store.get(table, key)
        units[table.name] += TRANSACTION_FACTOR * read_units(stored_size(stored) if stored else 0, consistent=True)
        responses.append(b"{}" if stored is None else b'{"Item":' + item_bytes(stored, projection) + b"}")
    capacities = [transaction_capacity(request, name, total, 0.0) for name, total in units.items()]
    body = b'{"Responses":' + json_list(responses) + b"}"
    return with_members(body, ConsumedCapacity=capacities if capacities[0] is not None else None)


def _validated(node: Node, get: dict) -> tuple[Table, bytes, Projection | None]:
    projection = projection_for(get)
    table = node.table(get["TableName"])
    _, key = validated_key(table, get["Key"])
    if projection is not None:
        check_key_paths(table.schema.names, projection.paths)
    return table, key, projection
