"""A statement prepared for one key schema: the key values its WHERE fixes and the
DynamoDB expressions (with their placeholders) that carry the rest of it.

Preparing depends on the statement's text and the key attribute names only, so it is
cached by them; a request then binds its parameters."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

from dynovault.errors import ValidationException
from dynovault.partiql import errors, nodes
from dynovault.partiql.binding import bind
from dynovault.partiql.parser import parse
from dynovault.partiql.render import Rendering, conjuncts, equality, key_equalities

CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Expressions:
    """The DynamoDB expressions one statement runs with, and their placeholders."""

    condition: str | None
    projection: str | None
    update: str | None
    rendering: Rendering

    def request_members(self, parameters: list[dict], condition_member: str = "ConditionExpression") -> dict:
        """The members of an item operation's request that carry these expressions (a
        read names its condition FilterExpression)."""
        members: dict = {}
        for member, text in ((condition_member, self.condition), ("ProjectionExpression", self.projection),
                             ("UpdateExpression", self.update)):
            if text is not None:
                members[member] = text
        if self.rendering.names:
            members["ExpressionAttributeNames"] = dict(self.rendering.names)
        if self.rendering.values:
            members["ExpressionAttributeValues"] = self.rendering.bound_values(parameters)
        return members


@dataclass(frozen=True, slots=True)
class Prepared:
    statement: nodes.Statement
    parameter_count: int
    # The key attributes the WHERE holds equal to one value each, with those values.
    keys: dict[str, nodes.Value]
    expressions: Expressions
    # The expressions of a read of one item whose WHERE says nothing but its key: the
    # projection alone, as there is nothing to filter.
    key_read: Expressions | None = None

    def key_choices(self, key_names: tuple[str, ...], parameters: list[dict]) -> list[dict] | None:
        """The item keys a WHERE confines a read to when it names each key attribute by
        equality or ``IN`` (``pk IN [...] AND sk = ...``), or is an OR whose every branch
        names a whole key: each as a wire-form item key, or None when it allows others.
        The WHERE itself still filters the items read."""
        where = self.statement.where if isinstance(self.statement, nodes.Select) else None
        if isinstance(where, nodes.Or):
            branches = _disjuncts(where)
            fixed = [key_equalities(branch) for branch in branches]
            if all(set(key_names) <= set(keys) for keys in fixed):
                return [{name: bind(keys[name], parameters) for name in key_names} for keys in fixed]
            return None
        options: dict[str, tuple[nodes.Value, ...]] = {}
        for part in conjuncts(where):
            for name, values in _key_options(part, key_names):
                options.setdefault(name, values)
        if set(options) != set(key_names) or math.prod(len(values) for values in options.values()) > MAX_KEY_CHOICES:
            return None
        return [
            {name: bind(value, parameters) for name, value in zip(key_names, choice)}
            for choice in itertools.product(*(options[name] for name in key_names))
        ]

    def key_condition(self, hash_names: tuple[str, ...], sort_name: str | None) -> Expressions:
        """The Query key condition the WHERE implies: an equality on every partition key
        attribute (which the WHERE must fix) and its first condition on the sort key that
        a key condition can express. The WHERE itself still filters what is read."""
        rendering = Rendering()
        parts = [f"{rendering.name(name)} = {rendering.value(self.keys[name])}" for name in hash_names]
        where = self.statement.where if isinstance(self.statement, nodes.Select) else None
        sort = next((part for part in conjuncts(where) if _bounds_sort_key(part, sort_name)), None)
        if sort is not None:
            parts.append(rendering.condition(sort))
        return Expressions(" AND ".join(parts), None, None, rendering)

    def check_parameters(self, parameters: list[dict]) -> None:
        # More parameters than ``?`` are accepted, as DynamoDB accepts them.
        if len(parameters) < self.parameter_count:
            raise ValidationException(errors.PARAMETER_COUNT)

    def has_key(self, key_names: tuple[str, ...]) -> bool:
        return all(name in self.keys for name in key_names)

    def bound_key(self, key_names: tuple[str, ...], parameters: list[dict]) -> dict:
        """The item key the WHERE names, refused unless it names every key attribute."""
        if not self.has_key(key_names):
            raise ValidationException(errors.KEY_EQUALITY)
        return {name: bind(self.keys[name], parameters) for name in key_names}


@lru_cache(maxsize=CACHE_SIZE)
def parse_statement(text: str) -> nodes.Parsed:
    """The statement's syntax tree, cached by its text."""
    return parse(text)


