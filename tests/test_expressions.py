"""ProjectionExpression through unmodified boto3 (GetItem, Query, Scan): nested paths
merge as DynamoDB merges them, random projections agree with a reference model, and
malformed projections get DynamoDB's ValidationException."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEY = {"pk": {"S": "k"}}
ITEM = {
    **KEY,
    "a": {"M": {"b": {"S": "ab"}, "c": {"L": [{"N": "0"}, {"M": {"d": {"N": "1"}, "e": {"N": "2"}}}, {"N": "2"}]}}},
    "l": {"L": [{"S": "l0"}, {"S": "l1"}, {"S": "l2"}, {"S": "l3"}]},
    "name": {"S": "reserved"},
    "dotted.name": {"S": "one attribute"},
}


def project(ddb, table, expression, names=None):
    kwargs = {"TableName": table, "Key": KEY, "ProjectionExpression": expression}
    if names:
        kwargs["ExpressionAttributeNames"] = names
    return ddb.get_item(**kwargs).get("Item")


@pytest.fixture
def item_table(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item=ITEM)
    return hash_table


@pytest.mark.parametrize(
    "expression, names, expected",
    [
        ("a.b", None, {"a": {"M": {"b": {"S": "ab"}}}}),
        ("a.c[1].e, a.b", None, {"a": {"M": {"c": {"L": [{"M": {"e": {"N": "2"}}}]}, "b": {"S": "ab"}}}}),
        ("l[3], l[1]", None, {"l": {"L": [{"S": "l1"}, {"S": "l3"}]}}),
        ("l[9], nothing", None, None),
        ("#n, #d", {"#n": "name", "#d": "dotted.name"}, {"name": {"S": "reserved"}, "dotted.name": {"S": "one attribute"}}),
        ("#a.#c[0]", {"#a": "a", "#c": "c"}, {"a": {"M": {"c": {"L": [{"N": "0"}]}}}}),
        ("a.b.c, l.x", None, None),
    ],
)
def test_projections(ddb, item_table, expression, names, expected):
    assert project(ddb, item_table, expression, names) == (expected or {})


P = "Invalid ProjectionExpression: "


@pytest.mark.parametrize(
    "expression, names, message",
    [
        ("!!!", None, P + 'Syntax error; token: "!", near: "!!"'),
        ("a b", None, P + 'Syntax error; token: "b", near: "a b"'),
        ("a,", None, P + 'Syntax error; token: "<EOF>", near: ","'),
        ("a[x]", None, P + 'Syntax error; token: "x", near: "[x]"'),
        ("a.", None, P + 'Syntax error; token: "<EOF>", near: "."'),
        ("name", None, P + "Attribute name is a reserved keyword; reserved keyword: name"),
        ("#x", {"#y": "y"}, P + "An expression attribute name used in the document path is not defined; attribute name: #x"),
        ("a, a.b", None, P + "Two document paths overlap with each other; must remove or rewrite one of these paths; "
         "path one: [a], path two: [a, b]"),
        ("#p, pk", {"#p": "pk"}, P + "Two document paths overlap with each other; must remove or rewrite one of these "
         "paths; path one: [pk], path two: [pk]"),
        ("a.b, a[0]", None, P + "Two document paths conflict with each other; must remove or rewrite one of these "
         "paths; path one: [a, b], path two: [a, [0]]"),
        ("a", {"#a": "a"}, "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a}"),
        (" ", None, P + "The expression can not be empty;"),
    ],
)
def test_malformed_projections(ddb, item_table, expression, names, message):
    with pytest.raises(ClientError) as excinfo:
        project(ddb, item_table, expression, names)
    error = excinfo.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("ValidationException", message)


PATHS = [("a",), ("a", "b"), ("a", "c"), ("a", "c", 0), ("a", "c", 1, "d"), ("a", "c", 1, "e"), ("a", "c", 2),
         ("l", 0), ("l", 2), ("l", 3), ("pk",), ("zz",), ("a", "zz"), ("l", 7)]


def disjoint(paths):
    """Keep the paths that neither contain nor conflict with an earlier one."""
    kept = []
    for path in paths:
        clashes = any(
            all(x == y for x, y in zip(path, other)) or any(
                isinstance(x, int) != isinstance(y, int) for x, y in zip(path, other))
            for other in kept
        )
        if not clashes:
            kept.append(path)
    return kept


def reference_projection(item, paths):
    """DynamoDB's projection: each present path copied; list elements packed in index order."""
    def value_at(path):
        value = item.get(path[0])
        for step in path[1:]:
            inner = None if value is None else value.get("L" if isinstance(step, int) else "M")
            if inner is None:
                return None
            value = (inner[step] if step < len(inner) else None) if isinstance(step, int) else inner.get(step)
        return value

    tree: dict = {}
    for path in paths:
        value = value_at(path)
        if value is None:
            continue
        node = tree
        for step in path[:-1]:
            node = node.setdefault(step, {})
        node[path[-1]] = ("leaf", value)

    def build(node):
        if isinstance(node, tuple):
            return node[1]
        if all(isinstance(k, int) for k in node):
            return {"L": [build(node[k]) for k in sorted(node)]}
        return {"M": {k: build(v) for k, v in node.items()}}

    return {name: build(child) for name, child in tree.items()}


def render(path):
    return path[0] + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path[1:])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(paths=st.lists(st.sampled_from(PATHS), min_size=1, max_size=5).map(disjoint))
def test_random_projections_match_the_reference_model(ddb, item_table, paths):
    expression = ", ".join(render(p) for p in paths)
    assert project(ddb, item_table, expression) == reference_projection(ITEM, paths), expression


expression_text = st.text(alphabet="ab#:v()[]0123 ,.=<>+-!", max_size=20) | st.lists(
    st.sampled_from(["a", "#n", ":v", "(", ")", "[1]", ".", ",", "=", "<>", "AND", "OR", "NOT", "BETWEEN", "IN",
                     "SET", "REMOVE", "ADD", "DELETE", "size", "contains", "if_not_exists", "+", "-", "name"]),
    max_size=10,
).map(" ".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=expression_text, member=st.sampled_from(["ProjectionExpression", "ConditionExpression", "UpdateExpression"]))
def test_arbitrary_text_is_answered_never_crashes(ddb, item_table, text, member):
    kwargs = {"TableName": item_table, "Key": KEY, member: text,
              "ExpressionAttributeNames": {"#n": "n"}, "ExpressionAttributeValues": {":v": {"N": "1"}}}
    operation = ddb.get_item if member == "ProjectionExpression" else ddb.update_item
    if member == "ProjectionExpression":
        del kwargs["ExpressionAttributeValues"]
    try:
        operation(**kwargs)
    except ClientError as error:
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error.response["Error"]["Code"] in ("ValidationException", "ConditionalCheckFailedException")
