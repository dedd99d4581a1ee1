"""Scan: the whole table (or one of its indexes) in key order, paged and filtered as
DynamoDB pages. Parallel scan segments are contiguous ranges of the 8-byte partition-hash prefix every key
starts with, so segments split the keyspace evenly and never overlap."""

from __future__ import annotations

from dynovault.api.capacity import scan_reads
from dynovault.api.pages import check_plan, read_page, read_plan, start_key
from dynovault.api.request_expressions import SCAN, parse_expressions
from dynovault.errors import ValidationException
from dynovault.node import Node
from dynovault.storage.keycodec import HASH_BYTES

_HASH_SPACE = 1 << (8 * HASH_BYTES)


def segment_range(segment: int, total: int) -> tuple[bytes, bytes | None]:
    """Storage keys ``[start, end)`` of one segment of a parallel scan."""
    start = (segment * _HASH_SPACE // total).to_bytes(HASH_BYTES, "big")
    if segment == total - 1:
        return start, None
    return start, ((segment + 1) * _HASH_SPACE // total).to_bytes(HASH_BYTES, "big")


def _segment(request: dict) -> tuple[int, int]:
    segment, total = request.get("Segment"), request.get("TotalSegments")
    if total is None:
        # DynamoDB lets Segment 0 alone through: it names the whole table.
        if segment:
            raise ValidationException(
                "The TotalSegments parameter is required but was not present in the request when Segment "
                "parameter is present"
            )
        return 0, 1
    if segment is None:
        raise ValidationException(
            "The Segment parameter is required but was not present in the request when parameter TotalSegments is present"
        )
    if segment >= total:
        raise ValidationException(
            "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
            f"Segment: {segment} is not less than TotalSegments: {total}"
        )
    return segment, total


async def handle(request: dict, node: Node) -> bytes:
    plan = read_plan(request, parse_expressions(request, SCAN, wrap_value_errors=True))
    segment, total = _segment(request)
    table = node.table(request["TableName"])
    source = check_plan(request, table, plan, scanning=True)
    start, end = segment_range(segment, total)
    start_item = start_key(request, source)
    if start_item is not None:
        exclusive = start_item[1]
        if total > 1 and (exclusive < start or (end is not None and exclusive >= end)):
            raise ValidationException(
                "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey "
                f"with correct Segment. TotalSegments: {total} Segment: {segment}"
            )
        start = max(start, exclusive + b"\x00")
    read = source.index or table
    entries = node.store.iterate(read, start, end) if end is None or start < end else iter(())
    partitions = scan_reads(request, table, start, end) if source.index is None else None
    return read_page(request, source, plan, entries, partitions)
