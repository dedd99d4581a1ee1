"""Transactions: up to 100 Puts, Updates, Deletes and ConditionChecks over any tables,
all or nothing; and up to 100 Gets read as of one instant. TransactWriteItems and
TransactGetItems run them as they are sent, ExecuteTransaction as PartiQL compiles them.

Every action is validated before any is evaluated, every condition is evaluated against
the stored items, and only when all hold do the changes commit: in one WriteBatch with
their index entries, their log records (marked as one commit, which followers apply
whole) and the request's ClientRequestToken. Nothing yields to the event loop between
the first read and the commit, so no other write interleaves: the transaction is
serializable with every other write.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import orjson

from dynovault.api.capacity import (
    TRANSACTION_FACTOR,
    index_write_units,
    read_units,
    transaction_capacity,
    write_units,
)
from dynovault.api.collections import collection_metrics_by_table
from dynovault.api.reads import item_bytes, json_list, projection_for, with_members
from dynovault.api.request_expressions import (
    UPDATE_ITEM,
    WRITE_ITEM,
    RequestExpressions,
    parse_expressions,
)
from dynovault.api.updates import (
    creates_nothing,
    refuse_key_updates,
    stored_item,
    updated_item,
)
from dynovault.api.validation import check_key_paths
from dynovault.errors import (
    ONE_ITEM_ONCE,
    ConditionalCheckFailedException,
    IdempotentParameterMismatchException,
    TransactionCanceledException,
    ValidationException,
)
from dynovault.expressions import Projection
from dynovault.items import store_form, validated_item, validated_key
from dynovault.node import Node
from dynovault.storage.engine import ClientToken, ItemChange, Table, stored_size
from dynovault.values.attributes import Item, canonical_item

ACTIONS = ("ConditionCheck", "Put", "Delete", "Update")
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
TOO_LARGE = "Total size of all items in the transaction has exceeded the maximum allowed size"
TOKEN_MISMATCH = (
    "The request uses the same client token as a previous, but non-identical request. "
    "Do not reuse a client token with different requests, unless the requests are identical."
)


@dataclass(slots=True)
class _Action:
    """One validated action: what it does, to which item, under which expressions."""

    kind: str
    table: Table
    key: Item
    storage_key: bytes
    expressions: RequestExpressions
    # A Put's canonical item and its size.
    item: Item | None = None
    item_size: int = 0


@dataclass(slots=True)
class _Outcome:
    """What evaluating an action against the stored item gave: its change (None for a
    ConditionCheck or an update that creates nothing), or the reason it cancels."""

    stored: bytes | None
    change: ItemChange | None = None
    new_size: int = 0
    reason: dict = field(default_factory=lambda: {"Code": "None"})


def write_transaction(request: dict, node: Node) -> bytes:
    """Run a TransactWriteItems request (``TransactItems``, ``ClientRequestToken``, ...)."""
    actions = [_validated(node, transact_item) for transact_item in request["TransactItems"]]
    _refuse_repeated_items(actions)
    _refuse_oversized(actions)
    token = _token(request)
    if token is not None and (remembered := node.store.client_token(token.token)) is not None:
        if remembered != token.digest:
            raise IdempotentParameterMismatchException(TOKEN_MISMATCH)
        return _repeated_answer(request, node, actions)
    outcomes = [_evaluated(node, action) for action in actions]
    reasons = [outcome.reason for outcome in outcomes]
    if any(reason["Code"] != "None" for reason in reasons):
        raise cancelled(reasons)
    changes = [outcome.change for outcome in outcomes if outcome.change is not None]
    if changes or token is not None:
        node.store.write(changes, token=token)
    response: dict = {}
    capacities = _capacities(request, actions, outcomes)
    if capacities:
        response["ConsumedCapacity"] = capacities
    metrics = collection_metrics_by_table(request, node, changes)
    if metrics:
        response["ItemCollectionMetrics"] = metrics
    return orjson.dumps(response)


def cancelled(reasons: list[dict]) -> TransactionCanceledException:
    """DynamoDB's refusal of a transaction, naming the reason of every action in order."""
    codes = ", ".join(reason["Code"] for reason in reasons)
    return TransactionCanceledException(
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        CancellationReasons=reasons,
    )


# ---- validation: everything is checked before anything is read ---------------------------


def _validated(node: Node, transact_item: dict) -> _Action:
    named = [kind for kind in ACTIONS if transact_item.get(kind) is not None]
    if len(named) != 1:
        raise ValidationException("TransactItems can only contain one of Check, Put, Update or Delete")
    kind = named[0]
    spec = transact_item[kind]
    expressions = parse_expressions(spec, UPDATE_ITEM if kind == "Update" else WRITE_ITEM)
    table = node.table(spec["TableName"])
    if kind == "Put":
        item, size, storage_key = validated_item(table, spec["Item"])
        key = {name: item[name] for name in table.schema.names}
        return _Action(kind, table, key, storage_key, expressions, item, size)
    key, storage_key = validated_key(table, spec["Key"])
    if kind == "Update":
        refuse_key_updates(table, expressions.update)
    return _Action(kind, table, key, storage_key, expressions)


def _refuse_repeated_items(actions: list[_Action]) -> None:
    # Keyed by the table itself: one table may be named by its name and by its ARN.
    items = {(action.table.name, action.storage_key) for action in actions}
    if len(items) != len(actions):
        raise ValidationException(ONE_ITEM_ONCE)