@lru_cache(maxsize=CACHE_SIZE)
def prepare(text: str, key_names: tuple[str, ...]) -> Prepared:
    """The statement prepared for a table or index with these key attributes."""
    parsed = parse_statement(text)
    statement = parsed.statement
    where = statement.select.where if isinstance(statement, nodes.Exists) else getattr(statement, "where", None)
    keys = {name: value for name, value in key_equalities(where).items() if name in key_names}
    expressions = _expressions(statement, where, keys, key_names)
    key_read = None
    if isinstance(statement, nodes.Select) and where is not None and all(_fixes_key(p, keys) for p in conjuncts(where)):
        rendering = Rendering()
        projection = rendering.projection(statement.projection) if statement.projection else None
        key_read = Expressions(None, projection, None, rendering)
    return Prepared(statement, parsed.parameter_count, keys, expressions, key_read)


def _expressions(
    statement: nodes.Statement, where: nodes.Condition | None, keys: dict, key_names: tuple[str, ...]
) -> Expressions:
    rendering = Rendering()
    condition = projection = update = None
    if isinstance(statement, nodes.Select):
        condition = rendering.condition(where) if where is not None else None
        projection = rendering.projection(statement.projection) if statement.projection else None
    elif isinstance(statement, nodes.Update):
        # The whole WHERE, key equalities included: an UPDATE of a missing item fails.
        update = rendering.update(statement.actions)
        condition = rendering.condition(where)
    elif isinstance(statement, nodes.Delete):
        # Without its key equalities: a DELETE of a missing item succeeds.
        rest = [part for part in conjuncts(where) if not _fixes_key(part, keys)]
        condition = rendering.condition(_joined(rest)) if rest else None
    elif isinstance(statement, nodes.Insert):
        # An INSERT never replaces an item.
        condition = f"attribute_not_exists({rendering.name(key_names[0])})"
    elif isinstance(statement, nodes.Exists):
        condition = rendering.condition(where) if where is not None else None
    return Expressions(condition, projection, update, rendering)


# The most keys a read by keys reads one by one; a WHERE that names more is read as a Scan.
MAX_KEY_CHOICES = 100


def _disjuncts(condition: nodes.Condition) -> list[nodes.Condition]:
    if isinstance(condition, nodes.Or):
        return _disjuncts(condition.left) + _disjuncts(condition.right)
    return [condition]


def _key_options(condition: nodes.Condition, key_names: tuple[str, ...]) -> list[tuple[str, tuple]]:
    """The key attribute a condition fixes and the values it allows: one for ``=``, each
    option of an ``IN`` of values."""
    pair = equality(condition)
    if pair is not None:
        return [(pair[0], (pair[1],))] if pair[0] in key_names else []
    if (
        isinstance(condition, nodes.In) and isinstance(condition.subject, nodes.PathRef)
        and len(condition.subject.path) == 1 and condition.subject.path[0] in key_names
        and all(isinstance(option, nodes.VALUE_NODES) for option in condition.options)
    ):
        return [(str(condition.subject.path[0]), condition.options)]
    return []


SORT_KEY_OPERATORS = frozenset({"=", "<", "<=", ">", ">="})


def _bounds_sort_key(condition: nodes.Condition, sort_name: str | None) -> bool:
    """Whether a condition is one a key condition can put on the sort key: a comparison
    with a value, BETWEEN two values, or begins_with a value."""
    sort_key = nodes.PathRef((sort_name,))
    if sort_name is None:
        return False
    if isinstance(condition, nodes.Comparison):
        sides = (condition.left, condition.right)
        return condition.operator in SORT_KEY_OPERATORS and sort_key in sides and any(
            isinstance(side, nodes.VALUE_NODES) for side in sides
        )
    if isinstance(condition, nodes.Between):
        return condition.subject == sort_key and all(
            isinstance(bound, nodes.VALUE_NODES) for bound in (condition.low, condition.high)
        )
    return (
        isinstance(condition, nodes.FunctionCondition) and condition.name == "begins_with"
        and condition.arguments[0] == sort_key and isinstance(condition.arguments[1], nodes.VALUE_NODES)
    )


def _fixes_key(condition: nodes.Condition, keys: dict) -> bool:
    pair = equality(condition)
    return pair is not None and keys.get(pair[0]) is pair[1]


def _joined(parts: list[nodes.Condition]) -> nodes.Condition:
    joined = parts[0]
    for part in parts[1:]:
        joined = nodes.And(joined, part)
    return joined
