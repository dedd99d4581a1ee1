"""KeyConditionExpression (and legacy KeyConditions) analysed against a key schema: an
equality on every partition key attribute, then conditions on the sort key attributes
left to right (equalities, the last one any supported comparison), values of the
schema's types — or DynamoDB's refusal. A table's key and an LSI's have one attribute of
each kind; a GSI's may have up to four of each."""

from __future__ import annotations

from dataclasses import dataclass

from dynovault.errors import ValidationException, empty_key_value, invalid
from dynovault.expressions import nodes
from dynovault.expressions.compiled import ConditionExpression
from dynovault.values.keys import KeySchema

_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_FUNCTION_NAMES = {
    nodes.AttributeExists: "attribute_exists",
    nodes.AttributeType: "attribute_type",
    nodes.Contains: "contains",
    nodes.In: "IN",
    nodes.Or: "OR",
    nodes.Not: "NOT",
}


# (name, type tag) of one key attribute.
KeyPart = tuple[str, str]


@dataclass(frozen=True, slots=True)
class KeyCondition:
    """``hash_values`` hold one value per partition attribute, ``sort_prefix`` the values
    of the leading sort attributes held equal; ``sort_operator`` (one of = < <= > >=
    BETWEEN begins_with, or None) applies to the sort attribute ``sort_part`` after them."""

    hash_values: tuple[dict, ...]
    sort_prefix: tuple[dict, ...]
    sort_operator: str | None
    sort_values: tuple[dict, ...]
    sort_part: KeyPart | None = None
    prefix_parts: tuple[KeyPart, ...] = ()


def _conjuncts(tree: nodes.Condition) -> list[nodes.Condition]:
    if isinstance(tree, nodes.And):
        return _conjuncts(tree.left) + _conjuncts(tree.right)
    return [tree]


def _is_constant(operand: nodes.Operand) -> bool:
    return isinstance(operand, (nodes.ValueOperand, nodes.Literal))


def _key_attribute(operands: tuple[nodes.Operand, ...]) -> tuple[str, int]:
    """The one top-level attribute among a condition's operands and its position; every
    other operand must be a constant."""
    found: tuple[str, int] | None = None
    for position, operand in enumerate(operands):
        if _is_constant(operand):
            continue
        if not isinstance(operand, nodes.PathOperand):
            raise ValidationException("KeyConditionExpressions cannot contain nested operations")
        if found is not None:
            raise ValidationException(
                "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"
            )
        if len(operand.path) != 1:
            raise ValidationException("KeyConditionExpressions cannot have conditions on nested attributes")
        found = (str(operand.path[0]), position)
    if found is None:
        raise ValidationException("Invalid condition in KeyConditionExpression: No key attribute specified")
    return found


def _subject_first(operator: str, operands: tuple[nodes.Operand, ...]) -> str:
    name, position = _key_attribute(operands)
    if position != 0:
        raise ValidationException(
            f"Invalid condition in KeyConditionExpression: {operator} operator must have the key attribute "
            "as its first operand"
        )
    return name


def _term(condition: nodes.Condition, values: nodes.Values) -> tuple[str, str, tuple[dict, ...]]:
    """One conjunct as (attribute, operator, constant values)."""
    if isinstance(condition, nodes.Comparison):
        if condition.operator == "<>":
            raise ValidationException("Unsupported operator on KeyConditionExpression: operator: <>")
        name, position = _key_attribute((condition.left, condition.right))
        operator, constant = condition.operator, condition.right
        if position == 1:
            operator, constant = _FLIPPED[operator], condition.left
        return name, operator, (constant.resolve({}, values),)
    if isinstance(condition, nodes.Between):
        name = _subject_first("BETWEEN", (condition.subject, condition.low, condition.high))
        bounds = (condition.low.resolve({}, values), condition.high.resolve({}, values))
        return name, "BETWEEN", bounds
    if isinstance(condition, nodes.BeginsWith):
        name = _subject_first("begins_with", (condition.subject, condition.prefix))
        return name, "begins_with", (condition.prefix.resolve({}, values),)
    name = _FUNCTION_NAMES.get(type(condition), "NOT")
    if isinstance(condition, nodes.AttributeExists) and not condition.expected:
        name = "attribute_not_exists"
    raise ValidationException(f"Invalid operator used in KeyConditionExpression: {name}")


def key_condition(condition: ConditionExpression, schema: KeySchema, values: nodes.Values) -> KeyCondition:
    """The key condition of a Query on a table."""
    ranges = () if schema.range_name is None else ((schema.range_name, schema.range_type),)
    return index_key_condition(condition, ((schema.hash_name, schema.hash_type),), ranges, values)


def index_key_condition(
    condition: ConditionExpression,
    hash_parts: tuple[KeyPart, ...],
    range_parts: tuple[KeyPart, ...],
    values: nodes.Values,
) -> KeyCondition:
    terms: dict[str, tuple[str, tuple[dict, ...]]] = {}
    for conjunct in _conjuncts(condition.tree):
        name, operator, operands = _term(conjunct, values)
        if name in terms:
            raise ValidationException(
                "Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key"
            )
        terms[name] = (operator, operands)
    names = [name for name, _ in hash_parts + range_parts]
    if len(terms) > len(names):
        raise ValidationException(
            f"The number of query conditions ({len(terms)}) exceeds the number of key attributes defined in the "
            f"schema ({len(names)})"
        )
    for name, _ in hash_parts:
        if name not in terms:
            raise ValidationException(f"Query condition missed key schema element: {name}")
    conditioned = [part for part in range_parts if part[0] in terms]
    if set(terms) - set(names) or conditioned != list(range_parts[: len(conditioned)]):
        missing = next((name for name, _ in range_parts if name not in terms), names[-1])
        raise ValidationException(f"Query condition missed key schema element: {missing}")
    hash_values = tuple(_equal_value(terms[name], tag, name) for name, tag in hash_parts)
    if not conditioned:
        return KeyCondition(hash_values, (), None, ())
    *equal, last = conditioned
    prefix = tuple(_equal_value(terms[name], tag, name) for name, tag in equal)
    sort_operator, sort_values = terms[last[0]]
    for value in sort_values:
        _check_type(value, last[1], last[0])
    if sort_operator == "begins_with" and last[1] == "N":
        raise ValidationException(
            "Invalid KeyConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: begins_with, operand type: N"
        )
    return KeyCondition(hash_values, prefix, sort_operator, sort_values, last, tuple(equal))


def _equal_value(term: tuple[str, tuple[dict, ...]], tag: str, name: str) -> dict:
    """The value of a key attribute the condition must hold equal (every partition
    attribute, and each sort attribute before the last one conditioned)."""
    operator, operands = term
    if operator != "=":
        raise ValidationException("Query key condition not supported")
    (value,) = operands
    _check_type(value, tag, name)
    return value


def _check_type(value: dict, tag: str, name: str) -> None:
    if tag not in value:
        raise invalid("Condition parameter type does not match schema type")
    if tag in ("S", "B") and not value[tag]:
        raise empty_key_value(name, tag)
