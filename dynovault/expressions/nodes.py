"""The expression AST. Each node evaluates itself against a decoded wire-form item and
the request's (canonical) ExpressionAttributeValues: operands ``resolve`` to a value or
None (missing), conditions ``test`` to a bool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from dynovault.errors import ValidationException
from dynovault.expressions import semantics
from dynovault.expressions.paths import Item, Path, get_path
from dynovault.values.types import type_of

Values = dict[str, dict[str, Any]]

MISSING_ATTRIBUTE = "The provided expression refers to an attribute that does not exist in the item"
# Found while applying an update (not while parsing it), so not an "Invalid UpdateExpression".
WRONG_OPERAND_TYPE = "An operand in the update expression has an incorrect data type"
LEGACY_WRONG_TYPE = "Type mismatch for attribute to update"


class Operand(Protocol):
    def resolve(self, item: Item, values: Values) -> dict | None: ...


class Condition(Protocol):
    def test(self, item: Item, values: Values) -> bool: ...


# ---- operands ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PathOperand:
    path: Path

    def resolve(self, item: Item, values: Values) -> dict | None:
        return get_path(item, self.path)


@dataclass(frozen=True, slots=True)
class ValueOperand:
    name: str

    def resolve(self, item: Item, values: Values) -> dict | None:
        return values[self.name]


@dataclass(frozen=True, slots=True)
class Literal:
    """A value written into the tree itself, as the legacy (pre-expression) parameters carry them."""

    value: dict

    def resolve(self, item: Item, values: Values) -> dict | None:
        return self.value


@dataclass(frozen=True, slots=True)
class Size:
    argument: Operand

    def resolve(self, item: Item, values: Values) -> dict | None:
        size = semantics.size_of(self.argument.resolve(item, values))
        return None if size is None else {"N": str(size)}


@dataclass(frozen=True, slots=True)
class IfNotExists:
    path: PathOperand
    default: Operand

    def resolve(self, item: Item, values: Values) -> dict | None:
        current = self.path.resolve(item, values)
        return current if current is not None else self.default.resolve(item, values)


def _required(operand: Operand, item: Item, values: Values, tag: str) -> Any:
    value = operand.resolve(item, values)
    if value is None:
        raise ValidationException(MISSING_ATTRIBUTE)
    if tag not in value:
        raise ValidationException(WRONG_OPERAND_TYPE)
    return value[tag]


@dataclass(frozen=True, slots=True)
class ListAppend:
    left: Operand
    right: Operand

    def resolve(self, item: Item, values: Values) -> dict | None:
        return {"L": _required(self.left, item, values, "L") + _required(self.right, item, values, "L")}


@dataclass(frozen=True, slots=True)
class Arithmetic:
    operator: str
    left: Operand
    right: Operand

    def resolve(self, item: Item, values: Values) -> dict | None:
        left = _required(self.left, item, values, "N")
        right = _required(self.right, item, values, "N")
        return semantics.add_numbers(left, right, negate_right=self.operator == "-")


# ---- conditions ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    operator: str
    left: Operand
    right: Operand

    def test(self, item: Item, values: Values) -> bool:
        return semantics.compare(self.operator, self.left.resolve(item, values), self.right.resolve(item, values))


@dataclass(frozen=True, slots=True)
class Between:
    subject: Operand
    low: Operand
    high: Operand

    def test(self, item: Item, values: Values) -> bool:
        value = self.subject.resolve(item, values)
        return semantics.compare(">=", value, self.low.resolve(item, values)) and semantics.compare(
            "<=", value, self.high.resolve(item, values)
        )


@dataclass(frozen=True, slots=True)
class In:
    subject: Operand
    options: tuple[Operand, ...]

    def test(self, item: Item, values: Values) -> bool:
        value = self.subject.resolve(item, values)
        return value is not None and any(semantics.equal(value, o.resolve(item, values)) for o in self.options)


@dataclass(frozen=True, slots=True)
class AttributeExists:
    path: PathOperand
    expected: bool

    def test(self, item: Item, values: Values) -> bool:
        return (self.path.resolve(item, values) is not None) == self.expected


@dataclass(frozen=True, slots=True)
class AttributeType:
    path: PathOperand
    type_name: Operand

    def test(self, item: Item, values: Values) -> bool:
        value = self.path.resolve(item, values)
        wanted = self.type_name.resolve(item, values)
        return value is not None and wanted is not None and type_of(value) == wanted.get("S")


@dataclass(frozen=True, slots=True)
class BeginsWith:
    subject: Operand
    prefix: Operand

    def test(self, item: Item, values: Values) -> bool:
        return semantics.begins_with(self.subject.resolve(item, values), self.prefix.resolve(item, values))


@dataclass(frozen=True, slots=True)
class Contains:
    subject: Operand
    operand: Operand

    def test(self, item: Item, values: Values) -> bool:
        return semantics.contains(self.subject.resolve(item, values), self.operand.resolve(item, values))


@dataclass(frozen=True, slots=True)
class And:
    left: Condition
    right: Condition

    def test(self, item: Item, values: Values) -> bool:
        return self.left.test(item, values) and self.right.test(item, values)


@dataclass(frozen=True, slots=True)
class Or:
    left: Condition
    right: Condition

    def test(self, item: Item, values: Values) -> bool:
        return self.left.test(item, values) or self.right.test(item, values)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition

    def test(self, item: Item, values: Values) -> bool:
        return not self.operand.test(item, values)


# ---- update actions ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetAction:
    path: Path
    value: Operand


@dataclass(frozen=True, slots=True)
class RemoveAction:
    path: Path


@dataclass(frozen=True, slots=True)
class AddAction:
    path: Path
    value: Operand


@dataclass(frozen=True, slots=True)
class DeleteAction:
    path: Path
    value: Operand
