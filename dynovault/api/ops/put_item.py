"""PutItem: replaces the whole item; the change and its log record commit together."""

from __future__ import annotations

from dynovault.api.commit import commit_single
from dynovault.api.request_expressions import WRITE_ITEM, parse_expressions
from dynovault.api.validation import check_return_values
from dynovault.items import store_form, validated_item
from dynovault.node import Node
from dynovault.storage.engine import ItemChange


async def handle(request: dict, node: Node) -> bytes:
    check_return_values(request)
    expressions = parse_expressions(request, WRITE_ITEM)
    table = node.table(request["TableName"])
    item, size, key = validated_item(table, request["Item"])
    expressions.check_stored(lambda: node.store.get(table, key))
    return commit_single(request, node, ItemChange(table, key, store_form(item, size)), size)
