"""Query: one partition of a table or an index, read by a prefix seek over its contiguous key range — never a
scan — in sort-key order (or reversed), paged and filtered as DynamoDB pages."""

from __future__ import annotations

import base64

from dynovault.api.pages import ReadPlan, ReadSource, check_plan, read_page, read_plan, start_key
from dynovault.api.request_expressions import QUERY, RequestExpressions, parse_expressions
from dynovault.errors import ValidationException
from dynovault.expressions.keys import KeyCondition, index_key_condition, key_condition
from dynovault.expressions.semantics import begins_with, compare
from dynovault.node import Node
from dynovault.storage import keycodec
from dynovault.storage.keycodec import after_prefix


def key_range(condition: KeyCondition, partition: bytes) -> tuple[bytes, bytes | None]:
    """The storage keys ``[start, end)`` that hold exactly the items (or index entries)
    the condition selects within the partition whose key prefix is ``partition``. Bounds
    are prefixes: an index entry's key goes on past its sort attributes (with the table
    key), so "just after a value" is just after every key that starts with it."""
    prefix = partition + b"".join(
        keycodec.encode_value(tag, value[tag]) for (_, tag), value in zip(condition.prefix_parts, condition.sort_prefix)
    )
    prefix_end = after_prefix(prefix)
    operator, operands = condition.sort_operator, condition.sort_values
    if operator is None:
        return prefix, prefix_end
    tag = condition.sort_part[1]
    bounds = [prefix + keycodec.encode_value(tag, value[tag]) for value in operands]
    if operator == "begins_with":
        raw = operands[0][tag].encode() if tag == "S" else base64.b64decode(operands[0][tag])
        begins = prefix + keycodec.encode_bytes(raw)[:-2]
        return begins, after_prefix(begins)
    just_after = [after_prefix(bound) for bound in bounds]
    return {
        "=": (bounds[0], just_after[0]),
        "<": (prefix, bounds[0]),
        "<=": (prefix, just_after[0]),
        ">": (just_after[0], prefix_end),
        ">=": (bounds[0], prefix_end),
        "BETWEEN": (bounds[0], just_after[-1]),
    }[operator]


def _sort_key_matches(condition: KeyCondition, value: dict) -> bool:
    operator, operands = condition.sort_operator, condition.sort_values
    if operator == "begins_with":
        return begins_with(value, operands[0])
    if operator == "BETWEEN":
        return compare(">=", value, operands[0]) and compare("<=", value, operands[1])
    return compare(operator, value, operands[0])


def _check_start_key(condition: KeyCondition, start: dict, in_partition: bool) -> None:
    """DynamoDB's refusals of an ExclusiveStartKey the key condition cannot reach."""
    if condition.sort_operator is None:
        if not in_partition:
            raise ValidationException(
                "The provided starting key is outside query boundaries based on provided conditions"
            )
        return
    if not _sort_key_matches(condition, start[condition.sort_part[0]]):
        raise ValidationException("The provided starting key does not match the range key predicate")
    if not in_partition:
        raise ValidationException("The query can return at most one row and cannot be restarted")


def partition_condition(
    expressions: RequestExpressions, source: ReadSource, values: dict
) -> tuple[KeyCondition, bytes]:
    """The key condition against the key schema of what is read, and the key prefix of
    the partition it names."""
    if source.index is None:
        schema = source.table.schema
        condition = key_condition(expressions.key_condition, schema, values)
        return condition, keycodec.partition_prefix(schema.hash_type, condition.hash_values[0][schema.hash_type])
    layout = source.index.layout
    condition = index_key_condition(expressions.key_condition, layout.hash_parts, layout.range_parts, values)
    return condition, layout.partition_prefix(list(condition.hash_values))


def _check_filter(request: dict, source: ReadSource, plan: ReadPlan) -> None:
    """A Query's filter may not name a key attribute of the table or index it reads."""
    keys = source.table.schema.names if source.index is None else source.index.layout.key_names
    primary = sorted(plan.filter.attribute_names & set(keys))
    if primary:
        what = "Filter Expression" if request.get("FilterExpression") is not None else "QueryFilter"
        raise ValidationException(
            f"{what} can only contain non-primary key attributes: Primary key attribute: {primary[0]}"
        )


async def handle(request: dict, node: Node) -> bytes:
    if request.get("KeyConditionExpression") is None and not request.get("KeyConditions"):
        raise ValidationException(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."
        )
    expressions = parse_expressions(request, QUERY)
    plan = read_plan(request, expressions)
    table = node.table(request["TableName"])
    source = check_plan(request, table, plan, scanning=False)
    if plan.filter is not None:
        _check_filter(request, source, plan)
    condition, partition = partition_condition(expressions, source, plan.values)
    start, end = key_range(condition, partition)
    forward = request.get("ScanIndexForward", True)
    start_item = start_key(request, source)
    if start_item is not None:
        exclusive = start_item[1]
        _check_start_key(condition, start_item[0], exclusive.startswith(partition))
        if forward:
            start = max(start, exclusive + b"\x00")
        else:
            end = exclusive if end is None else min(end, exclusive)
    read = source.index or table
    entries = node.store.iterate(read, start, end, reverse=not forward) if end is None or start < end else iter(())
    return read_page(request, source, plan, entries)
