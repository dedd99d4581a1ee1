"""DeleteItem: deleting a missing item succeeds and still consumes one write unit."""

from __future__ import annotations

from dynovault.api.commit import commit_single
from dynovault.api.request_expressions import WRITE_ITEM, parse_expressions
from dynovault.api.validation import check_return_values
from dynovault.items import validated_key
from dynovault.node import Node
from dynovault.storage.engine import ItemChange


async def handle(request: dict, node: Node) -> bytes:
    check_return_values(request)
    expressions = parse_expressions(request, WRITE_ITEM)
    table = node.table(request["TableName"])
    _, key = validated_key(table, request["Key"])
    expressions.check_stored(lambda: node.store.get(table, key))
    return commit_single(request, node, ItemChange(table, key, None), 0)
