"""Query through unmodified boto3: key conditions, order, paging (incl. boto3's
paginator), filters, Select, projections, legacy KeyConditions/QueryFilter, refusals."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SORT_KEYS = [-5, -1.5, 0, 1, 2, 3.25, 10, 100]


@pytest.fixture
def filled(ddb, range_table):
    items = []
    for pk in ("p", "q"):
        for sk in SORT_KEYS:
            items.append({"pk": {"S": pk}, "sk": {"N": str(sk)}, "odd": {"BOOL": int(sk) % 2 == 1}, "tag": {"S": f"{pk}{sk}"}})
    ddb.batch_write_item(RequestItems={range_table: [{"PutRequest": {"Item": i}} for i in items]})
    return range_table


def sort_keys(response) -> list[float]:
    return [float(item["sk"]["N"]) for item in response["Items"]]


def query(ddb, table, condition, values, **extra):
    """Query the partition ``p`` unless the values name another one."""
    if ":p" in condition:
        values = {":p": {"S": "p"}, **values}
    return ddb.query(TableName=table, KeyConditionExpression=condition, ExpressionAttributeValues=values, **extra)


@pytest.mark.parametrize(
    "condition, values, expected",
    [
        ("pk = :p", {}, SORT_KEYS),
        ("pk = :p AND sk = :a", {":a": {"N": "3.250"}}, [3.25]),
        ("pk = :p AND sk < :a", {":a": {"N": "1"}}, [-5, -1.5, 0]),
        ("pk = :p AND sk <= :a", {":a": {"N": "1"}}, [-5, -1.5, 0, 1]),
        ("pk = :p AND sk > :a", {":a": {"N": "3.25"}}, [10, 100]),
        ("pk = :p AND sk >= :a", {":a": {"N": "3.25"}}, [3.25, 10, 100]),
        ("pk = :p AND sk BETWEEN :a AND :b", {":a": {"N": "-1.5"}, ":b": {"N": "2"}}, [-1.5, 0, 1, 2]),
        (":p = pk AND :a > sk", {":a": {"N": "0"}}, [-5, -1.5]),
        ("(pk = :p) AND (sk > :a)", {":a": {"N": "50"}}, [100]),
    ],
)
def test_key_conditions(ddb, filled, condition, values, expected):
    assert sort_keys(query(ddb, filled, condition, values)) == expected
    backwards = query(ddb, filled, condition, values, ScanIndexForward=False)
    assert sort_keys(backwards) == expected[::-1]


def test_begins_with_on_string_sort_keys(ddb, table_name):
    ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for sk in ["a", "ab", "abc", "ab\u00e9", "ab\x00z", "abd", "b", "aa\uffff"]:
        ddb.put_item(TableName=table_name, Item={"pk": {"S": "p"}, "sk": {"S": sk}})
    found = query(ddb, table_name, "pk = :p AND begins_with(sk, :pre)", {":pre": {"S": "ab"}})
    assert [i["sk"]["S"] for i in found["Items"]] == ["ab", "ab\x00z", "abc", "abd", "ab\u00e9"]


def test_limit_pages_with_last_evaluated_key(ddb, filled):
    seen, start = [], None
    while True:
        extra = {"ExclusiveStartKey": start} if start else {}
        page = query(ddb, filled, "pk = :p", {}, Limit=3, **extra)
        seen += sort_keys(page)
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
        assert set(start) == {"pk", "sk"}
    assert seen == SORT_KEYS


def test_paginator_forward_and_backward(ddb, filled):
    paginator = ddb.get_paginator("query")
    for forward in (True, False):
        pages = paginator.paginate(
            TableName=filled, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "q"}},
            ScanIndexForward=forward, PaginationConfig={"PageSize": 3},
        )
        keys = [float(item["sk"]["N"]) for page in pages for item in page["Items"]]
        assert keys == (SORT_KEYS if forward else SORT_KEYS[::-1])


def test_filter_counts_and_limit_applies_before_filter(ddb, filled):
    page = query(ddb, filled, "pk = :p", {":t": {"BOOL": True}}, FilterExpression="odd = :t", Limit=5)
    assert sort_keys(page) == [-5, -1.5, 1]
    assert (page["Count"], page["ScannedCount"]) == (3, 5)
    assert "LastEvaluatedKey" in page


def test_select_count_and_projection(ddb, filled):
    counted = query(ddb, filled, "pk = :p", {}, Select="COUNT")
    assert "Items" not in counted and counted["Count"] == len(SORT_KEYS)
    projected = query(ddb, filled, "pk = :p AND sk = :a", {":a": {"N": "1"}}, ProjectionExpression="tag, #o",
                      ExpressionAttributeNames={"#o": "odd"})
    assert projected["Items"] == [{"tag": {"S": "p1"}, "odd": {"BOOL": True}}]


def test_legacy_key_conditions_and_query_filter(ddb, filled):
    page = ddb.query(
        TableName=filled,
        KeyConditions={
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "q"}]},
            "sk": {"ComparisonOperator": "GE", "AttributeValueList": [{"N": "1"}]},
        },
        QueryFilter={"odd": {"ComparisonOperator": "EQ", "AttributeValueList": [{"BOOL": False}]}},
        AttributesToGet=["sk"],
    )
    assert page["Items"] == [{"sk": {"N": "2"}}, {"sk": {"N": "10"}}, {"sk": {"N": "100"}}]


def test_resource_query_with_conditions_builder(ddb_resource, filled):
    from boto3.dynamodb.conditions import Attr, Key

    table = ddb_resource.Table(filled)
    response = table.query(KeyConditionExpression=Key("pk").eq("q") & Key("sk").between(0, 4), FilterExpression=Attr("odd").eq(True))
    assert [float(i["sk"]) for i in response["Items"]] == [1, 3.25]


def test_one_megabyte_page_limit(ddb, range_table):
    blob = {"S": "x" * 100_000}
    ddb.batch_write_item(RequestItems={range_table: [
        {"PutRequest": {"Item": {"pk": {"S": "big"}, "sk": {"N": str(i)}, "blob": blob}}} for i in range(15)
    ]})
    page = query(ddb, range_table, "pk = :p", {":p": {"S": "big"}})
    assert 9 <= page["Count"] < 15 and "LastEvaluatedKey" in page
    rest = query(ddb, range_table, "pk = :p", {":p": {"S": "big"}}, ExclusiveStartKey=page["LastEvaluatedKey"])
    assert page["Count"] + rest["Count"] == 15


@pytest.mark.parametrize(
    "condition, values, extra, message",
    [
        ("sk = :a", {":a": {"N": "1"}}, {}, "Query condition missed key schema element: pk"),
        ("pk = :p OR sk = :a", {":a": {"N": "1"}}, {}, "Invalid operator used in KeyConditionExpression: OR"),
        ("pk = :p AND sk = :a AND sk > :a", {":a": {"N": "1"}}, {},
         "Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key"),
        ("pk = :p AND extra = :a", {":a": {"N": "1"}}, {}, "Query condition missed key schema element: sk"),
        ("pk > :p", {}, {}, "Query key condition not supported"),
        ("pk = :p AND sk = :a", {":a": {"S": "1"}}, {},
         "One or more parameter values were invalid: Condition parameter type does not match schema type"),
        ("pk = :p AND begins_with(sk, :a)", {":a": {"S": "1"}}, {},
         "One or more parameter values were invalid: Condition parameter type does not match schema type"),
        ("pk = :p", {":a": {"N": "1"}}, {"FilterExpression": "sk > :a"},
         "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk"),
        ("pk = :p", {}, {"Select": "SPECIFIC_ATTRIBUTES"},
         "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"),
        ("pk = :p", {}, {"IndexName": "byTag"}, "The table does not have the specified index: byTag"),
        ("pk = :p", {}, {"ExclusiveStartKey": {"pk": {"S": "other"}, "sk": {"N": "1"}}},
         "The provided starting key is outside query boundaries based on provided conditions"),
        ("pk = :p", {}, {"ExclusiveStartKey": {"pk": {"S": "p"}}},
         "The provided starting key is invalid: The provided key element does not match the schema"),
        ("pk = :p AND sk = :a", {}, {},
         ("Invalid KeyConditionExpression: An expression attribute value used in expression is not defined; "
         "attribute value: :a")),
        ("pk = :p AND", {}, {}, 'Invalid KeyConditionExpression: Syntax error; token: "<EOF>", near: "AND"'),
        ("pk = :e", {":e": {"S": ""}}, {},
         "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an "
         "empty string value. Key: pk"),
    ],
)
def test_query_refusals(ddb, filled, condition, values, extra, message):
    with pytest.raises(ClientError) as excinfo:
        query(ddb, filled, condition, values, **extra)
    error = excinfo.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("ValidationException", message)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(1, 10), forward=st.booleans(), low=st.sampled_from(SORT_KEYS))
def test_random_paging_returns_each_item_once(ddb, filled, limit, forward, low):
    expected = [k for k in SORT_KEYS if k >= low]
    seen, start = [], None
    while True:
        extra = {"ExclusiveStartKey": start} if start else {}
        page = query(ddb, filled, "pk = :p AND sk >= :low", {":low": {"N": str(low)}},
                     Limit=limit, ScanIndexForward=forward, **extra)
        assert page["Count"] <= limit
        seen += sort_keys(page)
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
    assert seen == (expected if forward else expected[::-1])
