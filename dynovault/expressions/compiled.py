"""Compiled expressions, cached by their text and the ExpressionAttributeNames they were
compiled with, so a request that repeats an expression never parses it again."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

from dynovault.errors import ValidationException
from dynovault.expressions import nodes
from dynovault.expressions.parser import Parser, ValueRule, Values, expression_error
from dynovault.expressions.paths import Item, Path, project

CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Compiled:
    """Common to every compiled expression: which placeholders it uses and the checks
    that need the request's values."""

    kind: str
    names_used: frozenset[str]
    values_used: tuple[str, ...]
    rules: tuple[ValueRule, ...]

    def bind(self, values: Values) -> None:
        """Refuse values this expression cannot run with (undefined or of a wrong type),
        reporting the first problem in the expression's own order."""
        for rule in self.rules:
            problem = rule(values)
            if problem is not None:
                raise expression_error(self.kind, problem)


@dataclass(frozen=True, slots=True)
class Projection(Compiled):
    paths: tuple[Path, ...]
    top_level: tuple[str, ...] | None
    indexes_lists: bool

    def apply(self, item: Item) -> Item:
        """The projected item, in wire form."""
        if self.top_level is not None:
            return {name: item[name] for name in self.top_level if name in item}
        return project(item, self.paths, self.indexes_lists)


@dataclass(frozen=True, slots=True)
class ConditionExpression(Compiled):
    tree: nodes.Condition
    paths: tuple[Path, ...]

    def test(self, item: Item, values: Values) -> bool:
        return self.tree.test(item, values)

    @property
    def attribute_names(self) -> frozenset[str]:
        """Top-level attributes the expression reads."""
        return frozenset(path[0] for path in self.paths)


@dataclass(frozen=True, slots=True)
class UpdateExpression(Compiled):
    actions: tuple


def _names_key(names: dict | None) -> tuple:
    return tuple(names.items()) if names else ()


def _common(parser: Parser) -> dict:
    parsed = parser.parsed
    return {
        "kind": parser.kind,
        "names_used": frozenset(parsed.names_used),
        "values_used": tuple(parsed.values_used),
        "rules": tuple(parsed.rules),
    }


def _projection_from_paths(paths: list[Path], common: dict) -> Projection:
    flat = all(len(path) == 1 for path in paths)
    return Projection(
        **common,
        paths=tuple(paths),
        top_level=tuple(path[0] for path in paths) if flat else None,
        indexes_lists=any(isinstance(e, int) for path in paths for e in path),
    )


def compile_projection(expression: str, names: dict | None) -> Projection:
    return _compile_projection(expression, _names_key(names))


@lru_cache(maxsize=CACHE_SIZE)
def _compile_projection(expression: str, names: tuple) -> Projection:
    parser = Parser(expression, "ProjectionExpression", dict(names))
    paths = parser.projection()
    return _projection_from_paths(paths, _common(parser))


@lru_cache(maxsize=CACHE_SIZE)
def _projection_of_attributes(names: tuple[str, ...]) -> Projection:
    return _projection_from_paths(
        [(name,) for name in names],
        {"kind": "ProjectionExpression", "names_used": frozenset(), "values_used": (), "rules": ()},
    )


def projection_of_attributes(names: list[str]) -> Projection:
    """The projection the legacy AttributesToGet asks for (top-level names, taken as is,
    each at most once)."""
    if len(set(names)) != len(names):
        duplicate = next(name for index, name in enumerate(names) if name in names[:index])
        raise ValidationException(f"One or more parameter values were invalid: Duplicate value in attribute name: {duplicate}")
    return _projection_of_attributes(tuple(names))


def compile_condition(expression: str, names: dict | None, kind: str = "ConditionExpression") -> ConditionExpression:
    """ConditionExpression, FilterExpression or KeyConditionExpression (named by ``kind``)."""
    return _compile_condition(expression, _names_key(names), kind)


@lru_cache(maxsize=CACHE_SIZE)
def _compile_condition(expression: str, names: tuple, kind: str) -> ConditionExpression:
    parser = Parser(expression, kind, dict(names))
    tree = parser.condition()
    _check_operator_count(kind, [tree])
    return ConditionExpression(**_common(parser), tree=tree, paths=tuple(parser.parsed.paths))


def compile_update(expression: str, names: dict | None) -> UpdateExpression:
    return _compile_update(expression, _names_key(names))


@lru_cache(maxsize=CACHE_SIZE)
def _compile_update(expression: str, names: tuple) -> UpdateExpression:
    parser = Parser(expression, "UpdateExpression", dict(names))
    actions = parser.update()
    _check_operator_count("UpdateExpression", actions)
    return UpdateExpression(**_common(parser), actions=tuple(actions))


MAX_OPERATORS = 300
# What DynamoDB counts against an expression's 300 operators: logical operators,
# comparisons and functions (an update's assignment itself is free).
_OPERATOR_NODES = (
    nodes.And, nodes.Or, nodes.Not, nodes.Comparison, nodes.Between, nodes.In, nodes.AttributeExists,
    nodes.AttributeType, nodes.BeginsWith, nodes.Contains, nodes.Size, nodes.IfNotExists, nodes.ListAppend,
    nodes.Arithmetic,
)


def _operator_count(node: object) -> int:
    if not dataclasses.is_dataclass(node):
        return sum(_operator_count(element) for element in node) if isinstance(node, tuple) else 0
    own = 1 if isinstance(node, _OPERATOR_NODES) else 0
    return own + sum(_operator_count(getattr(node, field.name)) for field in dataclasses.fields(node))


def _check_operator_count(kind: str, trees: list) -> None:
    count = sum(_operator_count(tree) for tree in trees)
    if count > MAX_OPERATORS:
        raise expression_error(kind, f"The expression contains too many operators; operator count: {count}")


def check_unused(names: dict | None, values: dict | None, *compiled: Compiled | None) -> None:
    """DynamoDB refuses placeholders that no expression of the request uses."""
    present = [c for c in compiled if c is not None]
    if names:
        unused = set(names) - set().union(*(c.names_used for c in present))
        if unused:
            raise ValidationException(
                f"Value provided in ExpressionAttributeNames unused in expressions: keys: {{{', '.join(sorted(unused))}}}"
            )
    if values:
        unused = set(values) - set().union(*(c.values_used for c in present))
        if unused:
            raise ValidationException(
                f"Value provided in ExpressionAttributeValues unused in expressions: keys: {{{', '.join(sorted(unused))}}}"
            )