def _refuse_oversized(actions: list[_Action]) -> None:
    total = sum(action.item_size if action.item is not None else canonical_item(action.key)[1] for action in actions)
    if total > MAX_TRANSACTION_BYTES:
        raise ValidationException(TOO_LARGE)


def _token(request: dict) -> ClientToken | None:
    """The request's ClientRequestToken with a digest of what the request changes: its
    actions (what it asks to have reported back may differ between tries)."""
    token = request.get("ClientRequestToken")
    if token is None:
        return None
    digest = hashlib.sha256(orjson.dumps(request["TransactItems"], option=orjson.OPT_SORT_KEYS)).digest()
    return ClientToken(token.encode(), digest)


# ---- evaluation against the stored items -------------------------------------------------


def _evaluated(node: Node, action: _Action) -> _Outcome:
    stored = node.store.get(action.table, action.storage_key)
    outcome = _Outcome(stored)
    try:
        action.expressions.check_condition(stored_item(stored) or {})
        outcome.change, outcome.new_size = _change(action, stored)
    except ConditionalCheckFailedException as failure:
        outcome.reason = {"Code": "ConditionalCheckFailed", "Message": failure.message, **failure.extra}
    except ValidationException as refusal:
        outcome.reason = {"Code": "ValidationError", "Message": refusal.message}
    return outcome


def _change(action: _Action, stored: bytes | None) -> tuple[ItemChange | None, int]:
    if action.kind == "Put":
        return ItemChange(action.table, action.storage_key, store_form(action.item, action.item_size)), action.item_size
    if action.kind == "Delete":
        return ItemChange(action.table, action.storage_key, None), 0
    if action.kind == "Update":
        new, size = updated_item(action.table, action.key, stored, action.expressions)
        if not creates_nothing(stored, action.expressions.update):
            return ItemChange(action.table, action.storage_key, store_form(new, size)), size
    return None, 0


# ---- the answer ----------------------------------------------------------------------------


def _capacities(request: dict, actions: list[_Action], outcomes: list[_Outcome]) -> list[dict]:
    """Per table, twice the units the same reads and writes cost on their own: a
    ConditionCheck reads its item, every other action writes it."""
    if request.get("ReturnConsumedCapacity", "NONE") == "NONE":
        return []
    reads: dict[str, float] = defaultdict(float)
    writes: dict[str, float] = defaultdict(float)
    index_units: dict[str, Counter] = defaultdict(Counter)
    for action, outcome in zip(actions, outcomes):
        name = action.table.name
        old_size = stored_size(outcome.stored) if outcome.stored else 0
        if action.kind == "ConditionCheck":
            reads[name] += TRANSACTION_FACTOR * read_units(old_size, consistent=True)
            continue
        writes[name] += TRANSACTION_FACTOR * write_units(max(outcome.new_size, old_size))
        if outcome.change is not None:
            spent = index_write_units(request, action.table, action.storage_key, outcome.stored, outcome.change.value)
            index_units[name].update({index: TRANSACTION_FACTOR * units for index, units in spent.items()})
    names = dict.fromkeys(action.table.name for action in actions)
    return [transaction_capacity(request, name, reads[name], writes[name], index_units[name]) for name in names]


def _repeated_answer(request: dict, node: Node, actions: list[_Action]) -> bytes:
    """A repeat of a committed request changes nothing; its capacity is the reading of
    its items, as DynamoDB reports for a repeated ClientRequestToken."""
    if request.get("ReturnConsumedCapacity", "NONE") == "NONE":
        return b"{}"
    reads: dict[str, float] = defaultdict(float)
    for action in actions:
        stored = node.store.get(action.table, action.storage_key)
        reads[action.table.name] += TRANSACTION_FACTOR * read_units(stored_size(stored) if stored else 0, True)
    return orjson.dumps({"ConsumedCapacity": [transaction_capacity(request, name, units, 0.0) for name, units in reads.items()]})


# ---- reads ---------------------------------------------------------------------------------


def read_transaction(request: dict, node: Node) -> bytes:
    """Run a TransactGetItems request. The reads run one after another without yielding
    to the event loop, the only place writes happen, so no write commits between the
    first and the last: the items form one consistent snapshot. A missing item answers
    ``{}`` in its place."""
    gets = [_validated_get(node, transact_item["Get"]) for transact_item in request["TransactItems"]]
    if len({(table.name, key) for table, key, _ in gets}) != len(gets):
        raise ValidationException(ONE_ITEM_ONCE)
    responses = []
    units: dict[str, float] = defaultdict(float)
    for table, key, projection in gets:
        stored = node.store.get(table, key)
        units[table.name] += TRANSACTION_FACTOR * read_units(stored_size(stored) if stored else 0, consistent=True)
        responses.append(b"{}" if stored is None else b'{"Item":' + item_bytes(stored, projection) + b"}")
    capacities = [transaction_capacity(request, name, total, 0.0) for name, total in units.items()]
    body = b'{"Responses":' + json_list(responses) + b"}"
    return with_members(body, ConsumedCapacity=capacities if capacities[0] is not None else None)


def _validated_get(node: Node, get: dict) -> tuple[Table, bytes, Projection | None]:
    projection = projection_for(get)
    table = node.table(get["TableName"])
    _, key = validated_key(table, get["Key"])
    if projection is not None:
        check_key_paths(table.schema.names, projection.paths)
    return table, key, projection
