"""Every expression of a request, parsed once, in one place.

An operation names the expression parameters it takes (its *slots*: a projection, a
write condition, a filter, a key condition, an update), each with the legacy parameter
it replaced. ``parse_expressions`` validates ExpressionAttributeNames and -Values, refuses
legacy and expression parameters together, compiles each slot from whichever of its two
parameters the request used, binds the values and refuses unused placeholders, in
DynamoDB's order. Handlers then work with the one ``RequestExpressions`` it returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from dynovault.errors import (
    ConditionalCheckFailedException,
    DynamoError,
    ValidationException,
    mixed_parameters,
)
from dynovault.expressions.compiled import (
    Compiled,
    ConditionExpression,
    Projection,
    UpdateExpression,
    check_unused,
    compile_condition,
    compile_projection,
    compile_update,
    projection_of_attributes,
)
from dynovault.expressions.legacy import (
    attribute_updates,
    expected_condition,
    filter_condition,
)
from dynovault.expressions.parser import Values
from dynovault.storage.engine import stored_json
from dynovault.values.attributes import canonical_value

# Placeholder keys DynamoDB accepts: the sigil, then letters, digits and underscores.
_NAME_KEY = re.compile(r"#[0-9A-Za-z_]+")
_VALUE_KEY = re.compile(r":[0-9A-Za-z_]+")


@dataclass(frozen=True, slots=True)
class Slot:
    """One expression parameter of an operation and the legacy parameter it replaced.
    ``compile_legacy`` gets the legacy parameter's value and the whole request."""

    name: str
    expression: str
    legacy: str
    compile_expression: Callable[[str, dict | None], Compiled]
    compile_legacy: Callable[[Any, dict], Compiled | None]
    # DynamoDB lets legacy KeyConditions go with the other expressions when there is no
    # KeyConditionExpression to compete with.
    legacy_conflicts_only_with_own_expression: bool = False

    def compile(self, request: dict, names: dict | None) -> Compiled | None:
        expression = request.get(self.expression)
        if expression is not None:
            return self.compile_expression(expression, names)
        legacy = request.get(self.legacy)
        return self.compile_legacy(legacy, request) if legacy is not None else None


def _legacy_filter(member: str) -> Callable[[Any, dict], Compiled | None]:
    def compile_filter(conditions: Any, request: dict) -> Compiled | None:
        return filter_condition(conditions, request.get("ConditionalOperator"), member) if conditions else None

    return compile_filter


PROJECTION = Slot(
    "projection", "ProjectionExpression", "AttributesToGet",
    compile_projection, lambda attributes, _request: projection_of_attributes(attributes),
)
CONDITION = Slot(
    "condition", "ConditionExpression", "Expected",
    compile_condition,
    lambda expected, request: expected_condition(expected, request.get("ConditionalOperator")) if expected else None,
)
UPDATE = Slot(
    "update", "UpdateExpression", "AttributeUpdates",
    compile_update, lambda updates, _request: attribute_updates(updates),
)
KEY_CONDITION = Slot(
    "key_condition", "KeyConditionExpression", "KeyConditions",
    lambda expression, names: compile_condition(expression, names, "KeyConditionExpression"),
    lambda conditions, _request: filter_condition(conditions, None, "KeyConditions") if conditions else None,
    legacy_conflicts_only_with_own_expression=True,
)
QUERY_FILTER = Slot(
    "filter", "FilterExpression", "QueryFilter",
    lambda expression, names: compile_condition(expression, names, "FilterExpression"),
    _legacy_filter("QueryFilter"),
)
SCAN_FILTER = Slot(
    "filter", "FilterExpression", "ScanFilter",
    lambda expression, names: compile_condition(expression, names, "FilterExpression"),
    _legacy_filter("ScanFilter"),
)

# SearchVectors' condition has no legacy parameter before it.
SEARCH_CONDITION = Slot(
    "filter", "SearchConditionExpression", "",
    lambda expression, names: compile_condition(expression, names, "SearchConditionExpression"),
    lambda _conditions, _request: None,
)


@dataclass(frozen=True)
class Slots:
    """The expression slots of one operation. A slot's place orders the parameters in
    DynamoDB's messages and decides which bind error shows first."""

    slots: tuple[Slot, ...]
    # Every request member that any of the slots reads: a request naming none of them
    # (most GetItem and PutItem calls) has nothing to parse.
    members: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        names = {"ExpressionAttributeNames", "ExpressionAttributeValues", "ConditionalOperator"}
        names.update(name for slot in self.slots for name in (slot.expression, slot.legacy))
        object.__setattr__(self, "members", frozenset(names))


READ_ITEM = Slots((PROJECTION,))
WRITE_ITEM = Slots((CONDITION,))
UPDATE_ITEM = Slots((UPDATE, CONDITION))
QUERY = Slots((PROJECTION, QUERY_FILTER, KEY_CONDITION))
SCAN = Slots((PROJECTION, SCAN_FILTER))
SEARCH = Slots((PROJECTION, SEARCH_CONDITION))


