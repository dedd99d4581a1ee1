"""Random UpdateExpressions on random items: the server's result (or refusal) agrees
with a plain-Python reference model of DynamoDB's update semantics."""

from __future__ import annotations

import copy
from decimal import Decimal

from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEY = {"pk": {"S": "k"}}
TARGETS = [("a",), ("b",), ("c",), ("m", "x"), ("m", "y"), ("l", 0), ("l", 3)]
SOURCES = TARGETS + [("m",), ("l",), ("zz",)]

numbers = st.integers(-20, 20).map(lambda n: {"N": str(n)})
number_sets = st.sets(st.integers(0, 5), min_size=1, max_size=3).map(lambda s: {"NS": sorted(map(str, s))})
lists = st.lists(numbers, max_size=2).map(lambda v: {"L": v})
values = st.one_of(numbers, number_sets, lists, st.just({"S": "s"}))
items = st.fixed_dictionaries(
    {},
    optional={
        "a": values, "b": values, "c": values,
        "m": st.one_of(st.fixed_dictionaries({}, optional={"x": values}).map(lambda m: {"M": m}), numbers),
        "l": st.one_of(st.lists(values, max_size=3).map(lambda v: {"L": v}), numbers),
    },
)


class Refused(Exception):
    """The reference model's verdict that DynamoDB refuses the update."""


def get(item, path):
    value = item.get(path[0])
    for step in path[1:]:
        container = None if value is None else value.get("L" if isinstance(step, int) else "M")
        if container is None:
            return None
        value = (container[step] if step < len(container) else None) if isinstance(step, int) else container.get(step)
    return value


def parent(item, path, create_error: bool):
    if len(path) == 1:
        return item
    holder = get(item, path[:-1])
    container = None if holder is None else holder.get("L" if isinstance(path[-1], int) else "M")
    if container is None and create_error:
        raise Refused
    return container


def put(item, path, value):
    container = parent(item, path, create_error=True)
    step = path[-1]
    if isinstance(step, int) and step >= len(container):
        container.append(value)
    else:
        container[step] = value


def existing(value):
    if value is None:
        raise Refused
    return value


def number(value):
    if "N" not in existing(value):
        raise Refused
    return Decimal(value["N"])


def text(path):
    return path[0] + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path[1:])


@st.composite
def set_operands(draw, placeholders):
    kind = draw(st.sampled_from(["value", "path", "plus", "minus", "if_not_exists", "list_append"]))
    source = draw(st.sampled_from(SOURCES))
    if kind == "value":
        value = draw(values)
        return placeholders(value), lambda old: value
    if kind == "path":
        return text(source), lambda old: existing(get(old, source))
    if kind in ("plus", "minus"):
        value = draw(numbers)
        sign = 1 if kind == "plus" else -1
        operator = "+" if kind == "plus" else "-"

        def arithmetic(old):
            total = number(get(old, source)) + sign * Decimal(value["N"])
            return {"N": str(total)}

        return f"{text(source)} {operator} {placeholders(value)}", arithmetic
    if kind == "if_not_exists":
        value = draw(values)
        return f"if_not_exists({text(source)}, {placeholders(value)})", lambda old: get(old, source) or value
    value = draw(lists)

    def append(old):
        current = get(old, source)
        if current is None or "L" not in current:
            raise Refused
        return {"L": current["L"] + value["L"]}

    return f"list_append({text(source)}, {placeholders(value)})", append


@st.composite
def updates(draw):
    supplied: dict = {}

    def placeholder(value):
        name = f":v{len(supplied)}"
        supplied[name] = value
        return name

    targets = draw(st.lists(st.sampled_from(TARGETS), min_size=1, max_size=4, unique=True))
    sections: dict[str, list[str]] = {}
    actions = []
    for target in targets:
        kind = draw(st.sampled_from(["SET", "SET", "REMOVE", "ADD", "DELETE"]))
        if kind == "SET":
            rendered, compute = draw(set_operands(placeholder))
            sections.setdefault("SET", []).append(f"{text(target)} = {rendered}")
        elif kind == "REMOVE":
            compute = None
            sections.setdefault("REMOVE", []).append(text(target))
        else:
            compute = draw(st.one_of(numbers, number_sets) if kind == "ADD" else number_sets)
            sections.setdefault(kind, []).append(f"{text(target)} {placeholder(compute)}")
        actions.append((kind, target, compute))
    expression = " ".join(f"{name} {', '.join(parts)}" for name, parts in sections.items())
    return expression, supplied, actions


def reference_update(old, actions):
    new = copy.deepcopy(old)
    computed = [(target, compute(old)) for kind, target, compute in actions if kind == "SET"]
    for target, value in computed:
        put(new, target, value)
    for kind, target, operand in actions:
        if kind not in ("ADD", "DELETE"):
            continue
        current = get(new, target)
        (tag,) = operand
        if current is None:
            if kind == "ADD":
                put(new, target, operand)
            else:
                parent(new, target, create_error=True)
            continue
        if tag not in current:
            raise Refused
        if tag == "N":
            put(new, target, {"N": str(Decimal(current["N"]) + Decimal(operand["N"]))})
        elif kind == "ADD":
            put(new, target, {"NS": sorted(set(current["NS"]) | set(operand["NS"]))})
        else:
            remaining = set(current["NS"]) - set(operand["NS"])
            if remaining:
                put(new, target, {"NS": sorted(remaining)})
            else:
                remove(new, target)
    for target in sorted((t for kind, t, _ in actions if kind == "REMOVE"), reverse=True):
        remove(new, target)
    return new


def remove(item, path):
    container = parent(item, path, create_error=True)
    step = path[-1]
    if isinstance(step, int):
        if step < len(container):
            del container[step]
    else:
        container.pop(step, None)


def normalized(item):
    """Sets compare regardless of order; numbers by value."""
    def fix(value):
        (tag,) = value
        if tag == "NS":
            return {"NS": sorted(Decimal(n) for n in value["NS"])}
        if tag == "N":
            return {"N": Decimal(value["N"])}
        if tag == "L":
            return {"L": [fix(v) for v in value["L"]]}
        if tag == "M":
            return {"M": {k: fix(v) for k, v in value["M"].items()}}
        return value
    return {name: fix(value) for name, value in item.items()}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(item=items, update=updates())
def test_random_updates_match_the_reference_model(ddb, hash_table, item, update):
    expression, supplied, actions = update
    old = {**KEY, **item}
    ddb.put_item(TableName=hash_table, Item=old)
    try:
        expected = reference_update(old, actions)
    except Refused:
        expected = None
    kwargs = {"TableName": hash_table, "Key": KEY, "UpdateExpression": expression}
    if supplied:
        kwargs["ExpressionAttributeValues"] = supplied
    try:
        ddb.update_item(**kwargs)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ValidationException"
        assert expected is None, (expression, error.response["Error"]["Message"])
        assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"] == old
        return
    assert expected is not None, expression
    assert normalized(ddb.get_item(TableName=hash_table, Key=KEY)["Item"]) == normalized(expected), expression
