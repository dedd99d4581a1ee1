"""PartiQL statements run on the item operations' own code.

A statement is parsed and prepared once per text (``dynovault.partiql``); what it asks
for then decides what runs: a SELECT that names the whole key reads one item as GetItem
does (with IN or OR, each key it names), one that names the partition key reads that partition as a Query does (narrowed by
a sort-key condition), any other reads the whole table or index as a Scan does, its WHERE
always the page's filter. An
INSERT is a PutItem that must not find the key, an UPDATE an UpdateItem whose WHERE is
its condition (so it never creates an item), a DELETE a DeleteItem. ExecuteTransaction
runs the same writes as TransactWriteItems actions and the same reads as TransactGetItems
Gets (``api/transactions.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from dynovault.api.capacity import consumed_capacity, read_units, scan_reads
from dynovault.api.ops import delete_item, put_item, update_item
from dynovault.api.ops.query import key_range, partition_condition
from dynovault.api.pages import (
    Page,
    ReadSource,
    check_plan,
    read_entries,
    read_plan,
    start_key,
)
from dynovault.api.reads import item_bytes, with_members
from dynovault.api.request_expressions import (
    KEY_CONDITION,
    SCAN,
    Slots,
    parse_expressions,
)
from dynovault.api.validation import check_key_paths
from dynovault.errors import (
    ConditionalCheckFailedException,
    DuplicateItemException,
    ValidationException,
)
from dynovault.expressions import compile_projection
from dynovault.items import validated_key
from dynovault.node import Node
from dynovault.partiql import Expressions, Prepared, nodes, parse_statement, prepare
from dynovault.partiql.binding import bind
from dynovault.partiql.errors import unsupported
from dynovault.storage.engine import Table, stored_size

DUPLICATE_ITEM = "Duplicate primary key exists in table"
INVALID_TOKEN = "The provided NextToken is invalid"
KEY_CONDITION_ONLY = Slots((KEY_CONDITION,))
ORDER_BY = "ORDER BY is supported only on the sort key, with an equality on the partition key"


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a request, with what the request says about running it."""

    text: str
    parameters: list[dict]
    consistent: bool = False
    limit: int | None = None
    next_token: str | None = None
    return_capacity: str = "NONE"
    return_old_on_failure: str = "NONE"

    @classmethod
    def of(cls, member: dict, request: dict) -> Statement:
        """The statement ``member`` of ``request`` (an ExecuteStatement request is both)."""
        return cls(
            text=member["Statement"],
            parameters=member.get("Parameters") or [],
            consistent=bool(member.get("ConsistentRead")),
            limit=member.get("Limit"),
            next_token=member.get("NextToken"),
            return_capacity=request.get("ReturnConsumedCapacity", "NONE"),
            return_old_on_failure=member.get("ReturnValuesOnConditionCheckFailure", "NONE"),
        )

    def parsed(self) -> nodes.Statement:
        """The statement's syntax tree: syntax is refused before any table is looked up."""
        return parse_statement(self.text).statement

    def prepared(self, key_names: tuple[str, ...]) -> Prepared:
        prepared = prepare(self.text, key_names)
        prepared.check_parameters(self.parameters)
        return prepared


# ---- SELECT --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Selection:
    """What a SELECT read: the items that passed its WHERE, the key to go on from, its
    capacity."""

    page: Page
    source: ReadSource
    # True when the page came from reading one item by its key.
    by_key: bool


