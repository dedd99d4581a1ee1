"""What Query and Scan share: their read parameters (projection, filter, Select, Limit,
ExclusiveStartKey) and reading one page from a key range, with DynamoDB's paging rules:
Limit counts items read before the filter, a page stops at 1 MB of items read, and the
page's last read key is returned as LastEvaluatedKey whenever it stopped early."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from dynovault.api.capacity import ScanReads, consumed_capacity, read_units
from dynovault.api.reads import with_members
from dynovault.api.request_expressions import RequestExpressions
from dynovault.api.validation import check_key_paths
from dynovault.errors import KEY_MISMATCH, ValidationException, invalid
from dynovault.expressions import ConditionExpression, Projection
from dynovault.indexes import find_index
from dynovault.items import validated_key
from dynovault.storage.engine import Table, stored_json, stored_size
from dynovault.storage.indexes import LiveIndex

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


@dataclass(frozen=True, slots=True)
class ReadSource:
    """What a Query or Scan reads: a table, or one of its indexes. ``fetch`` says that
    each index entry is replaced by its item from the table (an LSI asked for attributes
    it does not project, which DynamoDB reads from the table at extra cost)."""

    table: Table
    index: LiveIndex | None = None
    fetch: bool = False

    @property
    def key_names(self) -> tuple[str, ...]:
        """The key attributes of what is read: an index's key and the table's."""
        if self.index is None:
            return self.table.schema.names
        return self.index.layout.key_names + tuple(
            name for name in self.table.schema.names if name not in self.index.layout.key_names
        )

    def decode_key(self, storage_key: bytes) -> dict:
        if self.index is None:
            return self.table.schema.decode(storage_key)
        index_key, table_key = self.index.layout.decode(storage_key)
        return {**self.table.schema.decode(table_key), **index_key}

    def table_key(self, storage_key: bytes) -> bytes:
        return storage_key if self.index is None else self.index.layout.decode(storage_key)[1]


def check_plan(request: dict, table: Table, plan: ReadPlan, scanning: bool) -> ReadSource:
    """The checks of a read plan that need the table: the index it names, and paths into
    key attributes (a Query's filter may not name key attributes at all, checked apart)."""
    source = _source(request, table, plan, scanning)
    for expression in (plan.projection, plan.filter if scanning else None):
        if expression is not None:
            check_key_paths(source.key_names, expression.paths)
    return source


def _source(request: dict, table: Table, plan: ReadPlan, scanning: bool) -> ReadSource:
    name = request.get("IndexName")
    if name is None:
        return ReadSource(table)
    index = table.index(name)
    if index is None and table.vector_index(name) is not None:
        # Vector indexes are read by SearchVectors alone.
        raise ValidationException(f"{'Scan' if scanning else 'Query'} operation not supported on this index type")
    if index is None:
        raise ValidationException(f"The table does not have the specified index: {name}")
    projected = index.layout.projected
    select = request.get("Select")
    if index.layout.is_global:
        if plan.consistent:
            raise ValidationException("Consistent reads are not supported on global secondary indexes")
        if index.built_through is not None or find_index(table.description, name)[0].get("IndexStatus") == "CREATING":
            raise ValidationException(f"Cannot read from backfilling global secondary index: {name}")
        if select == "ALL_ATTRIBUTES" and projected is not None:
            raise invalid(
                f"Select type ALL_ATTRIBUTES is not supported for global secondary index {name} because its "
                "projection type is not ALL"
            )
        return ReadSource(table, index)
    named = {path[0] for expression in (plan.projection, plan.filter) if expression is not None
             for path in expression.paths}
    fetch = projected is not None and (select == "ALL_ATTRIBUTES" or not named <= projected)
    return ReadSource(table, index, fetch)


def start_key(request: dict, source: ReadSource) -> tuple[dict, bytes] | None:
    """ExclusiveStartKey validated against the key schema of what is read: canonical and
    as a storage key (an index's holds the index key and the table key)."""
    exclusive_start = request.get("ExclusiveStartKey")
    if exclusive_start is None:
        return None
    try:
        if source.index is None:
            return validated_key(source.table, exclusive_start)
        return _index_start_key(source, exclusive_start)
    except ValidationException as error:
        raise ValidationException(f"The provided starting key is invalid: {error.message}") from None


def _index_start_key(source: ReadSource, exclusive_start: object) -> tuple[dict, bytes]:
    layout = source.index.layout
    if not isinstance(exclusive_start, dict) or set(exclusive_start) != set(source.key_names):
        raise ValidationException(KEY_MISMATCH)
    table_part = {name: exclusive_start[name] for name in source.table.schema.names}
    canonical, table_key = validated_key(source.table, table_part)
    index_part = {name: exclusive_start[name] for name in layout.key_names}
    index_key = layout.index_key(index_part)
    if index_key is None:
        raise ValidationException(KEY_MISMATCH)
    return {**canonical, **index_part}, index_key + table_key


@dataclass(slots=True)
class Page:
    """One page read from a key range: the items that passed the filter (as JSON), the
    counts, the last key read when the page stopped early, and its capacity."""

    items: list[bytes]
    count: int
    scanned: int
    last_key: bytes | None
    capacity: dict | None


def read_entries(
    request: dict, source: ReadSource, plan: ReadPlan, entries: Iterator[tuple[bytes, bytes]],
    scan_reads: ScanReads | None = None,
) -> Page:
    """Read one page from ``entries``. A table Scan passes its ``scan_reads``, as DynamoDB
    charges a Scan partition by partition."""
    items: list[bytes] = []
    scanned = count = read_bytes = fetched_bytes = 0
    last_key = None
    for key, stored in entries:
        scanned += 1
        size = stored_size(stored)
        read_bytes += size
        if scan_reads is not None:
            scan_reads.add(key, size)
        if source.fetch:
            stored = source.table.data.get(source.table_key(key)) or stored
            fetched_bytes += stored_size(stored)
        raw = stored_json(stored)
        decoded = orjson.loads(raw) if plan.filter is not None or plan.projection is not None else None
        if plan.filter is None or plan.filter.test(decoded, plan.values):
            count += 1
            if not plan.count_only:
                items.append(raw if plan.projection is None else orjson.dumps(plan.projection.apply(decoded)))
        if scanned == plan.limit or read_bytes >= MAX_PAGE_BYTES:
            last_key = key
            break
    capacity = _read_capacity(
        request, source, plan, read_bytes, fetched_bytes,
        scan_reads.units(last_key, plan.consistent) if scan_reads is not None else None,
    )
    return Page(items, count, scanned, last_key, capacity)


def read_page(
    request: dict, source: ReadSource, plan: ReadPlan, entries: Iterator[tuple[bytes, bytes]],
    scan_reads: ScanReads | None = None,
) -> bytes:
    """Read one page from ``entries`` and shape the Query/Scan response body."""
    page = read_entries(request, source, plan, entries, scan_reads)
    body = b"{}" if plan.count_only else b'{"Items":[' + b",".join(page.items) + b"]}"
    return with_members(
        body,
        Count=page.count,
        ScannedCount=page.scanned,
        LastEvaluatedKey=source.decode_key(page.last_key) if page.last_key is not None else None,
        ConsumedCapacity=page.capacity,
    )


def _read_capacity(
    request: dict, source: ReadSource, plan: ReadPlan, read_bytes: int, fetched_bytes: int, units: float | None
) -> dict | None:
    if units is None:
        units = read_units(read_bytes, plan.consistent)
    if source.index is None:
        return consumed_capacity(request, source.table.name, units)
    table_units = read_units(fetched_bytes, plan.consistent) if source.fetch else 0.0
    layout = source.index.layout
    return consumed_capacity(request, source.table.name, table_units, {(layout.name, layout.is_global): units})
