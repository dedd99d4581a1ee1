"""DeleteItem: deleting a missing item succeeds and still consumes one write unit."""

from __future__ import annotations

from dynovault.node import Node
from dynovault.api.validation import check_return_values
from dynovault.api.writes import commit_single
from dynovault.items import validated_key
from dynovault.api.request_expressions import write_guard
from dynovault.storage.engine import ItemChange


async def handle(request: dict, node: Node) -> bytes:
    check_return_values(request)
    guard = write_guard(request)
    table = node.table(request["TableName"])
    _, key = validated_key(table, request["Key"])
    guard.check(lambda: node.store.get(table, key))
    return commit_single(request, node, ItemChange(table, key, None), 0)
