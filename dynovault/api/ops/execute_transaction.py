"""ExecuteTransaction: up to 100 PartiQL statements, all reads or all writes, run as one
transaction: the writes as the actions of a TransactWriteItems (INSERT a Put that must
not find its key, UPDATE, DELETE, EXISTS a ConditionCheck), the reads as the Gets of a
TransactGetItems, both on the machinery of ``api/transactions.py``."""

from __future__ import annotations

import re

from dynovault.api.statements import DUPLICATE_ITEM, Statement, write_action
from dynovault.api.transactions import cancelled, read_transaction, write_transaction
from dynovault.errors import TransactionCanceledException, ValidationException
from dynovault.node import Node
from dynovault.partiql import nodes
from dynovault.partiql.errors import KEY_EQUALITY
from dynovault.partiql.render import conjuncts

MIXED = "ExecuteTransaction API does not support both read and write operations in the same request."
RETURNING = "RETURNING is not supported in a transaction"
DUPLICATE_REASON = {"Code": "DuplicateItem", "Message": DUPLICATE_ITEM}


async def handle(request: dict, node: Node) -> bytes:
    statements = [Statement.of(member, request) for member in request["TransactStatements"]]
    parsed = [_parsed(position, statement) for position, statement in enumerate(statements)]
    reads = [isinstance(statement, nodes.Select) for statement in parsed]
    if any(reads) and not all(reads):
        raise ValidationException(MIXED)
    capacity = request.get("ReturnConsumedCapacity", "NONE")
    if all(reads):
        gets = [{"Get": _get(statement, node, query)} for statement, query in zip(statements, parsed)]
        return read_transaction({"TransactItems": gets, "ReturnConsumedCapacity": capacity}, node)
    actions = []
    for statement, write in zip(statements, parsed):
        if getattr(write, "returning", None) is not None:
            raise ValidationException(RETURNING)
        kind, spec = write_action(statement, node, write)
        actions.append({kind: spec})
    transaction = {"TransactItems": actions, "ReturnConsumedCapacity": capacity}
    if request.get("ClientRequestToken") is not None:
        transaction["ClientRequestToken"] = request["ClientRequestToken"]
    try:
        return write_transaction(transaction, node)
    except TransactionCanceledException as refusal:
        raise _with_duplicates(refusal, parsed) from None


def _parsed(position: int, statement: Statement) -> nodes.Statement:
    try:
        return statement.parsed()
    except ValidationException as error:
        raise ValidationException(f"Validation failed in TransactStatements[{position}]: {error.message}") from None


def _get(statement: Statement, node: Node, query: nodes.Select) -> dict:
    """A transaction's read is a Get: the whole key, compared with nothing else."""
    table = node.table(query.table)
    names = table.schema.names
    prepared = statement.prepared(names)
    if query.index is not None or len(conjuncts(query.where)) != len(names):
        raise ValidationException(KEY_EQUALITY)
    get = {"TableName": query.table, "Key": prepared.bound_key(names, statement.parameters)}
    members = prepared.expressions.request_members(statement.parameters)
    if "ProjectionExpression" in members:
        get["ProjectionExpression"] = members["ProjectionExpression"]
        used = set(re.findall(r"#n[0-9]+", members["ProjectionExpression"]))
        get["ExpressionAttributeNames"] = {
            placeholder: name for placeholder, name in members["ExpressionAttributeNames"].items() if placeholder in used
        }
    return get


def _with_duplicates(refusal: TransactionCanceledException, parsed: list[nodes.Statement]) -> TransactionCanceledException:
    """An INSERT whose key exists is cancelled as a DuplicateItem, not a failed condition."""
    reasons = [
        DUPLICATE_REASON if isinstance(statement, nodes.Insert) and reason["Code"] == "ConditionalCheckFailed" else reason
        for statement, reason in zip(parsed, refusal.extra["CancellationReasons"])
    ]
    return cancelled(reasons)

