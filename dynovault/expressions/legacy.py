"""The pre-expression parameters (Expected, QueryFilter, ScanFilter, KeyConditions,
AttributeUpdates) translated onto the same AST the expressions compile to, so one
evaluator serves both. Their values are written into the tree as literals."""

from __future__ import annotations

from functools import reduce

from dynovault.errors import ValidationException, invalid
from dynovault.expressions import nodes
from dynovault.expressions.compiled import ConditionExpression, UpdateExpression
from dynovault.expressions.semantics import compare
from dynovault.values.attributes import canonical_value
from dynovault.values.types import SCALAR_TAGS, SET_TAGS, type_of

_ARITY = {
    "EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1,
    "NULL": 0, "NOT_NULL": 0,
    "CONTAINS": 1, "NOT_CONTAINS": 1, "BEGINS_WITH": 1,
    "BETWEEN": 2,
}
_COMPARATORS = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}
# The AttributeValue types the ComparisonOperators other than EQ and NE (which compare
# any type, lists and maps included) accept; NULL and NOT_NULL take none.
_ALLOWED_TYPES = {
    "LE": SCALAR_TAGS, "LT": SCALAR_TAGS, "GE": SCALAR_TAGS, "GT": SCALAR_TAGS, "BETWEEN": SCALAR_TAGS,
    "IN": SCALAR_TAGS, "CONTAINS": SCALAR_TAGS, "NOT_CONTAINS": SCALAR_TAGS, "BEGINS_WITH": ("S", "B"),
}


def _literals(name: str, operator: str, values: list | None) -> list[nodes.Literal]:
    values = values or []
    arity = _ARITY.get(operator)
    if (arity is not None and len(values) != arity) or (operator == "IN" and not values):
        raise invalid(f"Invalid number of argument(s) for the {operator} ComparisonOperator")
    literals = [nodes.Literal(canonical_value(v)[0]) for v in values]
    tags = [type_of(literal.value) for literal in literals]
    if len(set(tags)) > 1:
        raise invalid("AttributeValues inside AttributeValueList must be of same type")
    for tag in tags:
        if operator not in ("EQ", "NE") and tag not in _ALLOWED_TYPES.get(operator, ()):
            raise invalid(f"ComparisonOperator {operator} is not valid for {tag} AttributeValue type")
    if operator == "BETWEEN" and compare(">", literals[0].value, literals[1].value):
        raise ValidationException(
            "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"
        )
    return literals


def _test(name: str, operator: str, values: list | None) -> nodes.Condition:
    subject = nodes.PathOperand((name,))
    literals = _literals(name, operator, values)
    if operator in _COMPARATORS:
        return nodes.Comparison(_COMPARATORS[operator], subject, literals[0])
    if operator in ("NULL", "NOT_NULL"):
        return nodes.AttributeExists(subject, operator == "NOT_NULL")
    if operator == "CONTAINS":
        return nodes.Contains(subject, literals[0])
    if operator == "NOT_CONTAINS":
        return nodes.And(nodes.AttributeExists(subject, True), nodes.Not(nodes.Contains(subject, literals[0])))
    if operator == "BEGINS_WITH":
        return nodes.BeginsWith(subject, literals[0])
    if operator == "IN":
        return nodes.In(subject, tuple(literals))
    return nodes.Between(subject, literals[0], literals[1])


def _combine(tests: list[nodes.Condition], conditional_operator: str | None) -> nodes.Condition:
    join = nodes.Or if conditional_operator == "OR" else nodes.And
    return reduce(join, tests)


def _compiled(kind: str, tree: nodes.Condition, names: list[str]) -> ConditionExpression:
    return ConditionExpression(
        kind=kind, names_used=frozenset(), values_used=(), rules=(), tree=tree, paths=tuple((n,) for n in names)
    )


def filter_condition(conditions: dict, conditional_operator: str | None, kind: str) -> ConditionExpression:
    """QueryFilter, ScanFilter or KeyConditions: ``{name: {ComparisonOperator, AttributeValueList}}``."""
    tests = [
        _test(name, spec["ComparisonOperator"], spec.get("AttributeValueList"))
        for name, spec in conditions.items()
    ]
    return _compiled(kind, _combine(tests, conditional_operator), list(conditions))


def _expected_test(name: str, spec: dict) -> nodes.Condition:
    operator = spec.get("ComparisonOperator")
    exists = spec.get("Exists")
    if operator is not None:
        if "Value" in spec and "AttributeValueList" in spec:
            raise invalid("Value and AttributeValueList cannot be used together for Attribute: " + name)
        if exists is not None:
            raise invalid("Exists and ComparisonOperator cannot be used together for Attribute: " + name)
        operands = [spec["Value"]] if "Value" in spec else spec.get("AttributeValueList")
        if operands is None and operator not in ("NULL", "NOT_NULL"):
            raise invalid(
                f"Value or AttributeValueList must be used with ComparisonOperator: {operator} for Attribute: {name}"
            )
        return _test(name, operator, operands)
    if "AttributeValueList" in spec:
        raise invalid("AttributeValueList can only be used with a ComparisonOperator for Attribute: " + name)
    subject = nodes.PathOperand((name,))
    if exists is False:
        if "Value" in spec:
            raise invalid("Cannot expect an attribute to have a specified value while expecting it to not exist")
        return nodes.AttributeExists(subject, False)
    if "Value" not in spec:
        raise invalid("Value must be provided when Exists is true for Attribute: " + name)
    return nodes.Comparison("=", subject, nodes.Literal(canonical_value(spec["Value"])[0]))


def expected_condition(expected: dict, conditional_operator: str | None) -> ConditionExpression:
    tests = [_expected_test(name, spec) for name, spec in expected.items()]
    return _compiled("ConditionExpression", _combine(tests, conditional_operator), list(expected))


def attribute_updates(updates: dict) -> UpdateExpression:
    """AttributeUpdates: ``{name: {Action: PUT|ADD|DELETE, Value}}``."""
    actions: list = []
    for name, spec in updates.items():
        action = spec.get("Action", "PUT")
        value = spec.get("Value")
        literal = nodes.Literal(canonical_value(value)[0]) if value is not None else None
        path = (name,)
        tag = type_of(literal.value) if literal is not None else None
        if literal is None and action != "DELETE":
            raise invalid(f"Only DELETE action is allowed when no attribute value is specified: {name}")
        if action == "PUT":
            actions.append(nodes.SetAction(path, literal))
        elif action == "DELETE":
            if literal is None:
                actions.append(nodes.RemoveAction(path))
            elif tag not in SET_TAGS:
                raise invalid("DELETE action with value is not supported for the type " + tag)
            else:
                actions.append(nodes.DeleteAction(path, literal))
        else:
            if tag != "N" and tag != "L" and tag not in SET_TAGS:
                raise invalid("ADD action is not supported for the type " + tag)
            actions.append(nodes.AddAction(path, literal))
    return UpdateExpression(kind="UpdateExpression", names_used=frozenset(), values_used=(), rules=(), actions=tuple(actions))
