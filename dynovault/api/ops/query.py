"""Query: one partition, read by a prefix seek over its contiguous key range — never a
scan — in sort-key order (or reversed), paged and filtered as DynamoDB pages."""

from __future__ import annotations

import base64

from dynovault.api.pages import check_plan, read_page, read_plan, start_key
from dynovault.api.request_expressions import QUERY, parse_expressions
from dynovault.errors import ValidationException
from dynovault.expressions.keys import KeyCondition, key_condition
from dynovault.expressions.semantics import begins_with, compare
from dynovault.node import Node
from dynovault.storage import keycodec
from dynovault.storage.keycodec import KeyCodec


def after_prefix(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key that starts with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def key_range(schema: KeyCodec, condition: KeyCondition, partition: bytes) -> tuple[bytes, bytes | None]:
    """The storage keys ``[start, end)`` that hold exactly the items the condition selects
    within the partition whose key prefix is ``partition``."""
    partition_end = after_prefix(partition)
    operator, operands = condition.sort_operator, condition.sort_values
    if operator is None:
        return partition, partition_end
    tag = schema.range_type
    bounds = [partition + keycodec.encode_value(tag, value[tag]) for value in operands]
    if operator == "begins_with":
        raw = operands[0][tag].encode() if tag == "S" else base64.b64decode(operands[0][tag])
        prefix = partition + keycodec.encode_bytes(raw)[:-2]
        return prefix, after_prefix(prefix)
    just_after = [bound + b"\x00" for bound in bounds]
    return {
        "=": (bounds[0], just_after[0]),
        "<": (partition, bounds[0]),
        "<=": (partition, just_after[0]),
        ">": (just_after[0], partition_end),
        ">=": (bounds[0], partition_end),
        "BETWEEN": (bounds[0], just_after[-1]),
    }[operator]


def _sort_key_matches(condition: KeyCondition, value: dict) -> bool:
    operator, operands = condition.sort_operator, condition.sort_values
    if operator == "begins_with":
        return begins_with(value, operands[0])
    if operator == "BETWEEN":
        return compare(">=", value, operands[0]) and compare("<=", value, operands[1])
    return compare(operator, value, operands[0])


def _check_start_key(schema: KeyCodec, condition: KeyCondition, start: dict, in_partition: bool) -> None:
    """DynamoDB's refusals of an ExclusiveStartKey the key condition cannot reach."""
    if condition.sort_operator is None:
        if not in_partition:
            raise ValidationException(
                "The provided starting key is outside query boundaries based on provided conditions"
            )
        return
    if not _sort_key_matches(condition, start[schema.range_name]):
        raise ValidationException("The provided starting key does not match the range key predicate")
    if not in_partition:
        raise ValidationException("The query can return at most one row and cannot be restarted")


async def handle(request: dict, node: Node) -> bytes:
    if request.get("KeyConditionExpression") is None and not request.get("KeyConditions"):
        raise ValidationException(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."
        )
    expressions = parse_expressions(request, QUERY)
    plan = read_plan(request, expressions)
    table = node.table(request["TableName"])
    check_plan(request, table, plan, scanning=False)
    if plan.filter is not None:
        primary = sorted(plan.filter.attribute_names & set(table.schema.names))
        if primary:
            what = "Filter Expression" if request.get("FilterExpression") is not None else "QueryFilter"
            raise ValidationException(
                f"{what} can only contain non-primary key attributes: Primary key attribute: {primary[0]}"
            )
    condition = key_condition(expressions.key_condition, table.schema, plan.values)
    partition = keycodec.partition_prefix(table.schema.hash_type, condition.hash_value[table.schema.hash_type])
    start, end = key_range(table.schema, condition, partition)
    forward = request.get("ScanIndexForward", True)
    start_item = start_key(request, table)
    if start_item is not None:
        exclusive = start_item[1]
        _check_start_key(table.schema, condition, start_item[0], exclusive.startswith(partition))
        if forward:
            start = max(start, exclusive + b"\x00")
        else:
            end = exclusive if end is None else min(end, exclusive)
    entries = node.store.iterate(table, start, end, reverse=not forward) if end is None or start < end else iter(())
    return read_page(request, table, plan, entries)