def select(statement: Statement, node: Node, query: nodes.Select) -> Selection:
    table = node.table(query.table)
    index = table.index(query.index) if query.index is not None else None
    key_names = index.layout.key_names if index is not None else table.schema.names
    prepared = statement.prepared(key_names)
    by_key = index is None and prepared.has_key(key_names) and not query.order_by
    if by_key and prepared.key_read is not None:
        return Selection(_item_of_key(statement, node, table, prepared), ReadSource(table), by_key=True)
    read_request = {
        "TableName": query.table,
        "ReturnConsumedCapacity": statement.return_capacity,
        **prepared.expressions.request_members(statement.parameters, "FilterExpression"),
    }
    for member, value in (("IndexName", query.index), ("ConsistentRead", statement.consistent or None),
                          ("Limit", statement.limit)):
        if value is not None:
            read_request[member] = value
    plan = read_plan(read_request, parse_expressions(read_request, SCAN))
    source = check_plan(read_request, table, plan, scanning=True)
    if by_key:
        _, storage_key = validated_key(table, prepared.bound_key(key_names, statement.parameters))
        stored = node.store.get(table, storage_key) if _continuation(statement, source) is None else None
        entries = iter(()) if stored is None else iter(((storage_key, stored),))
        return Selection(read_entries(read_request, source, plan, entries), source, by_key=True)
    choices = prepared.key_choices(key_names, statement.parameters) if index is None and not query.order_by else None
    if choices is not None:
        entries = _items_of_keys(node, table, choices, _continuation(statement, source))
        return Selection(read_entries(read_request, source, plan, entries), source, by_key=False)
    bounds = _key_range(statement, source, prepared)
    reverse = _descending(query, source, bounds is not None)
    start, end = bounds if bounds is not None else (b"", None)
    continuation = _continuation(statement, source)
    if continuation is not None:
        if reverse:
            end = continuation if end is None else min(end, continuation)
        else:
            start = max(start, continuation + b"\x00")
    read = source.index or table
    entries = node.store.iterate(read, start, end, reverse=reverse) if end is None or start < end else iter(())
    accounting = scan_reads(read_request, table, start, end) if bounds is None and index is None else None
    return Selection(read_entries(read_request, source, plan, entries, accounting), source, by_key=False)


def _item_of_key(statement: Statement, node: Node, table: Table, prepared: Prepared) -> Page:
    """A read of one item whose WHERE says nothing but its key, as GetItem reads it: the
    stored bytes spliced into the answer unless a projection applies."""
    expressions = prepared.key_read
    projection = None
    if expressions.projection is not None:
        projection = compile_projection(expressions.projection, expressions.rendering.names)
        check_key_paths(table.schema.names, projection.paths)
    _, storage_key = validated_key(table, prepared.bound_key(table.schema.names, statement.parameters))
    # No page follows a read of one item: a NextToken that is valid at all reads nothing more.
    stored = node.store.get(table, storage_key) if _continuation(statement, ReadSource(table)) is None else None
    units = read_units(stored_size(stored) if stored else 0, statement.consistent)
    capacity = consumed_capacity({"ReturnConsumedCapacity": statement.return_capacity}, table.name, units)
    items = [] if stored is None else [item_bytes(stored, projection)]
    return Page(items, len(items), len(items), None, capacity)


def _items_of_keys(
    node: Node, table: Table, keys: list[dict], after: bytes | None
) -> Iterator[tuple[bytes, bytes]]:
    """The stored items of these keys, in storage-key order from just after ``after``, so a
    NextToken goes on from the last one read as it does in a Scan."""
    storage_keys = sorted({validated_key(table, key)[1] for key in keys})
    for storage_key in storage_keys:
        if after is not None and storage_key <= after:
            continue
        stored = node.store.get(table, storage_key)
        if stored is not None:
            yield storage_key, stored


def _key_range(statement: Statement, source: ReadSource, prepared: Prepared) -> tuple[bytes, bytes | None] | None:
    """The storage keys a Query of the WHERE's partition reads, narrowed by its sort-key
    condition (None: the WHERE names no one partition). A sort-key condition a key
    condition cannot hold (begins_with on a number, a value of another type) only filters."""
    if source.index is None:
        schema = source.table.schema
        hash_names, sort_name = (schema.hash_name,), schema.range_name
    else:
        layout = source.index.layout
        hash_names = tuple(name for name, _ in layout.hash_parts)
        sort_name = layout.range_parts[0][0] if len(layout.range_parts) == 1 else None
    if not all(name in prepared.keys for name in hash_names):
        return None
    try:
        return _query_range(statement, source, prepared.key_condition(hash_names, sort_name))
    except ValidationException:
        if sort_name is None:
            raise
    return _query_range(statement, source, prepared.key_condition(hash_names, None))


def _query_range(statement: Statement, source: ReadSource, key_condition: Expressions) -> tuple[bytes, bytes | None]:
    expressions = parse_expressions(key_condition.request_members(statement.parameters, "KeyConditionExpression"),
                                    KEY_CONDITION_ONLY)
    return key_range(*partition_condition(expressions, source, expressions.values))


