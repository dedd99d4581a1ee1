"""BatchGetItem: one RocksDB multi-get per table, stored bytes spliced into the response.

Keys are left unprocessed only when the response would pass DynamoDB's 16 MB cap, so
clients that ignore UnprocessedKeys (Feast does) never lose keys under normal use.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from dynovault.api.capacity import consumed_capacity, read_units
from dynovault.api.reads import item_bytes, json_list, projection_for, with_members
from dynovault.api.validation import check_key_paths
from dynovault.errors import DUPLICATE_KEYS, ValidationException, mixed_parameters
from dynovault.items import validated_key
from dynovault.node import Node
from dynovault.storage.engine import Table, stored_size

MAX_KEYS = 100
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


async def handle(request: dict, node: Node) -> bytes:
    plans = [_plan(node, name, spec) for name, spec in request["RequestItems"].items()]
    _refuse_mixed_projections(request["RequestItems"].values())
    if sum(len(plan.keys) for plan in plans) > MAX_KEYS:
        raise ValidationException("Too many items requested for the BatchGetItem call")
    responses, unprocessed, capacities = [], {}, []
    budget = MAX_RESPONSE_BYTES
    for name, table, spec, keys in plans:
        projection = projection_for(spec)
        if projection is not None:
            check_key_paths(table.schema.names, projection.paths)
        consistent = bool(spec.get("ConsistentRead"))
        found, units = [], 0.0
        for index, stored in enumerate(node.store.get_many(table, [k for _, k in keys])):
            if budget <= 0:
                unprocessed[name] = {**spec, "Keys": [key for key, _ in keys[index:]]}
                break
            if stored is not None:
                found.append(item_bytes(stored, projection))
                budget -= len(found[-1])
                units += read_units(stored_size(stored), consistent)
        responses.append(orjson.dumps(name) + b":" + json_list(found))
        capacity = consumed_capacity(request, table.name, units)
        if capacity is not None:
            capacities.append(capacity)
    body = b'{"Responses":{' + b",".join(responses) + b'},"UnprocessedKeys":' + orjson.dumps(unprocessed) + b"}"
    return with_members(body, ConsumedCapacity=capacities or None)


class _Plan(NamedTuple):
    name: str
    table: Table
    spec: dict
    keys: list[tuple[dict, bytes]]


def _refuse_mixed_projections(specs) -> None:
    """One table's ProjectionExpression and another's AttributesToGet mix the two
    parameter families across the request, which DynamoDB refuses as a whole."""
    specs = list(specs)
    if any("ProjectionExpression" in spec for spec in specs) and any("AttributesToGet" in spec for spec in specs):
        raise mixed_parameters(["AttributesToGet"], ["ProjectionExpression"])


def _plan(node: Node, name: str, spec: dict) -> _Plan:
    table = node.table(name)
    keys = [validated_key(table, key) for key in spec["Keys"]]
    if len({storage_key for _, storage_key in keys}) != len(keys):
        raise ValidationException(DUPLICATE_KEYS)
    return _Plan(name, table, spec, keys)