@dataclass(frozen=True, slots=True)
class RequestExpressions:
    """A request's expressions, compiled and bound to its canonical values."""

    values: Values
    projection: Projection | None = None
    condition: ConditionExpression | None = None
    filter: ConditionExpression | None = None
    key_condition: ConditionExpression | None = None
    update: UpdateExpression | None = None
    # Which parameter the update came from: DynamoDB words a wrong operand type apart.
    legacy_update: bool = False
    return_old_on_failure: bool = False

    def check_stored(self, read_stored: Callable[[], bytes | None]) -> None:
        """Check the write condition against the stored item, read only when there is one."""
        if self.condition is None:
            return
        stored = read_stored()
        self.check_condition(orjson.loads(stored_json(stored)) if stored is not None else {})

    def check_condition(self, old: dict) -> None:
        if self.condition is not None and not self.condition.test(old, self.values):
            raise condition_failed(old if self.return_old_on_failure else None)


def condition_failed(old: dict | None) -> DynamoError:
    extra = {"Item": old} if old else {}
    return ConditionalCheckFailedException("The conditional request failed", **extra)


_NO_EXPRESSIONS = RequestExpressions(values={})


def parse_expressions(request: dict, spec: Slots, wrap_value_errors: bool = False) -> RequestExpressions:
    """Validate and compile every expression parameter ``spec`` names. A value's own
    refusal is reported as it is, except with ``wrap_value_errors`` (Scan, which DynamoDB
    still validates with its older layer) it names the placeholder around it."""
    if spec.members.isdisjoint(request):
        return _NO_EXPRESSIONS
    slots = spec.slots
    refuse_mixed(request, slots)
    check_conditional_operator(request, slots)
    takes_values = any(slot is not PROJECTION for slot in slots)
    values = expression_values(request, wrap_value_errors) if takes_values else {}
    names = expression_names(request)
    compiled = {slot.name: slot.compile(request, names) for slot in slots}
    for expression in compiled.values():
        if expression is not None:
            expression.bind(values)
    check_unused(request.get("ExpressionAttributeNames"), values, *compiled.values())
    return RequestExpressions(
        values=values,
        legacy_update=request.get("AttributeUpdates") is not None,
        return_old_on_failure=request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD",
        **compiled,
    )


def refuse_mixed(request: dict, slots: tuple[Slot, ...]) -> None:
    """DynamoDB refuses a request that mixes legacy and expression parameters (the legacy
    ConditionalOperator included), and placeholders sent with no expression to use them:
    names need some expression, values one other than a ProjectionExpression."""
    used_expressions = [slot.expression for slot in slots if request.get(slot.expression) is not None]
    used_legacy = [
        slot.legacy for slot in slots
        if request.get(slot.legacy) is not None
        and (not slot.legacy_conflicts_only_with_own_expression or request.get(slot.expression) is not None)
    ]
    if request.get("ConditionalOperator") is not None:
        used_legacy.append("ConditionalOperator")
    if used_legacy and used_expressions:
        raise mixed_parameters(used_legacy, used_expressions)
    if not used_expressions and request.get("ExpressionAttributeNames") is not None:
        raise ValidationException("ExpressionAttributeNames can only be specified when using expressions")
    if request.get("ExpressionAttributeValues") is not None and not any(
        request.get(slot.expression) is not None for slot in slots if slot is not PROJECTION
    ):
        raise ValidationException("ExpressionAttributeValues can only be specified when using expressions")


# The legacy parameters whose conditions ConditionalOperator joins.
_JOINED_BY_OPERATOR = frozenset({"Expected", "QueryFilter", "ScanFilter"})


def check_conditional_operator(request: dict, slots: tuple[Slot, ...]) -> None:
    """ConditionalOperator joins two or more legacy conditions; DynamoDB refuses it with
    fewer, an empty or absent Expected or filter included."""
    if request.get("ConditionalOperator") is None:
        return
    counts = [len(request[slot.legacy]) for slot in slots if slot.legacy in _JOINED_BY_OPERATOR and request.get(slot.legacy)]
    if not counts:
        raise ValidationException("ConditionalOperator cannot be used without Filter or Expected")
    if min(counts) < 2:
        raise ValidationException("ConditionalOperator can only be used when Filter or Expected has two or more elements")


def expression_names(request: dict) -> dict | None:
    names = request.get("ExpressionAttributeNames")
    if names is None:
        return None
    if not names:
        raise ValidationException("ExpressionAttributeNames must not be empty")
    for key in names:
        if not _NAME_KEY.fullmatch(key):
            raise ValidationException(f'ExpressionAttributeNames contains invalid key: Syntax error; key: "{key}"')
    return names


def expression_values(request: dict, wrap_value_errors: bool = False) -> Values:
    """The request's ExpressionAttributeValues in canonical form (empty when absent)."""
    values = request.get("ExpressionAttributeValues")
    if values is None:
        return {}
    if not values:
        raise ValidationException("ExpressionAttributeValues must not be empty")
    canonical = {}
    for key, value in values.items():
        if not _VALUE_KEY.fullmatch(key):
            raise ValidationException(f'ExpressionAttributeValues contains invalid key: Syntax error; key: "{key}"')
        try:
            canonical[key] = canonical_value(value)[0]
        except ValidationException as error:
            if not wrap_value_errors:
                raise
            raise ValidationException(
                f"ExpressionAttributeValues contains invalid value: {error.message} for key {key}"
            ) from None
    return canonical
