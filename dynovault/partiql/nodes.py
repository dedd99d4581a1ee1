"""The PartiQL AST: statements, conditions, operands and value literals.

Values stay unevaluated (a ``?`` is bound per request), so one parsed statement serves
every execution of its text."""

from __future__ import annotations

from dataclasses import dataclass

Path = tuple[str | int, ...]


# ---- values and operands ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Constant:
    """A scalar literal, already in wire form: 'text', 12.5, TRUE, NULL."""

    value: dict


@dataclass(frozen=True, slots=True)
class Parameter:
    """The ``index``-th ``?`` of the statement."""

    index: int


@dataclass(frozen=True, slots=True)
class TupleValue:
    """``{'name': value, ...}``: a map."""

    members: tuple[tuple[str, Value], ...]


@dataclass(frozen=True, slots=True)
class ListValue:
    elements: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class SetValue:
    """``<<value, ...>>``: a string, number or binary set."""

    elements: tuple[Value, ...]


Value = Constant | Parameter | TupleValue | ListValue | SetValue
VALUE_NODES = (Constant, Parameter, TupleValue, ListValue, SetValue)


@dataclass(frozen=True, slots=True)
class PathRef:
    path: Path


@dataclass(frozen=True, slots=True)
class Call:
    """A function applied to operands: ``size(a)``, ``list_append(a, [1])``, ..."""

    name: str
    arguments: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Arithmetic:
    operator: str
    left: Operand
    right: Operand


Operand = Value | PathRef | Call | Arithmetic


# ---- conditions --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    operator: str
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class Between:
    subject: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True, slots=True)
class In:
    subject: Operand
    options: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Is:
    """``path IS [NOT] MISSING`` or ``path IS [NOT] NULL`` (NULL: a NULL value or none)."""

    path: PathRef
    what: str
    negated: bool


@dataclass(frozen=True, slots=True)
class FunctionCondition:
    """begins_with, contains, attribute_type, attribute_exists, attribute_not_exists."""

    name: str
    arguments: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class And:
    left: Condition
    right: Condition


@dataclass(frozen=True, slots=True)
class Or:
    left: Condition
    right: Condition


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition


Condition = Comparison | Between | In | Is | FunctionCondition | And | Or | Not


# ---- statements ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Select:
    table: str
    index: str | None
    projection: tuple[Path, ...] | None  # None: every attribute (``*``)
    where: Condition | None
    order_by: tuple[tuple[Path, bool], ...] = ()  # (path, descending)


@dataclass(frozen=True, slots=True)
class Insert:
    table: str
    item: TupleValue


@dataclass(frozen=True, slots=True)
class SetAction:
    path: Path
    value: Operand


@dataclass(frozen=True, slots=True)
class RemoveAction:
    path: Path


@dataclass(frozen=True, slots=True)
class Update:
    table: str
    actions: tuple[SetAction | RemoveAction, ...]
    where: Condition
    returning: str | None  # ALL_OLD, UPDATED_OLD, ALL_NEW or UPDATED_NEW


@dataclass(frozen=True, slots=True)
class Delete:
    table: str
    where: Condition
    returning: str | None  # ALL_OLD


@dataclass(frozen=True, slots=True)
class Exists:
    """``EXISTS(SELECT ...)``: a condition on one item, checked within a transaction."""

    select: Select


Statement = Select | Insert | Update | Delete | Exists


@dataclass(frozen=True, slots=True)
class Parsed:
    statement: Statement
    parameter_count: int
