"""What the operations share about the expression parameters of a request: validating
ExpressionAttributeNames/Values, refusing expression and legacy parameters together,
and the condition that guards a write (ConditionExpression or legacy Expected)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from dynovault.errors import (
    ConditionalCheckFailedException,
    DynamoError,
    ValidationException,
)
from dynovault.expressions.compiled import (
    Compiled,
    ConditionExpression,
    check_unused,
    compile_condition,
)
from dynovault.expressions.legacy import expected_condition
from dynovault.expressions.parser import Values
from dynovault.values.attributes import canonical_value
from dynovault.storage.engine import stored_json

# Placeholder keys DynamoDB accepts: the sigil, then letters, digits and underscores.
_NAME_KEY = re.compile(r"#[0-9A-Za-z_]+")
_VALUE_KEY = re.compile(r":[0-9A-Za-z_]+")


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


def expression_values(request: dict, wrapped: bool = False) -> Values:
    """The request's ExpressionAttributeValues in canonical form (empty when absent).
    A value's own refusal is reported as it is, except ``wrapped`` (Scan, which DynamoDB
    still validates with its older layer) names the placeholder around it."""
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
            if not wrapped:
                raise
            raise ValidationException(
                f"ExpressionAttributeValues contains invalid value: {error.message} for key {key}"
            ) from None
    return canonical


def refuse_mixed(request: dict, legacy: tuple[str, ...], expressions: tuple[str, ...]) -> None:
    """DynamoDB refuses a request that mixes legacy and expression parameters (the legacy
    ConditionalOperator included), and placeholders sent with no expression to use them:
    names need some expression, values one other than a ProjectionExpression."""
    used_expressions = [name for name in expressions if request.get(name) is not None]
    used_legacy = [name for name in (*legacy, "ConditionalOperator") if request.get(name) is not None]
    if used_legacy and used_expressions:
        raise ValidationException(
            "Can not use both expression and non-expression parameters in the same request: "
            f"Non-expression parameters: {{{', '.join(used_legacy)}}} "
            f"Expression parameters: {{{', '.join(used_expressions)}}}"
        )
    if not used_expressions and request.get("ExpressionAttributeNames") is not None:
        raise ValidationException("ExpressionAttributeNames can only be specified when using expressions")
    if request.get("ExpressionAttributeValues") is not None and not any(
        request.get(name) is not None for name in expressions if name != "ProjectionExpression"
    ):
        raise ValidationException("ExpressionAttributeValues can only be specified when using expressions")


def bind_all(request: dict, values: Values, *compiled: Compiled | None) -> None:
    """Refuse values the expressions cannot run with, then unused placeholders."""
    for expression in compiled:
        if expression is not None:
            expression.bind(values)
    check_unused(request.get("ExpressionAttributeNames"), values, *compiled)


def condition_of(request: dict) -> ConditionExpression | None:
    """A write's guard: ConditionExpression, or the legacy Expected map."""
    expression = request.get("ConditionExpression")
    if expression is not None:
        return compile_condition(expression, expression_names(request))
    expected = request.get("Expected")
    if expected:
        return expected_condition(expected, request.get("ConditionalOperator"))
    return None


@dataclass(frozen=True, slots=True)
class WriteGuard:
    """The condition a write must meet, with what the request said to return on failure."""

    condition: ConditionExpression | None
    values: Values
    return_old_on_failure: bool

    def check(self, read_stored: Callable[[], bytes | None]) -> None:
        """Check against the stored item, read only when there is a condition."""
        if self.condition is None:
            return
        stored = read_stored()
        self.check_item(orjson.loads(stored_json(stored)) if stored is not None else {})

    def check_item(self, old: dict) -> None:
        if self.condition is not None and not self.condition.test(old, self.values):
            raise condition_failed(old if self.return_old_on_failure else None)


def condition_failed(old: dict | None) -> DynamoError:
    extra = {"Item": old} if old else {}
    return ConditionalCheckFailedException("The conditional request failed", **extra)


def guard_of(request: dict, condition: ConditionExpression | None, values: Values) -> WriteGuard:
    return WriteGuard(condition, values, request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD")


def write_guard(request: dict) -> WriteGuard:
    """PutItem's and DeleteItem's condition parameters, validated: the guard to check
    against the stored item before writing."""
    refuse_mixed(request, ("Expected",), ("ConditionExpression",))
    values = expression_values(request)
    condition = condition_of(request)
    bind_all(request, values, condition)
    return guard_of(request, condition, values)
