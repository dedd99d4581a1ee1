"""Query: one partition, read by a prefix seek over its contiguous key range — never a
scan — in sort-key order (or reversed), paged and filtered as DynamoDB pages."""

from __future__ import annotations

import base64

from dynovault.api.node import Node
from dynovault.api.pages import read_page, read_plan, start_key
from dynovault.errors import ValidationException
from dynovault.expressions import ConditionExpression, compile_condition
from dynovault.expressions.keys import KeyCondition, key_condition
from dynovault.expressions.legacy import filter_condition
from dynovault.expressions.params import expression_names
from dynovault.storage import keycodec
from dynovault.storage.engine import KeySchema


def after_prefix(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key that starts with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _key_condition_expression(request: dict) -> ConditionExpression:
    expression = request.get("KeyConditionExpression")
    if expression is not None:
        return compile_condition(expression, expression_names(request), "KeyConditionExpression")
    legacy = request.get("KeyConditions")
    if legacy:
        return filter_condition(legacy, None, "KeyConditions")
    raise ValidationException("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")


def key_range(schema: KeySchema, condition: KeyCondition, partition: bytes) -> tuple[bytes, bytes | None]:
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


async def handle(request: dict, node: Node) -> bytes:
    table = node.table(request["TableName"])
    keys = _key_condition_expression(request)
    plan = read_plan(request, table, "QueryFilter", keys)
    if plan.filter is not None:
        primary = sorted(plan.filter.attribute_names & set(table.schema.names))
        if primary:
            raise ValidationException(
                f"Filter Expression can only contain non-primary key attributes: Primary key attribute: {primary[0]}"
            )
    condition = key_condition(keys, table.schema, plan.values)
    partition = keycodec.partition_prefix(table.schema.hash_type, condition.hash_value[table.schema.hash_type])
    start, end = key_range(table.schema, condition, partition)
    forward = request.get("ScanIndexForward", True)
    exclusive = start_key(request, table)
    if exclusive is not None:
        if not exclusive.startswith(partition):
            raise ValidationException("The provided starting key is outside query boundaries based on provided conditions")
        if forward:
            start = max(start, exclusive + b"\x00")
        else:
            end = exclusive if end is None else min(end, exclusive)
    entries = node.store.iterate(table, start, end, reverse=not forward) if end is None or start < end else iter(())
    return read_page(request, table, plan, entries)
