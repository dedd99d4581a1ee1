"""Scan through unmodified boto3: paging (incl. boto3's paginator), filters, legacy
ScanFilter, parallel segments that together return every item exactly once."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ITEM_COUNT = 57


@pytest.fixture
def filled(ddb, hash_table):
    requests = [
        {"PutRequest": {"Item": {"pk": {"S": f"item-{i}"}, "n": {"N": str(i)}, "group": {"S": "ab"[i % 2]}}}}
        for i in range(ITEM_COUNT)
    ]
    for start in range(0, len(requests), 25):
        ddb.batch_write_item(RequestItems={hash_table: requests[start : start + 25]})
    return hash_table


def keys_of(pages) -> list[str]:
    return [item["pk"]["S"] for page in pages for item in page["Items"]]


def test_full_scan_returns_every_item(ddb, filled):
    page = ddb.scan(TableName=filled)
    assert page["Count"] == page["ScannedCount"] == ITEM_COUNT
    assert sorted(i["pk"]["S"] for i in page["Items"]) == sorted(f"item-{i}" for i in range(ITEM_COUNT))
    assert "LastEvaluatedKey" not in page


def test_paginator_with_filter(ddb, filled):
    pages = list(ddb.get_paginator("scan").paginate(
        TableName=filled, FilterExpression="#g = :a AND n >= :ten",
        ExpressionAttributeNames={"#g": "group"}, ExpressionAttributeValues={":a": {"S": "a"}, ":ten": {"N": "10"}},
        PaginationConfig={"PageSize": 8},
    ))
    keys = keys_of(pages)
    assert sorted(keys) == sorted(f"item-{i}" for i in range(10, ITEM_COUNT, 2))
    assert sum(page["ScannedCount"] for page in pages) == ITEM_COUNT
    assert all(page["ScannedCount"] <= 8 for page in pages)


def test_legacy_scan_filter_and_attributes_to_get(ddb, filled):
    page = ddb.scan(
        TableName=filled,
        ScanFilter={"n": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "3"}, {"N": "4"}]}},
        AttributesToGet=["n"],
    )
    assert sorted(page["Items"], key=lambda i: i["n"]["N"]) == [{"n": {"N": "3"}}, {"n": {"N": "4"}}]


def test_select_count(ddb, filled):
    page = ddb.scan(TableName=filled, Select="COUNT", FilterExpression="n < :five", ExpressionAttributeValues={":five": {"N": "5"}})
    assert (page["Count"], page["ScannedCount"]) == (5, ITEM_COUNT) and "Items" not in page


def test_resource_scan_with_limit(ddb_resource, filled):
    table = ddb_resource.Table(filled)
    page = table.scan(Limit=10)
    assert page["Count"] == 10 and "LastEvaluatedKey" in page


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(total=st.integers(1, 9), limit=st.one_of(st.none(), st.integers(1, 20)))
def test_parallel_segments_cover_the_table_exactly_once(ddb, filled, total, limit):
    seen = []
    paging = {"PageSize": limit} if limit else {}
    for segment in range(total):
        pages = ddb.get_paginator("scan").paginate(
            TableName=filled, Segment=segment, TotalSegments=total, PaginationConfig=paging
        )
        seen += keys_of(pages)
    assert sorted(seen) == sorted(f"item-{i}" for i in range(ITEM_COUNT))


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"Segment": 1}, "The TotalSegments parameter is required but was not present in the request when Segment parameter is present"),
        ({"TotalSegments": 2}, "The Segment parameter is required but was not present in the request when parameter TotalSegments is present"),
        ({"Segment": 2, "TotalSegments": 2},
         "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 2 is not less than TotalSegments: 2"),
        ({"FilterExpression": "n = :v"},
         "Invalid FilterExpression: An expression attribute value used in expression is not defined; attribute value: :v"),
        ({"FilterExpression": "n = :v", "ScanFilter": {"n": {"ComparisonOperator": "NULL"}},
          "ExpressionAttributeValues": {":v": {"N": "1"}}},
         ("Can not use both expression and non-expression parameters in the same request: "
         "Non-expression parameters: {ScanFilter} Expression parameters: {FilterExpression}")),
        ({"ProjectionExpression": "a, a.b"},
         ("Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of "
         "these paths; path one: [a], path two: [a, b]")),
        ({"ProjectionExpression": "n", "Select": "ALL_ATTRIBUTES"},
         "Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES"),
        ({"ExpressionAttributeNames": {"#a": "a"}}, "ExpressionAttributeNames can only be specified when using expressions"),
    ],
)
def test_scan_refusals(ddb, filled, extra, message):
    with pytest.raises(ClientError) as excinfo:
        ddb.scan(TableName=filled, **extra)
    error = excinfo.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("ValidationException", message)
