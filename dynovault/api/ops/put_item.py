"""PutItem: replaces the whole item; the change and its log record commit together."""

from __future__ import annotations

from dynovault.node import Node
from dynovault.api.validation import check_return_values
from dynovault.api.writes import commit_single
from dynovault.items import store_form, validated_item
from dynovault.api.request_expressions import write_guard
from dynovault.storage.engine import ItemChange


async def handle(request: dict, node: Node) -> bytes:
    check_return_values(request)
    guard = write_guard(request)
    table = node.table(request["TableName"])
    item, size, key = validated_item(table, request["Item"])
    guard.check(lambda: node.store.get(table, key))
    return commit_single(request, node, ItemChange(table, key, store_form(item, size)), size)
