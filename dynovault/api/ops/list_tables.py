"""ListTables: names in order, paged by Limit and ExclusiveStartTableName."""

from __future__ import annotations

import bisect

from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    names = sorted(node.store.tables)
    start = request.get("ExclusiveStartTableName")
    first = bisect.bisect_right(names, start) if start else 0
    limit = request.get("Limit", 100)
    page = names[first : first + limit]
    response: dict = {"TableNames": page}
    if first + limit < len(names):
        response["LastEvaluatedTableName"] = page[-1]
    return response
