"""Property: any sequence of puts, updates and deletes (with and without index key
attributes, with type changes that must be refused) leaves every index equal to what the
table's items imply, read back through Query and Scan on the index."""

from __future__ import annotations

import itertools

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PKS = [f"k{i}" for i in range(6)]
GROUPS = ["a", "b", "c"]
_tables = itertools.count()

# An index key value: absent, of the index's type, or of a type the index refuses.
group_values = st.one_of(st.none(), st.sampled_from([{"S": g} for g in GROUPS]), st.just({"N": "1"}))
rank_values = st.one_of(st.none(), st.integers(-3, 3).map(lambda n: {"N": str(n)}), st.just({"S": "x"}))

operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(PKS), group_values, rank_values),
        st.tuples(st.just("update"), st.sampled_from(PKS), group_values, rank_values),
        st.tuples(st.just("delete"), st.sampled_from(PKS), st.none(), st.none()),
    ),
    max_size=25,
)


def create_table(ddb, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "grp", "AttributeType": "S"},
            {"AttributeName": "rank", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {"IndexName": "by_grp_rank", "KeySchema": [
                {"AttributeName": "grp", "KeyType": "HASH"}, {"AttributeName": "rank", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}},
            {"IndexName": "by_grp", "KeySchema": [{"AttributeName": "grp", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "ALL"}},
        ],
    )


def apply(ddb, table: str, model: dict, operation: tuple) -> None:
    """Run one operation against the server and the model; a refused write changes neither."""
    kind, pk, group, rank = operation
    valid = (group is None or "S" in group) and (rank is None or "N" in rank)
    if kind == "delete":
        ddb.delete_item(TableName=table, Key={"pk": {"S": pk}})
        model.pop(pk, None)
        return
    attributes = {name: value for name, value in (("grp", group), ("rank", rank)) if value is not None}
    try:
        if kind == "put":
            ddb.put_item(TableName=table, Item={"pk": {"S": pk}, "payload": {"S": pk * 3}, **attributes})
        else:
            names = {f"#{n}": n for n in ("grp", "rank")}
            sets = [f"#{n} = :{n}" for n in attributes]
            removes = [f"#{n}" for n in ("grp", "rank") if n not in attributes]
            expression = " ".join(part for part in (
                "SET " + ", ".join(sets) if sets else "", "REMOVE " + ", ".join(removes) if removes else "") if part)
            extra = {"ExpressionAttributeValues": {f":{n}": v for n, v in attributes.items()}} if attributes else {}
            ddb.update_item(TableName=table, Key={"pk": {"S": pk}}, UpdateExpression=expression,
                            ExpressionAttributeNames=names, **extra)
    except ClientError as error:
        assert not valid and error.response["Error"]["Code"] == "ValidationException"
        return
    assert valid
    if kind == "put":
        model[pk] = {"pk": {"S": pk}, "payload": {"S": pk * 3}, **attributes}
    else:
        model[pk] = {**{k: v for k, v in model.get(pk, {"pk": {"S": pk}}).items() if k not in ("grp", "rank")},
                     **attributes}


def index_contents(ddb, table: str, index: str, group: str) -> list[dict]:
    pages = ddb.get_paginator("query").paginate(
        TableName=table, IndexName=index, KeyConditionExpression="grp = :g",
        ExpressionAttributeValues={":g": {"S": group}}, PaginationConfig={"PageSize": 3},
    )
    return [item for page in pages for item in page["Items"]]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=operations)
def test_indexes_equal_the_model_after_any_write_sequence(ddb, operations):
    table = f"index-model-{next(_tables)}"
    create_table(ddb, table)
    try:
        model: dict[str, dict] = {}
        for operation in operations:
            apply(ddb, table, model, operation)
        for group in GROUPS:
            members = [item for item in model.values() if item.get("grp") == {"S": group}]
            ranked = sorted((item for item in members if "rank" in item),
                            key=lambda item: (int(item["rank"]["N"]), item["pk"]["S"]))
            found = index_contents(ddb, table, "by_grp_rank", group)
            ranks = [int(i["rank"]["N"]) for i in found]
            assert ranks == sorted(ranks)
            in_model_order = sorted(found, key=lambda item: (int(item["rank"]["N"]), item["pk"]["S"]))
            assert [(i["pk"]["S"], i["rank"]["N"]) for i in in_model_order] == [
                (i["pk"]["S"], i["rank"]["N"]) for i in ranked
            ]
            assert all(set(i) == {"pk", "grp", "rank"} for i in found)
            whole = index_contents(ddb, table, "by_grp", group)
            assert sorted(whole, key=lambda i: i["pk"]["S"]) == sorted(members, key=lambda i: i["pk"]["S"])
        scanned = ddb.scan(TableName=table, IndexName="by_grp")["Items"]
        assert sorted(i["pk"]["S"] for i in scanned) == sorted(pk for pk, i in model.items() if "grp" in i)
        described = ddb.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"]
        counts = {index["IndexName"]: index["ItemCount"] for index in described}
        assert counts["by_grp"] == sum(1 for i in model.values() if "grp" in i)
        assert counts["by_grp_rank"] == sum(1 for i in model.values() if "grp" in i and "rank" in i)
    finally:
        ddb.delete_table(TableName=table)


@pytest.mark.parametrize("index", ["by_grp", "by_grp_rank"])
def test_items_sharing_an_index_key_are_distinct_entries(ddb, table_name, index):
    create_table(ddb, table_name)
    for pk in reversed(PKS):
        ddb.put_item(TableName=table_name, Item={"pk": {"S": pk}, "grp": {"S": "a"}, "rank": {"N": "0"}})
    found = index_contents(ddb, table_name, index, "a")
    assert sorted(i["pk"]["S"] for i in found) == PKS
