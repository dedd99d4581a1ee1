"""What Query and Scan share: their read parameters (projection, filter, Select, Limit,
ExclusiveStartKey) and reading one page from a key range, with DynamoDB's paging rules:
Limit counts items read before the filter, a page stops at 1 MB of items read, and the
page's last read key is returned as LastEvaluatedKey whenever it stopped early."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from dynovault.api.capacity import consumed_capacity, read_units
from dynovault.api.reads import with_members
from dynovault.api.request_expressions import RequestExpressions
from dynovault.api.validation import check_key_paths
from dynovault.errors import ValidationException
from dynovault.expressions import ConditionExpression, Projection
from dynovault.items import validated_key
from dynovault.storage.engine import Table, stored_json, stored_size

MAX_PAGE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """A Query's or Scan's parameters, validated and compiled."""

    projection: Projection | None
    filter: ConditionExpression | None
    values: dict
    count_only: bool
    limit: int | None
    consistent: bool


def _count_only(request: dict, projection: Projection | None) -> bool:
    select = request.get("Select")
    if request.get("IndexName") is None and select == "ALL_PROJECTED_ATTRIBUTES":
        raise ValidationException("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
    if projection is not None and select in ("ALL_ATTRIBUTES", "COUNT"):
        what = "ProjectionExpression" if request.get("ProjectionExpression") is not None else "AttributesToGet"
        choice = "get only the COUNT" if select == "COUNT" else "get ALL_ATTRIBUTES"
        raise ValidationException(f"Cannot specify the {what} when choosing to {choice}")
    if projection is None and select == "SPECIFIC_ATTRIBUTES":
        raise ValidationException(
            "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"
        )
    return select == "COUNT"


def read_plan(request: dict, expressions: RequestExpressions) -> ReadPlan:
    """A Query's or Scan's parameters, validated as far as needs no table (DynamoDB
    checks these before it looks the table up)."""
    return ReadPlan(
        projection=expressions.projection,
        filter=expressions.filter,
        values=expressions.values,
        count_only=_count_only(request, expressions.projection),
        limit=request.get("Limit"),
        consistent=bool(request.get("ConsistentRead")),
    )


def check_plan(request: dict, table: Table, plan: ReadPlan, scanning: bool) -> None:
    """The checks of a read plan that need the table: indexes, and paths into key
    attributes (a Query's filter may not name key attributes at all, checked apart)."""
    index = request.get("IndexName")
    if index is not None:
        raise ValidationException(f"The table does not have the specified index: {index}")
    if plan.projection is not None:
        check_key_paths(table, plan.projection.paths)
    if plan.filter is not None and scanning:
        check_key_paths(table, plan.filter.paths)


def start_key(request: dict, table: Table) -> tuple[dict, bytes] | None:
    """ExclusiveStartKey validated against the key schema: canonical and as a storage key."""
    exclusive_start = request.get("ExclusiveStartKey")
    if exclusive_start is None:
        return None
    try:
        return validated_key(table, exclusive_start)
    except ValidationException as error:
        raise ValidationException(f"The provided starting key is invalid: {error.message}") from None


def read_page(request: dict, table: Table, plan: ReadPlan, entries: Iterator[tuple[bytes, bytes]]) -> bytes:
    """Read one page from ``entries`` and shape the Query/Scan response body."""
    items: list[bytes] = []
    scanned = count = read_bytes = 0
    last_key = None
    for key, stored in entries:
        scanned += 1
        read_bytes += stored_size(stored)
        raw = stored_json(stored)
        decoded = orjson.loads(raw) if plan.filter is not None or plan.projection is not None else None
        if plan.filter is None or plan.filter.test(decoded, plan.values):
            count += 1
            if not plan.count_only:
                items.append(raw if plan.projection is None else orjson.dumps(plan.projection.apply(decoded)))
        if scanned == plan.limit or read_bytes >= MAX_PAGE_BYTES:
            last_key = key
            break
    body = b"{}" if plan.count_only else b'{"Items":[' + b",".join(items) + b"]}"
    units = read_units(read_bytes, plan.consistent)
    return with_members(
        body,
        Count=count,
        ScannedCount=scanned,
        LastEvaluatedKey=table.schema.decode(last_key) if last_key is not None else None,
        ConsumedCapacity=consumed_capacity(request, table.name, units),
    )
