"""BatchExecuteStatement: up to 25 statements, all reads or all writes, each run on its own
as ExecuteStatement runs it; a statement that fails answers an ``Error`` in its place and
the others still run. Reads must name the whole key of one item, as a batch reads items by
key."""

from __future__ import annotations

import orjson

from dynovault.api.capacity import merged_capacities
from dynovault.api.statements import Statement, run_write, select
from dynovault.errors import DynamoError, ValidationException
from dynovault.node import Node
from dynovault.partiql import nodes
from dynovault.partiql.errors import KEY_EQUALITY

# The Code a statement's error answers with, by the exception the statement raised.
ERROR_CODES = {
    "ValidationException": "ValidationError",
    "ConditionalCheckFailedException": "ConditionalCheckFailed",
    "DuplicateItemException": "DuplicateItem",
    "ResourceNotFoundException": "ResourceNotFound",
    "TransactionConflictException": "TransactionConflict",
    "ItemCollectionSizeLimitExceededException": "ItemCollectionSizeLimitExceeded",
    "ProvisionedThroughputExceededException": "ProvisionedThroughputExceeded",
    "AccessDeniedException": "AccessDenied",
}


MIXED = "BatchExecuteStatement API does not support both read and write operations in the same request."


async def handle(request: dict, node: Node) -> dict:
    statements = [Statement.of(member, request) for member in request["Statements"]]
    _refuse_reads_with_writes(statements)
    responses, capacities = [], []
    for statement in statements:
        try:
            response, capacity = await _run(statement, node)
        except DynamoError as error:
            response, capacity = {"Error": _error(error)}, None
        responses.append(response)
        if capacity is not None:
            capacities.append(capacity)
    answer: dict = {"Responses": responses}
    if capacities:
        answer["ConsumedCapacity"] = merged_capacities(capacities)
    return answer


def _refuse_reads_with_writes(statements: list[Statement]) -> None:
    """A batch reads or writes, never both (a statement that does not parse answers its
    own error and counts as neither)."""
    kinds = set()
    for statement in statements:
        try:
            kinds.add(isinstance(statement.parsed(), nodes.Select))
        except ValidationException:
            continue
    if len(kinds) > 1:
        raise ValidationException(MIXED)


async def _run(statement: Statement, node: Node) -> tuple[dict, dict | None]:
    parsed = statement.parsed()
    if isinstance(parsed, nodes.Select):
        if parsed.index is not None:
            raise ValidationException(KEY_EQUALITY)
        selection = select(statement, node, parsed)
        if not selection.by_key:
            raise ValidationException(KEY_EQUALITY)
        response: dict = {"TableName": parsed.table}
        if selection.page.items:
            response["Item"] = orjson.loads(selection.page.items[0])
        return response, selection.page.capacity
    outcome = await run_write(statement, node, parsed)
    return {"TableName": parsed.table}, outcome.get("ConsumedCapacity")


def _error(error: DynamoError) -> dict:
    body = {"Code": ERROR_CODES.get(error.code, "InternalServerError"), "Message": error.message}
    if "Item" in error.extra:
        body["Item"] = error.extra["Item"]
    return body
