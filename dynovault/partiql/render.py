"""PartiQL conditions, projections and SET/REMOVE clauses written as DynamoDB
expressions, so that statements run on the same expression compiler and evaluator
(and its cache) as the item operations.

Every attribute name becomes a ``#n`` placeholder and every value a ``:v`` placeholder,
so no reserved word or odd character in a name can change what an expression means.
A rendering depends on the statement's text only; its values are bound per request."""

from __future__ import annotations

from dataclasses import dataclass, field

from dynovault.partiql import nodes
from dynovault.partiql.binding import bind
from dynovault.partiql.errors import unsupported

NULL_TYPE = nodes.Constant({"S": "NULL"})


@dataclass
class Rendering:
    """The placeholders a set of expressions uses: names by placeholder, and the value
    nodes to bind for each value placeholder."""

    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, nodes.Value] = field(default_factory=dict)
    _by_name: dict[str, str] = field(default_factory=dict)

    def name(self, attribute: str) -> str:
        placeholder = self._by_name.get(attribute)
        if placeholder is None:
            placeholder = self._by_name[attribute] = f"#n{len(self._by_name)}"
            self.names[placeholder] = attribute
        return placeholder

    def value(self, value: nodes.Value) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def bound_values(self, parameters: list[dict]) -> dict[str, dict]:
        return {placeholder: bind(value, parameters) for placeholder, value in self.values.items()}

    # ---- paths and operands --------------------------------------------------------------

    def path(self, path: nodes.Path) -> str:
        text = self.name(path[0])
        for element in path[1:]:
            text += f"[{element}]" if isinstance(element, int) else "." + self.name(element)
        return text

    def operand(self, operand: nodes.Operand) -> str:
        if isinstance(operand, nodes.PathRef):
            return self.path(operand.path)
        if isinstance(operand, nodes.VALUE_NODES):
            return self.value(operand)
        if isinstance(operand, nodes.Call) and operand.name in ("size", "list_append"):
            return f"{operand.name}({', '.join(self.operand(argument) for argument in operand.arguments)})"
        if isinstance(operand, nodes.Arithmetic):
            return f"{self.operand(operand.left)} {operand.operator} {self.operand(operand.right)}"
        raise unsupported(f"{operand.name} used as a value")

    # ---- conditions ------------------------------------------------------------------------

    def compared(self, operand: nodes.Operand) -> str:
        """An operand of a condition: a path, a value or ``size(path)``, as DynamoDB's
        conditions compare them."""
        if isinstance(operand, nodes.Arithmetic) or (isinstance(operand, nodes.Call) and operand.name != "size"):
            raise unsupported("arithmetic and update functions in a condition")
        return self.operand(operand)

    def condition(self, condition: nodes.Condition) -> str:
        if isinstance(condition, nodes.Comparison):
            return f"{self.compared(condition.left)} {condition.operator} {self.compared(condition.right)}"
        if isinstance(condition, nodes.Between):
            low, high = self.compared(condition.low), self.compared(condition.high)
            return f"{self.compared(condition.subject)} BETWEEN {low} AND {high}"
        if isinstance(condition, nodes.In):
            options = ", ".join(self.compared(option) for option in condition.options)
            return f"{self.compared(condition.subject)} IN ({options})"
        if isinstance(condition, nodes.Is):
            return self._is(condition)
        if isinstance(condition, nodes.FunctionCondition):
            return f"{condition.name}({', '.join(self.compared(argument) for argument in condition.arguments)})"
        if isinstance(condition, nodes.And):
            return f"({self.condition(condition.left)}) AND ({self.condition(condition.right)})"
        if isinstance(condition, nodes.Or):
            return f"({self.condition(condition.left)}) OR ({self.condition(condition.right)})"
        return f"NOT ({self.condition(condition.operand)})"

    def _is(self, condition: nodes.Is) -> str:
        path = self.path(condition.path.path)
        if condition.what == "MISSING":
            return f"attribute_exists({path})" if condition.negated else f"attribute_not_exists({path})"
        # PartiQL's NULL test holds for a NULL value and for no value at all.
        test = f"attribute_not_exists({path}) OR attribute_type({path}, {self.value(NULL_TYPE)})"
        return f"NOT ({test})" if condition.negated else test

    # ---- projections and updates ------------------------------------------------------------

    def projection(self, paths: tuple[nodes.Path, ...]) -> str:
        return ", ".join(self.path(path) for path in paths)

    def update(self, actions: tuple[nodes.SetAction | nodes.RemoveAction, ...]) -> str:
        """SET and REMOVE clauses; ``set_add`` and ``set_delete`` become ADD and DELETE."""
        sections: dict[str, list[str]] = {"SET": [], "REMOVE": [], "ADD": [], "DELETE": []}
        for action in actions:
            path = self.path(action.path)
            if isinstance(action, nodes.RemoveAction):
                sections["REMOVE"].append(path)
            elif isinstance(action.value, nodes.Call) and action.value.name in ("set_add", "set_delete"):
                section = "ADD" if action.value.name == "set_add" else "DELETE"
                sections[section].append(f"{path} {self.operand(action.value.arguments[1])}")
            else:
                sections["SET"].append(f"{path} = {self.operand(action.value)}")
        return " ".join(f"{section} {', '.join(parts)}" for section, parts in sections.items() if parts)


def conjuncts(condition: nodes.Condition | None) -> list[nodes.Condition]:
    """The conditions a WHERE joins with AND at its top level."""
    if condition is None:
        return []
    if isinstance(condition, nodes.And):
        return conjuncts(condition.left) + conjuncts(condition.right)
    return [condition]


def equality(condition: nodes.Condition) -> tuple[str, nodes.Value] | None:
    """``attribute = value`` (either way round) as (attribute, value)."""
    if not isinstance(condition, nodes.Comparison) or condition.operator != "=":
        return None
    for side, other in ((condition.left, condition.right), (condition.right, condition.left)):
        if isinstance(side, nodes.PathRef) and len(side.path) == 1 and isinstance(other, nodes.VALUE_NODES):
            return str(side.path[0]), other
    return None


def key_equalities(where: nodes.Condition | None) -> dict[str, nodes.Value]:
    """The attributes a WHERE fixes to one value through its top-level AND."""
    found: dict[str, nodes.Value] = {}
    for condition in conjuncts(where):
        pair = equality(condition)
        if pair is not None:
            found.setdefault(*pair)
    return found
