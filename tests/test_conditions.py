"""Conditions: conditional PutItem/DeleteItem/UpdateItem (ConditionExpression and the
legacy Expected), and random conditions evaluated by the server (as Scan filters)
against a plain-Python reference model of DynamoDB's condition semantics."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEY = {"pk": {"S": "k"}}


def error_of(excinfo) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


# ---- conditional writes --------------------------------------------------------------------


def test_put_if_not_exists(ddb, hash_table):
    kwargs = {"TableName": hash_table, "ConditionExpression": "attribute_not_exists(pk)"}
    ddb.put_item(Item={**KEY, "v": {"N": "1"}}, **kwargs)
    with pytest.raises(ClientError) as excinfo:
        ddb.put_item(Item={**KEY, "v": {"N": "2"}}, **kwargs)
    assert error_of(excinfo) == ("ConditionalCheckFailedException", "The conditional request failed")
    assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"]["v"] == {"N": "1"}


def test_optimistic_locking_with_versions(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**KEY, "version": {"N": "1"}})
    ddb.update_item(
        TableName=hash_table, Key=KEY, UpdateExpression="SET version = version + :one",
        ConditionExpression="version = :expected",
        ExpressionAttributeValues={":one": {"N": "1"}, ":expected": {"N": "1"}},
    )
    with pytest.raises(ClientError) as excinfo:
        ddb.update_item(
            TableName=hash_table, Key=KEY, UpdateExpression="SET version = version + :one",
            ConditionExpression="version = :expected",
            ExpressionAttributeValues={":one": {"N": "1"}, ":expected": {"N": "1"}},
        )
    assert error_of(excinfo)[0] == "ConditionalCheckFailedException"
    assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"]["version"] == {"N": "2"}


def test_failed_condition_returns_old_item_when_asked(ddb, hash_table):
    old = {**KEY, "state": {"S": "busy"}}
    ddb.put_item(TableName=hash_table, Item=old)
    with pytest.raises(ClientError) as excinfo:
        ddb.delete_item(
            TableName=hash_table, Key=KEY, ConditionExpression="#s = :idle",
            ExpressionAttributeNames={"#s": "state"}, ExpressionAttributeValues={":idle": {"S": "idle"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert excinfo.value.response["Item"] == old
    with pytest.raises(ClientError) as excinfo:
        ddb.delete_item(
            TableName=hash_table, Key=KEY, ConditionExpression="#s = :idle",
            ExpressionAttributeNames={"#s": "state"}, ExpressionAttributeValues={":idle": {"S": "idle"}},
        )
    assert "Item" not in excinfo.value.response
    ddb.delete_item(
        TableName=hash_table, Key=KEY, ConditionExpression="#s = :busy",
        ExpressionAttributeNames={"#s": "state"}, ExpressionAttributeValues={":busy": {"S": "busy"}},
    )
    assert "Item" not in ddb.get_item(TableName=hash_table, Key=KEY)


def test_condition_on_missing_item_sees_no_attributes(ddb, hash_table):
    with pytest.raises(ClientError) as excinfo:
        ddb.update_item(
            TableName=hash_table, Key=KEY, UpdateExpression="SET a = :v",
            ConditionExpression="attribute_exists(pk)", ExpressionAttributeValues={":v": {"N": "1"}},
        )
    assert error_of(excinfo)[0] == "ConditionalCheckFailedException"
    assert "Item" not in ddb.get_item(TableName=hash_table, Key=KEY)


def test_legacy_expected(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**KEY, "n": {"N": "5"}}, Expected={"pk": {"Exists": False}})
    ddb.put_item(
        TableName=hash_table, Item={**KEY, "n": {"N": "6"}},
        Expected={"n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "5"}]},
                  "zz": {"ComparisonOperator": "NULL"}},
    )
    with pytest.raises(ClientError) as excinfo:
        ddb.put_item(TableName=hash_table, Item=KEY, Expected={"n": {"Value": {"N": "5"}}})
    assert error_of(excinfo)[0] == "ConditionalCheckFailedException"
    ddb.put_item(
        TableName=hash_table, Item=KEY, ConditionalOperator="OR",
        Expected={"n": {"Value": {"N": "5"}}, "pk": {"Exists": True, "Value": {"S": "k"}}},
    )
    assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"] == KEY


@pytest.mark.parametrize(
    "request_extra, message",
    [
        ({"ConditionExpression": "a = :v", "Expected": {"a": {"Exists": False}},
          "ExpressionAttributeValues": {":v": {"N": "1"}}},
         ("Can not use both expression and non-expression parameters in the same request: "
         "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}")),
        ({"ExpressionAttributeValues": {":v": {"N": "1"}}},
         "ExpressionAttributeValues can only be specified when using expressions"),
        ({"ConditionExpression": "a = :v", "ExpressionAttributeValues": {":v": {"N": "1"}, ":w": {"N": "1"}}},
         "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"),
        ({"ConditionExpression": "a = :v", "ExpressionAttributeValues": {}},
         "ExpressionAttributeValues must not be empty"),
        ({"ConditionExpression": "a = :v", "ExpressionAttributeValues": {"v": {"N": "1"}}},
         'ExpressionAttributeValues contains invalid key: Syntax error; key: "v"'),
        ({"ConditionExpression": "#a = :v", "ExpressionAttributeNames": {"a": "a"},
          "ExpressionAttributeValues": {":v": {"N": "1"}}},
         'ExpressionAttributeNames contains invalid key: Syntax error; key: "a"'),
    ],
)
def test_condition_parameter_refusals(ddb, hash_table, request_extra, message):
    with pytest.raises(ClientError) as excinfo:
        ddb.put_item(TableName=hash_table, Item=KEY, **request_extra)
    assert error_of(excinfo) == ("ValidationException", message)


E = "Invalid ConditionExpression: "


@pytest.mark.parametrize(
    "expression, values, message",
    [
        ("a =", {}, E + 'Syntax error; token: "<EOF>", near: "="'),
        ("a = :v AND", {":v": {"N": "1"}}, E + 'Syntax error; token: "<EOF>", near: "AND"'),
        ("a == :v", {":v": {"N": "1"}}, E + 'Syntax error; token: "=", near: "== :v"'),
        ("a IN ()", {}, E + 'Syntax error; token: ")", near: "()"'),
        ("attribute_type()", {}, E + 'Syntax error; token: ")", near: "()"'),
        ("a = :v", {":w": {"N": "1"}},
         E + "An expression attribute value used in expression is not defined; attribute value: :v"),
        ("#a = :v", {":v": {"N": "1"}},
         E + "An expression attribute name used in the document path is not defined; attribute name: #a"),
        ("size = :v", {":v": {"N": "1"}}, E + "Attribute name is a reserved keyword; reserved keyword: size"),
        ("foo(a)", {}, E + "Invalid function name; function: foo"),
        ("begins_with(a)", {},
         E + "Incorrect number of operands for operator or function; operator or function: begins_with, number of operands: 1"),
        ("begins_with(a, :v)", {":v": {"N": "1"}},
         E + "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"),
        ("attribute_exists(:v)", {":v": {"N": "1"}},
         E + "Operator or function requires a document path; operator or function: attribute_exists"),
        ("attribute_type(a, :v)", {":v": {"S": "STRING"}},
         E + "Invalid attribute type name found; type: STRING, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"),
        ("size(a)", {}, E + "The function is not allowed to be used this way in an expression; function: size"),
        ("contains(a, :v) = :v", {":v": {"N": "1"}},
         E + "The function is not allowed to be used this way in an expression; function: contains"),
        ("a = a", {}, E + "The first operand must be distinct from the remaining operands for this operator or "
         "function; operator: =, first operand: [a]"),
        ("a BETWEEN :hi AND :lo", {":lo": {"N": "1"}, ":hi": {"N": "2"}},
         E + "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
         "lower bound operand: AttributeValue: {N:2}, upper bound operand: AttributeValue: {N:1}"),
        ("a BETWEEN :lo AND :hi", {":lo": {"N": "1"}, ":hi": {"S": "2"}},
         E + "The BETWEEN operator requires same data type for lower and upper bounds; "
         "lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:2}"),
        ("((a = :v))", {":v": {"N": "1"}}, E + "The expression has redundant parentheses;"),
        ("", {}, E + "The expression can not be empty;"),
        ("a = :v OR " * 410 + "a = :v", {":v": {"N": "1"}},
         E + "Expression size has exceeded the maximum allowed size; expression size: 4106"),
        ("NOT " * 1000 + "a = :v", {":v": {"N": "1"}}, E + "Expression size has exceeded the maximum allowed size;"),
    ],
)
def test_malformed_conditions(ddb, hash_table, expression, values, message):
    kwargs = {"TableName": hash_table, "Item": KEY, "ConditionExpression": expression}
    if values:
        kwargs["ExpressionAttributeValues"] = values
    with pytest.raises(ClientError) as excinfo:
        ddb.put_item(**kwargs)
    assert error_of(excinfo) == ("ValidationException", message)


# ---- random conditions against a reference model --------------------------------------------

TYPE_TAGS = ("S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M")
scalar_strings = st.text(alphabet="ab\u00e9", min_size=1, max_size=3)
numbers = st.decimals(min_value=-50, max_value=50, places=1).map(lambda d: {"N": str(d)})
strings = scalar_strings.map(lambda s: {"S": s})
binaries = st.binary(min_size=1, max_size=3).map(lambda b: {"B": b})
ordered_values = st.one_of(numbers, strings, binaries)
values_any = st.one_of(
    ordered_values,
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.sets(scalar_strings, min_size=1, max_size=3).map(lambda s: {"SS": sorted(s)}),
    st.sets(st.integers(-3, 3), min_size=1, max_size=3).map(lambda s: {"NS": [str(n) for n in sorted(s)]}),
    st.lists(ordered_values, max_size=3).map(lambda v: {"L": v}),
)
items = st.fixed_dictionaries(
    {},
    optional={
        "a": values_any,
        "b": values_any,
        "m": st.fixed_dictionaries({}, optional={"x": values_any, "y": ordered_values}).map(lambda m: {"M": m}),
        "l": st.lists(values_any, max_size=3).map(lambda v: {"L": v}),
    },
)
PATHS = [("a",), ("b",), ("m",), ("l",), ("m", "x"), ("m", "y"), ("l", 0), ("l", 1), ("zz",)]


def decimal_or_none(value):
    return Decimal(value["N"]) if value is not None and "N" in value else None


def ref_get(item, path):
    value = item.get(path[0])
    for step in path[1:]:
        if value is None:
            return None
        container = value.get("L" if isinstance(step, int) else "M")
        if container is None:
            return None
        value = container[step] if isinstance(step, int) and step < len(container) else (
            container.get(step) if isinstance(step, str) else None)
    return value


def ref_equal(a, b):
    if a is None or b is None or a.keys() != b.keys():
        return False
    (tag,) = a
    if tag == "N":
        return Decimal(a["N"]) == Decimal(b["N"])
    if tag in ("SS", "BS"):
        return set(a[tag]) == set(b[tag])
    if tag == "NS":
        return {Decimal(n) for n in a[tag]} == {Decimal(n) for n in b[tag]}
    if tag == "L":
        return len(a["L"]) == len(b["L"]) and all(map(ref_equal, a["L"], b["L"]))
    if tag == "M":
        return a["M"].keys() == b["M"].keys() and all(ref_equal(a["M"][k], b["M"][k]) for k in a["M"])
    return a[tag] == b[tag]


def ref_order(a, b):
    """-1/0/1 for comparable operands (same scalar type), None otherwise."""
    if a is None or b is None or a.keys() != b.keys() or next(iter(a)) not in ("S", "N", "B"):
        return None
    (tag,) = a
    x, y = (Decimal(a["N"]), Decimal(b["N"])) if tag == "N" else (
        (a["S"].encode(), b["S"].encode()) if tag == "S" else (a["B"], b["B"]))
    return (x > y) - (x < y)


def ref_compare(op, a, b):
    if op == "=":
        return ref_equal(a, b)
    if op == "<>":
        return not ref_equal(a, b)
    order = ref_order(a, b)
    return order is not None and {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[op]


def ref_size(value):
    if value is None or next(iter(value)) in ("N", "BOOL", "NULL"):
        return None
    (tag,) = value
    contents = value[tag].encode() if tag == "S" else value[tag]
    return {"N": str(len(contents))}


def ref_contains(value, operand):
    if value is None:
        return False
    (tag,) = value
    if tag in ("S", "B"):
        return tag in operand and operand[tag] in value[tag]
    if tag in ("SS", "NS", "BS"):
        member = tag[0]
        return member in operand and any(ref_equal({member: m}, operand) for m in value[tag])
    if tag == "L":
        return any(ref_equal(element, operand) for element in value["L"])
    return False


class Render:
    """Accumulates placeholders while a condition is written as text."""

    def __init__(self):
        self.values: dict = {}
        self.names: dict = {}
        self.counter = itertools.count()

    def value(self, value) -> str:
        name = f":v{next(self.counter)}"
        self.values[name] = value
        return name

    def path(self, path, use_names: bool) -> str:
        head = path[0]
        if use_names:
            self.names[f"#{head}"] = head
            head = f"#{head}"
        return head + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path[1:])


@st.composite
def leaves(draw):
    path = draw(st.sampled_from(PATHS))
    use_names = draw(st.booleans())
    kind = draw(st.sampled_from(["compare", "between", "in", "exists", "not_exists", "type", "begins", "contains", "size"]))
    if kind == "compare":
        op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">="]))
        value = draw(values_any if op in ("=", "<>") else ordered_values)
        return (lambda r: f"{r.path(path, use_names)} {op} {r.value(value)}",
                lambda item: ref_compare(op, ref_get(item, path), value))
    if kind == "between":
        low, high = sorted(draw(st.lists(numbers, min_size=2, max_size=2)), key=decimal_or_none)
        return (lambda r: f"{r.path(path, use_names)} BETWEEN {r.value(low)} AND {r.value(high)}",
                lambda item: ref_compare(">=", ref_get(item, path), low) and ref_compare("<=", ref_get(item, path), high))
    if kind == "in":
        options = draw(st.lists(values_any, min_size=1, max_size=3))
        return (lambda r: f"{r.path(path, use_names)} IN ({', '.join(r.value(o) for o in options)})",
                lambda item: any(ref_equal(ref_get(item, path), o) for o in options))
    if kind in ("exists", "not_exists"):
        expected = kind == "exists"
        return (lambda r: f"attribute_{kind}({r.path(path, use_names)})",
                lambda item: (ref_get(item, path) is not None) == expected)
    if kind == "type":
        tag = draw(st.sampled_from(TYPE_TAGS))
        return (lambda r: f"attribute_type({r.path(path, use_names)}, {r.value({'S': tag})})",
                lambda item: ref_get(item, path) is not None and next(iter(ref_get(item, path))) == tag)
    if kind == "begins":
        prefix = draw(st.one_of(strings, binaries))
        tag = next(iter(prefix))
        return (lambda r: f"begins_with({r.path(path, use_names)}, {r.value(prefix)})",
                lambda item: (ref_get(item, path) or {}).keys() == {tag} and ref_get(item, path)[tag].startswith(prefix[tag]))
    if kind == "contains":
        operand = draw(ordered_values)
        return (lambda r: f"contains({r.path(path, use_names)}, {r.value(operand)})",
                lambda item: ref_contains(ref_get(item, path), operand))
    op = draw(st.sampled_from(["=", "<>", "<", ">="]))
    size = draw(st.integers(0, 4).map(lambda n: {"N": str(n)}))
    return (lambda r: f"size({r.path(path, use_names)}) {op} {r.value(size)}",
            lambda item: ref_compare(op, ref_size(ref_get(item, path)), size))


def combine(children):
    def negate(c):
        return (lambda r: f"NOT ({c[0](r)})", lambda item: not c[1](item))

    def both(pair, word):
        (lr, le), (rr, re_) = pair
        if word == "AND":
            return (lambda r: f"({lr(r)}) AND ({rr(r)})", lambda item: le(item) and re_(item))
        return (lambda r: f"({lr(r)}) OR ({rr(r)})", lambda item: le(item) or re_(item))

    return st.one_of(
        children.map(negate),
        st.tuples(children, children).map(lambda p: both(p, "AND")),
        st.tuples(children, children).map(lambda p: both(p, "OR")),
    )


conditions = st.recursive(leaves(), combine, max_leaves=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stored_items=st.lists(items, min_size=1, max_size=6), condition=conditions)
def test_random_conditions_match_the_reference_model(ddb, hash_table, stored_items, condition):
    render, reference = condition
    writer = Render()
    text = render(writer)
    keyed = [{"pk": {"S": f"i{i}"}, **item} for i, item in enumerate(stored_items)]
    ddb.batch_write_item(RequestItems={hash_table: [{"PutRequest": {"Item": item}} for item in keyed]})
    try:
        kwargs = {"TableName": hash_table, "FilterExpression": text}
        if writer.values:
            kwargs["ExpressionAttributeValues"] = writer.values
        if writer.names:
            kwargs["ExpressionAttributeNames"] = writer.names
        found = {item["pk"]["S"] for item in ddb.scan(**kwargs)["Items"]}
        expected = {item["pk"]["S"] for item in keyed if reference(item)}
        assert found == expected, text
    finally:
        ddb.batch_write_item(
            RequestItems={hash_table: [{"DeleteRequest": {"Key": {"pk": item["pk"]}}} for item in keyed]}
        )
