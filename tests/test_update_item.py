"""UpdateItem through unmodified boto3: every action, nested paths, every ReturnValues
mode, the legacy AttributeUpdates, and DynamoDB's refusals."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

KEY = {"pk": {"S": "k"}}


def update(ddb, table, expression, values=None, names=None, **extra):
    kwargs = {"TableName": table, "Key": KEY, "UpdateExpression": expression, **extra}
    if values:
        kwargs["ExpressionAttributeValues"] = values
    if names:
        kwargs["ExpressionAttributeNames"] = names
    return ddb.update_item(**kwargs)


def stored(ddb, table):
    return ddb.get_item(TableName=table, Key=KEY).get("Item")


def refusal(excinfo) -> str:
    error = excinfo.value.response["Error"]
    assert error["Code"] == "ValidationException"
    return error["Message"]


def test_creates_missing_item_with_key_and_set_values(ddb, hash_table):
    update(ddb, hash_table, "SET a = :a, b = :b", {":a": {"S": "x"}, ":b": {"N": "1.50"}})
    assert stored(ddb, hash_table) == {"pk": {"S": "k"}, "a": {"S": "x"}, "b": {"N": "1.5"}}


def test_update_without_expression_creates_key_only_item(ddb, hash_table):
    ddb.update_item(TableName=hash_table, Key=KEY)
    assert stored(ddb, hash_table) == KEY


def test_feast_style_nested_map_set(ddb, hash_table):
    names = {"#event_ts": "event_ts", "#values": "values", "#feat_x": "feat_x", "#feat_y": "feat_y"}
    ddb.put_item(TableName=hash_table, Item={**KEY, "values": {"M": {"old": {"B": b"\x01"}}}})
    update(
        ddb,
        hash_table,
        "SET #event_ts = :event_ts, #values.#feat_x = :val_x, #values.#feat_y = :val_y",
        {":event_ts": {"S": "2026-11-25 04:42:03+00:00"}, ":val_x": {"B": b"\x20\x9b\x4e"}, ":val_y": {"B": b"\x12\x02"}},
        names,
    )
    assert stored(ddb, hash_table)["values"] == {
        "M": {"old": {"B": b"\x01"}, "feat_x": {"B": b"\x20\x9b\x4e"}, "feat_y": {"B": b"\x12\x02"}}
    }


def test_arithmetic_if_not_exists_and_list_append(ddb, hash_table):
    values = {":one": {"N": "1"}, ":zero": {"N": "0"}, ":tail": {"L": [{"S": "z"}]}, ":empty": {"L": []}}
    for _ in range(3):
        update(
            ddb,
            hash_table,
            "SET hits = if_not_exists(hits, :zero) + :one, events = list_append(if_not_exists(events, :empty), :tail)",
            values,
        )
    item = stored(ddb, hash_table)
    assert item["hits"] == {"N": "3"}
    assert item["events"] == {"L": [{"S": "z"}] * 3}
    update(ddb, hash_table, "SET hits = hits - :big", {":big": {"N": "0.25"}})
    assert stored(ddb, hash_table)["hits"] == {"N": "2.75"}


def test_numbers_add_as_38_digit_decimals(ddb, hash_table):
    update(ddb, hash_table, "SET n = :a", {":a": {"N": "9" * 37 + "0"}})
    update(ddb, hash_table, "SET n = n + :b", {":b": {"N": "9"}})
    assert stored(ddb, hash_table)["n"] == {"N": "9" * 38}
    update(ddb, hash_table, "ADD n :b", {":b": {"N": "1"}})
    assert stored(ddb, hash_table)["n"] == {"N": "1" + "0" * 38}
    update(ddb, hash_table, "SET f = :a", {":a": {"N": "0." + "1" * 38}})
    with pytest.raises(ClientError) as excinfo:
        update(ddb, hash_table, "SET f = f + :b", {":b": {"N": "1"}})
    assert refusal(excinfo) == "Number overflow. Attempting to store a number with magnitude larger than supported range"


def test_list_index_set_and_remove(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**KEY, "l": {"L": [{"N": str(i)} for i in range(5)]}})
    update(ddb, hash_table, "SET l[1] = :x, l[9] = :y REMOVE l[0], l[3]", {":x": {"S": "x"}, ":y": {"S": "y"}})
    assert stored(ddb, hash_table)["l"] == {"L": [{"S": "x"}, {"N": "2"}, {"N": "4"}, {"S": "y"}]}


def test_remove_nested_and_missing_attributes(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**KEY, "m": {"M": {"a": {"N": "1"}, "b": {"N": "2"}}}, "c": {"S": "c"}})
    update(ddb, hash_table, "REMOVE m.a, c, nothing_here")
    assert stored(ddb, hash_table) == {**KEY, "m": {"M": {"b": {"N": "2"}}}}


def test_add_and_delete_on_sets_and_numbers(ddb, hash_table):
    update(ddb, hash_table, "ADD tags :t, n :n", {":t": {"SS": ["a", "b"]}, ":n": {"N": "5"}})
    update(ddb, hash_table, "ADD tags :t, n :n", {":t": {"SS": ["b", "c"]}, ":n": {"N": "-2"}})
    item = stored(ddb, hash_table)
    assert set(item["tags"]["SS"]) == {"a", "b", "c"}
    assert item["n"] == {"N": "3"}
    update(ddb, hash_table, "DELETE tags :t", {":t": {"SS": ["a", "c", "zzz"]}})
    assert stored(ddb, hash_table)["tags"] == {"SS": ["b"]}
    update(ddb, hash_table, "DELETE tags :t", {":t": {"SS": ["b"]}})
    assert "tags" not in stored(ddb, hash_table)


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("NONE", None),
        ("ALL_OLD", {"pk": {"S": "k"}, "a": {"N": "1"}, "m": {"M": {"x": {"N": "1"}, "y": {"N": "2"}}}}),
        ("UPDATED_OLD", {"a": {"N": "1"}, "m": {"M": {"x": {"N": "1"}}}}),
        ("ALL_NEW", {"pk": {"S": "k"}, "a": {"N": "2"}, "m": {"M": {"x": {"N": "9"}, "y": {"N": "2"}}}, "b": {"S": "b"}}),
        ("UPDATED_NEW", {"a": {"N": "2"}, "m": {"M": {"x": {"N": "9"}}}, "b": {"S": "b"}}),
    ],
)
def test_return_values(ddb, hash_table, mode, expected):
    ddb.put_item(TableName=hash_table, Item={**KEY, "a": {"N": "1"}, "m": {"M": {"x": {"N": "1"}, "y": {"N": "2"}}}})
    response = update(
        ddb, hash_table, "SET a = a + :one, m.x = :nine, b = :b",
        {":one": {"N": "1"}, ":nine": {"N": "9"}, ":b": {"S": "b"}}, ReturnValues=mode,
    )
    assert response.get("Attributes") == expected


def test_legacy_attribute_updates(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**KEY, "gone": {"S": "x"}, "n": {"N": "1"}, "s": {"NS": ["1", "2"]}})
    ddb.update_item(
        TableName=hash_table,
        Key=KEY,
        AttributeUpdates={
            "put": {"Action": "PUT", "Value": {"S": "p"}},
            "gone": {"Action": "DELETE"},
            "n": {"Action": "ADD", "Value": {"N": "2"}},
            "s": {"Action": "DELETE", "Value": {"NS": ["1"]}},
        },
    )
    assert stored(ddb, hash_table) == {**KEY, "put": {"S": "p"}, "n": {"N": "3"}, "s": {"NS": ["2"]}}


def test_resource_api_update(ddb_resource, hash_table):
    table = ddb_resource.Table(hash_table)
    table.update_item(
        Key={"pk": "k"},
        UpdateExpression="SET #c = if_not_exists(#c, :z) + :inc",
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={":z": 0, ":inc": 2},
    )
    assert table.get_item(Key={"pk": "k"})["Item"]["count"] == 2


@pytest.mark.parametrize(
    "expression, values, names, message",
    [
        ("SET pk = :v", {":v": {"S": "x"}}, None,
         "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"),
        ("SET a = :v, a = :w", {":v": {"S": "x"}, ":w": {"S": "y"}}, None,
         ("Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of "
         "these paths; path one: [a], path two: [a]")),
        ("SET a.b = :v REMOVE a", {":v": {"S": "x"}}, None,
         ("Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of "
         "these paths; path one: [a, b], path two: [a]")),
        ("SET a = :v SET b = :v", {":v": {"S": "x"}}, None,
         'Invalid UpdateExpression: The "SET" section can only be used once in an update expression;'),
        ("SET a = :v", {":v": {"S": "x"}, ":unused": {"S": "x"}}, None,
         "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}"),
        ("SET #a = :v", {":v": {"S": "x"}}, {"#a": "a", "#b": "b"},
         "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"),
        ("SET a = :missing", {":v": {"S": "x"}}, None,
         ("Invalid UpdateExpression: An expression attribute value used in expression is not defined; "
         "attribute value: :missing")),
        ("SET a = :v + :w", {":v": {"S": "x"}, ":w": {"N": "1"}}, None,
         ("Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: +, "
         "operand type: S")),
        ("ADD a :v", {":v": {"S": "x"}}, None,
         ("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, "
         "operand type: STRING")),
        ("DELETE a :v", {":v": {"N": "1"}}, None,
         ("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, "
         "operand type: NUMBER")),
        ("SET a = size(b)", None, None, "Invalid UpdateExpression: Invalid function name; function: size"),
        ("SET name = :v", {":v": {"S": "x"}}, None,
         "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: name"),
        ("SET a = :v,", {":v": {"S": "x"}}, None,
         'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: ","'),
        ("UPSERT a = :v", {":v": {"S": "x"}}, None,
         'Invalid UpdateExpression: Syntax error; token: "UPSERT", near: "UPSERT a"'),
        ("", None, None, "Invalid UpdateExpression: The expression can not be empty;"),
    ],
)
def test_malformed_update_expressions(ddb, hash_table, expression, values, names, message):
    with pytest.raises(ClientError) as excinfo:
        update(ddb, hash_table, expression, values, names)
    assert refusal(excinfo) == message


@pytest.mark.parametrize(
    "expression, values, message",
    [
        ("SET a = absent + :one", {":one": {"N": "1"}},
         "The provided expression refers to an attribute that does not exist in the item"),
        ("SET a = s + :one", {":one": {"N": "1"}},
         "An operand in the update expression has an incorrect data type"),
        ("ADD s :one", {":one": {"N": "1"}},
         "An operand in the update expression has an incorrect data type"),
        ("SET nope.deeper = :one", {":one": {"N": "1"}},
         "The document path provided in the update expression is invalid for update"),
        ("SET s = list_append(s, :l)", {":l": {"L": []}},
         "An operand in the update expression has an incorrect data type"),
    ],
)
def test_update_refusals_that_depend_on_the_item(ddb, hash_table, expression, values, message):
    ddb.put_item(TableName=hash_table, Item={**KEY, "s": {"S": "text"}})
    with pytest.raises(ClientError) as excinfo:
        update(ddb, hash_table, expression, values)
    assert refusal(excinfo) == message
    assert stored(ddb, hash_table) == {**KEY, "s": {"S": "text"}}


def test_mixing_legacy_and_expression_parameters_is_refused(ddb, hash_table):
    with pytest.raises(ClientError) as excinfo:
        ddb.update_item(
            TableName=hash_table, Key=KEY, UpdateExpression="SET a = :v",
            ExpressionAttributeValues={":v": {"S": "x"}}, AttributeUpdates={"b": {"Action": "DELETE"}},
        )
    assert refusal(excinfo) == (
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {AttributeUpdates} Expression parameters: {UpdateExpression}"
    )


def test_item_size_limit_applies_to_the_updated_item(ddb, hash_table):
    chunk = {"S": "x" * 300_000}
    update(ddb, hash_table, "SET a = :c", {":c": chunk})
    with pytest.raises(ClientError) as excinfo:
        update(ddb, hash_table, "SET b = :c", {":c": chunk})
    assert refusal(excinfo) == "Item size to update has exceeded the maximum allowed size"