def _descending(query: nodes.Select, source: ReadSource, in_partition: bool) -> bool:
    """ORDER BY the sort key, within one partition, as a Query reads it forwards or back."""
    if not query.order_by:
        return False
    sort_names = (
        [name for name, _ in source.index.layout.range_parts] if source.index is not None
        else [source.table.schema.range_name]
    )
    paths = [path for path, _ in query.order_by]
    directions = {descending for _, descending in query.order_by}
    if not in_partition or len(directions) != 1 or any(len(p) != 1 or p[0] not in sort_names for p in paths):
        raise ValidationException(ORDER_BY)
    return directions.pop()


def _statement_digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def next_token(statement: Statement, selection: Selection) -> str | None:
    """A NextToken for the rest of the read: the statement it belongs to and the last key
    read, as the ExclusiveStartKey of the next page."""
    if selection.by_key or selection.page.last_key is None:
        return None
    last = selection.source.decode_key(selection.page.last_key)
    raw = orjson.dumps({"statement": _statement_digest(statement.text), "key": last})
    return base64.urlsafe_b64encode(raw).decode()


def _continuation(statement: Statement, source: ReadSource) -> bytes | None:
    if statement.next_token is None:
        return None
    try:
        token = orjson.loads(base64.urlsafe_b64decode(statement.next_token.encode()))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        raise ValidationException(INVALID_TOKEN) from None
    if not isinstance(token, dict) or token.get("statement") != _statement_digest(statement.text):
        raise ValidationException(INVALID_TOKEN)
    return start_key({"ExclusiveStartKey": token.get("key")}, source)[1]


def selection_body(statement: Statement, selection: Selection) -> bytes:
    body = b'{"Items":[' + b",".join(selection.page.items) + b"]}"
    return with_members(body, NextToken=next_token(statement, selection), ConsumedCapacity=selection.page.capacity)


# ---- writes --------------------------------------------------------------------------------


def write_action(statement: Statement, node: Node, write: nodes.Statement) -> tuple[str, dict]:
    """The TransactWriteItems action a write statement is: Put, Update, Delete or (for
    EXISTS) ConditionCheck, with its table, key or item and expressions."""
    query = write.select if isinstance(write, nodes.Exists) else write
    table: Table = node.table(query.table)
    prepared = statement.prepared(table.schema.names)
    spec: dict = {"TableName": query.table}
    if isinstance(write, nodes.Insert):
        spec["Item"] = bind(write.item, statement.parameters)["M"]
    else:
        spec["Key"] = prepared.bound_key(table.schema.names, statement.parameters)
    spec.update(prepared.expressions.request_members(statement.parameters))
    if statement.return_old_on_failure != "NONE":
        spec["ReturnValuesOnConditionCheckFailure"] = statement.return_old_on_failure
    kind = {nodes.Insert: "Put", nodes.Update: "Update", nodes.Delete: "Delete", nodes.Exists: "ConditionCheck"}
    return kind[type(write)], spec


_ITEM_OPERATIONS = {"Put": put_item.handle, "Update": update_item.handle, "Delete": delete_item.handle}


async def run_write(statement: Statement, node: Node, write: nodes.Statement) -> dict:
    """Run one write statement as its item operation; its answer as ExecuteStatement's."""
    if isinstance(write, nodes.Exists):
        raise unsupported("EXISTS outside a transaction")
    kind, spec = write_action(statement, node, write)
    returning = getattr(write, "returning", None)
    request = {**spec, "ReturnConsumedCapacity": statement.return_capacity, "ReturnValues": returning or "NONE"}
    try:
        answer = await _ITEM_OPERATIONS[kind](request, node)
    except ConditionalCheckFailedException:
        if kind == "Put":
            raise DuplicateItemException(DUPLICATE_ITEM) from None
        raise
    outcome = orjson.loads(answer)
    response: dict = {"Items": [outcome["Attributes"]] if "Attributes" in outcome else []}
    if "ConsumedCapacity" in outcome:
        response["ConsumedCapacity"] = outcome["ConsumedCapacity"]
    return response


async def run_statement(statement: Statement, node: Node) -> dict | bytes:
    """ExecuteStatement's answer to one statement."""
    parsed = statement.parsed()
    if isinstance(parsed, nodes.Select):
        return selection_body(statement, select(statement, node, parsed))
    return await run_write(statement, node, parsed)
