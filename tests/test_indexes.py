"""Secondary indexes through unmodified boto3 (client and resource): CreateTable with LSIs
and GSIs, DescribeTable, index maintenance on every write, Query and Scan with IndexName,
UpdateTable adding and dropping a GSI on a table with data, multi-attribute GSI keys."""

from __future__ import annotations

import time

import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

PK_VALUES = ("p0", "p1", "p2")
SORT_KEYS = range(6)


def error_of(excinfo) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def gsi(name, hash_name, range_name=None, projection="ALL", non_key=None):
    key_schema = [{"AttributeName": hash_name, "KeyType": "HASH"}]
    if range_name:
        key_schema.append({"AttributeName": range_name, "KeyType": "RANGE"})
    projected = {"ProjectionType": projection}
    if non_key:
        projected["NonKeyAttributes"] = non_key
    return {"IndexName": name, "KeySchema": key_schema, "Projection": projected}


def create_indexed(ddb, name, **extra):
    """A table keyed by ``pk`` (S) and ``sk`` (N) with three GSIs on ``g`` and one LSI on ``n``."""
    params = dict(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            gsi("by_g", "g", "n"),
            gsi("g_keys", "g", projection="KEYS_ONLY"),
            gsi("g_incl", "g", "sk", projection="INCLUDE", non_key=["extra"]),
        ],
        LocalSecondaryIndexes=[gsi("by_n", "pk", "n", projection="KEYS_ONLY")],
    )
    params.update(extra)
    return ddb.create_table(**params)["TableDescription"]


def item_for(pk: str, sk: int) -> dict:
    """``g`` is even/odd by sort key, absent on sort key 5 (sparse); ``n`` counts down."""
    item = {"pk": {"S": pk}, "sk": {"N": str(sk)}, "n": {"N": str(10 - sk)}, "extra": {"S": f"x{sk}"},
            "unprojected": {"S": "not projected"}}
    if sk != 5:
        item["g"] = {"S": "even" if sk % 2 == 0 else "odd"}
    return item


@pytest.fixture
def indexed(ddb, table_name):
    create_indexed(ddb, table_name)
    requests = [{"PutRequest": {"Item": item_for(pk, sk)}} for pk in PK_VALUES for sk in SORT_KEYS]
    for start in range(0, len(requests), 25):
        ddb.batch_write_item(RequestItems={table_name: requests[start : start + 25]})
    return table_name


def query_g(ddb, table, value="even", index="by_g", **extra):
    return ddb.query(
        TableName=table, IndexName=index, KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": value}, **extra.pop("values", {})}, **extra,
    )


def keys(items) -> list[tuple[str, int]]:
    return [(item["pk"]["S"], int(item["sk"]["N"])) for item in items]


# ---- CreateTable and DescribeTable ------------------------------------------------------


def test_describe_table_describes_every_index(ddb, indexed):
    table = ddb.describe_table(TableName=indexed)["Table"]
    arn = f"arn:aws:dynamodb:us-east-1:000000000000:table/{indexed}"
    gsis = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(gsis) == {"by_g", "g_keys", "g_incl"}
    by_g = gsis["by_g"]
    assert by_g["KeySchema"] == [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}]
    assert by_g["Projection"] == {"ProjectionType": "ALL"}
    assert by_g["IndexStatus"] == "ACTIVE" and by_g["Backfilling"] is False
    assert by_g["IndexArn"] == f"{arn}/index/by_g"
    assert by_g["ProvisionedThroughput"]["ReadCapacityUnits"] == 0
    # Sort key 5 has no ``g``: 5 of 6 items per partition are indexed.
    assert by_g["ItemCount"] == 15 and by_g["IndexSizeBytes"] > 0
    assert gsis["g_incl"]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["extra"]}
    assert gsis["g_keys"]["IndexSizeBytes"] < by_g["IndexSizeBytes"]
    (lsi,) = table["LocalSecondaryIndexes"]
    assert lsi["IndexName"] == "by_n" and lsi["ItemCount"] == 18
    assert lsi["IndexArn"] == f"{arn}/index/by_n"
    assert "IndexStatus" not in lsi
    assert table["ItemCount"] == 18


def test_provisioned_table_indexes_carry_their_throughput(ddb, table_name):
    created = ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "N"}],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        GlobalSecondaryIndexes=[{**gsi("by_g", "g"), "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4}}],
    )["TableDescription"]
    (index,) = created["GlobalSecondaryIndexes"]
    assert index["ProvisionedThroughput"]["ReadCapacityUnits"] == 3
    assert index["ProvisionedThroughput"]["WriteCapacityUnits"] == 4


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(GlobalSecondaryIndexes=[gsi("by_z", "z")]),
         "One or more parameter values were invalid: Some index key attributes are not defined in "
         "AttributeDefinitions. Keys: [z], AttributeDefinitions: [pk, sk, g, n]"),
        (dict(LocalSecondaryIndexes=[gsi("by_n", "g", "n")]),
         "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as "
         "table KeySchema for index: by_n. index hash key: g, table hash key: pk"),
        (dict(GlobalSecondaryIndexes=[gsi("by_g", "g"), gsi("by_g", "n")]),
         "One or more parameter values were invalid: Duplicate index name: by_g"),
        (dict(GlobalSecondaryIndexes=[gsi("by_g", "g")], LocalSecondaryIndexes=[gsi("by_g", "pk", "n")]),
         "One or more parameter values were invalid: Duplicate index name: by_g"),
        (dict(GlobalSecondaryIndexes=[gsi("by_g", "g", projection="KEYS_ONLY", non_key=["a"])],
              LocalSecondaryIndexes=[gsi("by_n", "pk", "n")]),
         "One or more parameter values were invalid: ProjectionType is KEYS_ONLY, but NonKeyAttributes is specified"),
        (dict(GlobalSecondaryIndexes=[gsi("by_g", "g")], LocalSecondaryIndexes=[gsi(f"lsi{i}", "pk", "n") for i in range(6)]),
         "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds per-table limit of 5"),
        (dict(GlobalSecondaryIndexes=[gsi(f"gsi{i}", "g") for i in range(21)], LocalSecondaryIndexes=[gsi("lsi", "pk", "n")]),
         "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of 20"),
        (dict(GlobalSecondaryIndexes=[gsi("by_g", "g")], LocalSecondaryIndexes=[gsi("by_sk", "pk", "sk")]),
         "One or more parameter values were invalid: Some AttributeDefinitions are not used. "
         "AttributeDefinitions: [pk, sk, g, n], keys used: [pk, sk, g]"),
        (dict(GlobalSecondaryIndexes=[{**gsi("by_g", "g"), "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}],
              LocalSecondaryIndexes=[gsi("by_n", "pk", "n")]),
         "One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: by_g "
         "when BillingMode is PAY_PER_REQUEST"),
    ],
)
def test_create_table_refuses_bad_index_definitions(ddb, table_name, change, message):
    with pytest.raises(ClientError) as caught:
        create_indexed(ddb, table_name, **change)
    assert error_of(caught) == ("ValidationException", message)
    assert table_name not in ddb.list_tables()["TableNames"]


def test_local_index_needs_a_table_with_a_sort_key(ddb, table_name):
    with pytest.raises(ClientError) as caught:
        ddb.create_table(
            TableName=table_name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "n", "AttributeType": "N"}],
            BillingMode="PAY_PER_REQUEST",
            LocalSecondaryIndexes=[gsi("by_n", "pk", "n")],
        )
    assert error_of(caught) == (
        "ValidationException",
        "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required "
        "when specifying a LocalSecondaryIndex",
    )


def test_index_names_are_checked_against_the_model(ddb, table_name):
    with pytest.raises(ClientError) as caught:
        create_indexed(ddb, table_name, GlobalSecondaryIndexes=[gsi("bad name!", "g")],
                       LocalSecondaryIndexes=[gsi("by_n", "pk", "n")])
    code, message = error_of(caught)
    assert code == "ValidationException" and "regular expression pattern" in message


# ---- maintenance on writes --------------------------------------------------------------


def test_index_follows_puts_updates_and_deletes(ddb, indexed):
    before = keys(query_g(ddb, indexed, "odd")["Items"])
    ddb.update_item(TableName=indexed, Key={"pk": {"S": "p0"}, "sk": {"N": "1"}},
                    UpdateExpression="SET g = :e", ExpressionAttributeValues={":e": {"S": "even"}})
    assert ("p0", 1) not in keys(query_g(ddb, indexed, "odd")["Items"])
    assert ("p0", 1) in keys(query_g(ddb, indexed, "even")["Items"])
    ddb.update_item(TableName=indexed, Key={"pk": {"S": "p0"}, "sk": {"N": "1"}}, UpdateExpression="REMOVE g")
    assert ("p0", 1) not in keys(query_g(ddb, indexed, "even")["Items"])
    ddb.delete_item(TableName=indexed, Key={"pk": {"S": "p1"}, "sk": {"N": "3"}})
    assert ("p1", 3) not in keys(query_g(ddb, indexed, "odd")["Items"])
    ddb.put_item(TableName=indexed, Item=item_for("p1", 3))
    assert sorted(keys(query_g(ddb, indexed, "odd")["Items"])) == sorted(k for k in before if k != ("p0", 1))
    table = ddb.describe_table(TableName=indexed)["Table"]
    by_g = next(i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == "by_g")
    assert by_g["ItemCount"] == 14


def test_sparse_index_holds_only_items_with_its_key(ddb, indexed):
    scanned = ddb.scan(TableName=indexed, IndexName="g_keys")
    assert scanned["Count"] == 15
    assert all(sk != 5 for _, sk in keys(scanned["Items"]))


@pytest.mark.parametrize(
    "write",
    [
        lambda ddb, t: ddb.put_item(TableName=t, Item={**item_for("p9", 1), "g": {"N": "1"}}),
        lambda ddb, t: ddb.update_item(TableName=t, Key={"pk": {"S": "p9"}, "sk": {"N": "1"}},
                                       UpdateExpression="SET g = :n", ExpressionAttributeValues={":n": {"N": "1"}}),
        lambda ddb, t: ddb.batch_write_item(RequestItems={t: [
            {"PutRequest": {"Item": item_for("p9", 2)}},
            {"PutRequest": {"Item": {**item_for("p9", 1), "g": {"N": "1"}}}},
        ]}),
    ],
)
def test_wrong_index_key_type_is_refused_and_writes_nothing(ddb, indexed, write):
    with pytest.raises(ClientError) as caught:
        write(ddb, indexed)
    code, message = error_of(caught)
    assert code == "ValidationException"
    assert message.startswith("One or more parameter values were invalid: Type mismatch for Index Key g Expected: S Actual: N IndexName: ")
    assert ddb.query(TableName=indexed, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "p9"}})["Count"] == 0


def test_empty_string_index_key_is_refused(ddb, indexed):
    with pytest.raises(ClientError) as caught:
        ddb.put_item(TableName=indexed, Item={**item_for("p9", 1), "g": {"S": ""}})
    code, message = error_of(caught)
    assert code == "ValidationException"
    assert "A value specified for a secondary index key is not supported" in message and "IndexKey: g" in message
    with pytest.raises(ClientError) as caught:
        ddb.update_item(TableName=indexed, Key={"pk": {"S": "p0"}, "sk": {"N": "0"}},
                        UpdateExpression="SET g = :e", ExpressionAttributeValues={":e": {"S": ""}})
    assert "update a secondary index key" in error_of(caught)[1]
    assert ddb.get_item(TableName=indexed, Key={"pk": {"S": "p0"}, "sk": {"N": "0"}})["Item"]["g"] == {"S": "even"}


def test_index_key_larger_than_its_limit_is_refused(ddb, indexed):
    # DynamoDB's wording, as its clients report it: "Size limit exceeded for Index Key ...".
    with pytest.raises(ClientError) as caught:
        ddb.put_item(TableName=indexed, Item={**item_for("p9", 1), "g": {"S": "é" * 1024 + "x"}})
    assert error_of(caught) == (
        "ValidationException",
        "One or more parameter values were invalid: Size limit exceeded for Index Key g Actual Size: 2049 bytes "
        "Max Size: 2048 bytes IndexName: by_g",
    )
    ddb.put_item(TableName=indexed, Item={**item_for("p9", 1), "g": {"S": "é" * 1024}})
    assert ddb.get_item(TableName=indexed, Key={"pk": {"S": "p9"}, "sk": {"N": "1"}})["Item"]["g"]["S"] == "é" * 1024


def test_index_sort_key_larger_than_1024_bytes_is_refused(ddb, table_name):
    ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "g", "AttributeType": "S"}, {"AttributeName": "r", "AttributeType": "B"}],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[gsi("by_r", "g", "r")],
    )
    with pytest.raises(ClientError) as caught:
        ddb.update_item(TableName=table_name, Key={"pk": {"S": "a"}}, UpdateExpression="SET g = :g, r = :r",
                        ExpressionAttributeValues={":g": {"S": "g"}, ":r": {"B": b"\x00" * 1025}})
    assert error_of(caught)[1].endswith("Actual Size: 1025 bytes Max Size: 1024 bytes IndexName: by_r")
    assert "Item" not in ddb.get_item(TableName=table_name, Key={"pk": {"S": "a"}})
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "a"}, "g": {"S": "g"}, "r": {"B": b"\x00" * 1024}})


# ---- Query with IndexName ---------------------------------------------------------------


def test_query_gsi_in_both_orders(ddb, indexed):
    forward = query_g(ddb, indexed)["Items"]
    assert [int(i["n"]["N"]) for i in forward] == sorted(int(i["n"]["N"]) for i in forward)
    assert len(forward) == 9 and forward[0]["unprojected"] == {"S": "not projected"}
    backward = query_g(ddb, indexed, ScanIndexForward=False)["Items"]
    assert [int(i["n"]["N"]) for i in backward] == sorted((int(i["n"]["N"]) for i in forward), reverse=True)


def test_query_gsi_sort_key_condition_and_filter(ddb, indexed):
    page = ddb.query(
        TableName=indexed, IndexName="by_g", KeyConditionExpression="g = :g AND n BETWEEN :lo AND :hi",
        FilterExpression="pk <> :p", ExpressionAttributeValues={
            ":g": {"S": "even"}, ":lo": {"N": "7"}, ":hi": {"N": "8"}, ":p": {"S": "p1"}},
    )
    assert sorted(keys(page["Items"])) == [("p0", 2), ("p2", 2)]
    assert page["ScannedCount"] == 3


def test_query_gsi_pages_with_keys_of_the_index_and_the_table(ddb, indexed):
    seen, start = [], None
    while True:
        extra = {"ExclusiveStartKey": start} if start else {}
        page = query_g(ddb, indexed, Limit=2, **extra)
        seen += keys(page["Items"])
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
        assert set(start) == {"pk", "sk", "g", "n"}
    assert sorted(seen) == sorted((pk, sk) for pk in PK_VALUES for sk in (0, 2, 4))
    assert len(seen) == len(set(seen))


def test_paginator_over_an_index_with_duplicate_index_keys(ddb, indexed):
    pages = ddb.get_paginator("query").paginate(
        TableName=indexed, IndexName="g_keys", KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "odd"}}, PaginationConfig={"PageSize": 2},
    )
    seen = [key for page in pages for key in keys(page["Items"])]
    assert sorted(seen) == sorted((pk, sk) for pk in PK_VALUES for sk in (1, 3))


def test_keys_only_and_include_indexes_return_their_projection(ddb, indexed):
    (item, *_) = query_g(ddb, indexed, index="g_keys")["Items"]
    assert set(item) == {"pk", "sk", "g"}
    (item, *_) = query_g(ddb, indexed, index="g_incl")["Items"]
    assert set(item) == {"pk", "sk", "g", "extra"}
    projected = query_g(ddb, indexed, index="g_keys", ProjectionExpression="pk, unprojected")["Items"]
    assert all(set(i) == {"pk"} for i in projected)


def test_select_rules_on_indexes(ddb, indexed):
    counted = query_g(ddb, indexed, index="g_keys", Select="COUNT")
    assert counted["Count"] == 9 and "Items" not in counted
    projected = query_g(ddb, indexed, index="g_incl", Select="ALL_PROJECTED_ATTRIBUTES")["Items"]
    assert set(projected[0]) == {"pk", "sk", "g", "extra"}
    with pytest.raises(ClientError) as caught:
        query_g(ddb, indexed, index="g_keys", Select="ALL_ATTRIBUTES")
    assert error_of(caught) == (
        "ValidationException",
        "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global "
        "secondary index g_keys because its projection type is not ALL",
    )


def test_local_index_fetches_unprojected_attributes_from_the_table(ddb, indexed):
    page = ddb.query(
        TableName=indexed, IndexName="by_n", KeyConditionExpression="pk = :p AND n > :n",
        ExpressionAttributeValues={":p": {"S": "p1"}, ":n": {"N": "6"}}, Select="ALL_ATTRIBUTES",
        ConsistentRead=True, ReturnConsumedCapacity="INDEXES",
    )
    assert [int(i["n"]["N"]) for i in page["Items"]] == [7, 8, 9, 10]
    assert page["Items"][0]["unprojected"] == {"S": "not projected"}
    capacity = page["ConsumedCapacity"]
    assert "by_n" in capacity["LocalSecondaryIndexes"] and capacity["Table"]["CapacityUnits"] > 0
    keys_only = ddb.query(
        TableName=indexed, IndexName="by_n", KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p1"}}, ProjectionExpression="n, extra",
    )["Items"]
    assert all(set(i) == {"n", "extra"} for i in keys_only)


def test_consistent_read_is_refused_on_a_global_index(ddb, indexed):
    with pytest.raises(ClientError) as caught:
        query_g(ddb, indexed, ConsistentRead=True)
    assert error_of(caught) == ("ValidationException", "Consistent reads are not supported on global secondary indexes")
    with pytest.raises(ClientError) as caught:
        ddb.scan(TableName=indexed, IndexName="by_g", ConsistentRead=True)
    assert error_of(caught) == ("ValidationException", "Consistent reads are not supported on global secondary indexes")


def test_query_refusals_on_indexes(ddb, indexed):
    with pytest.raises(ClientError) as caught:
        query_g(ddb, indexed, index="nope")
    assert error_of(caught) == ("ValidationException", "The table does not have the specified index: nope")
    with pytest.raises(ClientError) as caught:
        ddb.query(TableName=indexed, IndexName="by_g", KeyConditionExpression="pk = :p",
                  ExpressionAttributeValues={":p": {"S": "p0"}})
    assert error_of(caught) == ("ValidationException", "Query condition missed key schema element: g")
    with pytest.raises(ClientError) as caught:
        query_g(ddb, indexed, values={":x": {"N": "1"}}, FilterExpression="n = :x")
    assert error_of(caught) == (
        "ValidationException",
        "Filter Expression can only contain non-primary key attributes: Primary key attribute: n",
    )
    with pytest.raises(ClientError) as caught:
        ddb.query(TableName=indexed, IndexName="by_g", KeyConditionExpression="g = :g",
                  ExpressionAttributeValues={":g": {"N": "1"}})
    assert error_of(caught) == (
        "ValidationException", "One or more parameter values were invalid: Condition parameter type does not match schema type"
    )


def test_consumed_capacity_with_index_detail(ddb, indexed):
    page = query_g(ddb, indexed, ReturnConsumedCapacity="INDEXES")
    capacity = page["ConsumedCapacity"]
    assert capacity["TableName"] == indexed
    assert capacity["GlobalSecondaryIndexes"]["by_g"]["CapacityUnits"] == capacity["CapacityUnits"]
    assert capacity["Table"]["CapacityUnits"] == 0
    written = ddb.put_item(TableName=indexed, Item=item_for("p7", 1), ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    assert set(written["GlobalSecondaryIndexes"]) == {"by_g", "g_keys", "g_incl"}
    assert set(written["LocalSecondaryIndexes"]) == {"by_n"}
    assert written["CapacityUnits"] == written["Table"]["CapacityUnits"] + sum(
        part["CapacityUnits"] for group in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes") for part in written[group].values()
    )


# ---- Scan with IndexName ----------------------------------------------------------------


def test_scan_index_pages_and_filters(ddb, indexed):
    seen, start = [], None
    while True:
        extra = {"ExclusiveStartKey": start} if start else {}
        page = ddb.scan(TableName=indexed, IndexName="by_g", Limit=4, FilterExpression="g = :o",
                        ExpressionAttributeValues={":o": {"S": "odd"}}, **extra)
        seen += keys(page["Items"])
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
        assert set(start) == {"pk", "sk", "g", "n"}
    assert sorted(seen) == sorted((pk, sk) for pk in PK_VALUES for sk in (1, 3))


def test_parallel_scan_of_an_index_returns_each_entry_once(ddb, indexed):
    seen = []
    for segment in range(4):
        page = ddb.scan(TableName=indexed, IndexName="g_incl", Segment=segment, TotalSegments=4)
        seen += keys(page["Items"])
    assert sorted(seen) == sorted((pk, sk) for pk in PK_VALUES for sk in range(5))


def test_scan_of_a_local_index_in_partition_then_index_order(ddb, indexed):
    items = ddb.scan(TableName=indexed, IndexName="by_n")["Items"]
    assert len(items) == 18
    for pk in PK_VALUES:
        ns = [int(i["n"]["N"]) for i in items if i["pk"]["S"] == pk]
        assert ns == sorted(ns)


# ---- the resource API -------------------------------------------------------------------


def test_resource_query_and_scan_on_an_index(ddb_resource, indexed):
    table = ddb_resource.Table(indexed)
    found = table.query(IndexName="by_g", KeyConditionExpression=Key("g").eq("odd") & Key("n").lt(9))["Items"]
    assert sorted((i["pk"], int(i["sk"])) for i in found) == sorted((pk, 3) for pk in PK_VALUES)
    scanned = table.scan(IndexName="g_keys", FilterExpression=Attr("pk").eq("p2"))["Items"]
    assert sorted(int(i["sk"]) for i in scanned) == [0, 1, 2, 3, 4]
    assert table.global_secondary_indexes[0]["IndexStatus"] == "ACTIVE"


# ---- UpdateTable: adding and dropping a GSI on a live table -----------------------------


def wait_for_index(ddb, table, name, timeout=60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        description = ddb.describe_table(TableName=table)["Table"]
        index = next(i for i in description.get("GlobalSecondaryIndexes", []) if i["IndexName"] == name)
        if index["IndexStatus"] == "ACTIVE" or time.monotonic() > deadline:
            return index
        time.sleep(0.05)


def test_create_and_delete_a_gsi_on_a_table_with_data(ddb, indexed):
    answer = ddb.update_table(
        TableName=indexed,
        AttributeDefinitions=[{"AttributeName": "extra", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": gsi("by_extra", "extra", "sk", projection="KEYS_ONLY")}],
    )["TableDescription"]
    created = next(i for i in answer["GlobalSecondaryIndexes"] if i["IndexName"] == "by_extra")
    assert created["IndexStatus"] == "CREATING" and created["Backfilling"] is True
    ddb.put_item(TableName=indexed, Item={**item_for("p5", 1), "extra": {"S": "x1"}})
    index = wait_for_index(ddb, indexed, "by_extra")
    assert index["IndexStatus"] == "ACTIVE" and index["Backfilling"] is False
    assert index["ItemCount"] == 19
    page = ddb.query(TableName=indexed, IndexName="by_extra", KeyConditionExpression="extra = :x",
                     ExpressionAttributeValues={":x": {"S": "x1"}})
    assert sorted(keys(page["Items"])) == sorted([(pk, 1) for pk in (*PK_VALUES, "p5")])
    definitions = {d["AttributeName"] for d in ddb.describe_table(TableName=indexed)["Table"]["AttributeDefinitions"]}
    assert "extra" in definitions

    deleted = ddb.update_table(TableName=indexed, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_extra"}}])
    remaining = {i["IndexName"] for i in deleted["TableDescription"].get("GlobalSecondaryIndexes", [])}
    assert "by_extra" not in remaining
    with pytest.raises(ClientError) as caught:
        ddb.query(TableName=indexed, IndexName="by_extra", KeyConditionExpression="extra = :x",
                  ExpressionAttributeValues={":x": {"S": "x1"}})
    assert error_of(caught) == ("ValidationException", "The table does not have the specified index: by_extra")
    definitions = {d["AttributeName"] for d in ddb.describe_table(TableName=indexed)["Table"]["AttributeDefinitions"]}
    assert "extra" not in definitions


def test_first_gsi_on_a_plain_table_with_a_backfill_of_many_chunks(ddb, hash_table):
    requests = [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "slot": {"N": str(i % 7)}}}} for i in range(600)]
    for start in range(0, len(requests), 25):
        ddb.batch_write_item(RequestItems={hash_table: requests[start : start + 25]})
    ddb.update_table(
        TableName=hash_table,
        AttributeDefinitions=[{"AttributeName": "slot", "AttributeType": "N"}],
        GlobalSecondaryIndexUpdates=[{"Create": gsi("by_slot", "slot")}],
    )
    # Writes while the backfill runs are indexed exactly once.
    for i in range(600, 650):
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": f"k{i}"}, "slot": {"N": str(i % 7)}})
    ddb.delete_item(TableName=hash_table, Key={"pk": {"S": "k0"}})
    assert wait_for_index(ddb, hash_table, "by_slot")["ItemCount"] == 649
    total = 0
    for bucket in range(7):
        pages = ddb.get_paginator("query").paginate(
            TableName=hash_table, IndexName="by_slot", KeyConditionExpression="slot = :b",
            ExpressionAttributeValues={":b": {"N": str(bucket)}},
        )
        found = [item["pk"]["S"] for page in pages for item in page["Items"]]
        assert len(found) == len(set(found))
        total += len(found)
    assert total == 649


def test_update_table_index_refusals(ddb, indexed):
    with pytest.raises(ClientError) as caught:
        ddb.update_table(TableName=indexed, GlobalSecondaryIndexUpdates=[{"Create": gsi("by_g", "g")}])
    assert error_of(caught) == ("ValidationException", "Attempting to create an index which already exists")
    with pytest.raises(ClientError) as caught:
        ddb.update_table(TableName=indexed, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "nope"}}])
    assert error_of(caught)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as caught:
        ddb.update_table(TableName=indexed, GlobalSecondaryIndexUpdates=[{"Create": gsi("by_q", "q")}])
    assert "Some index key attributes are not defined in AttributeDefinitions" in error_of(caught)[1]


# ---- multi-attribute GSI keys -----------------------------------------------------------


@pytest.fixture
def tournaments(ddb, table_name):
    ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "game", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": t}
            for n, t in (("game", "S"), ("tournament", "S"), ("area", "S"), ("round", "N"), ("bracket", "S"))
        ],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[{
            "IndexName": "by_tournament_region",
            "KeySchema": [
                {"AttributeName": "tournament", "KeyType": "HASH"},
                {"AttributeName": "area", "KeyType": "HASH"},
                {"AttributeName": "round", "KeyType": "RANGE"},
                {"AttributeName": "bracket", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }],
    )
    number = 0
    for tournament in ("winter", "summer"):
        for region in ("eu", "na"):
            for round_ in (1, 2, 3):
                for bracket in ("lower", "upper"):
                    number += 1
                    ddb.put_item(TableName=table_name, Item={
                        "game": {"S": f"m{number}"}, "tournament": {"S": tournament}, "area": {"S": region},
                        "round": {"N": str(round_)}, "bracket": {"S": bracket}})
    ddb.put_item(TableName=table_name, Item={"game": {"S": "no-region"}, "tournament": {"S": "winter"},
                                             "round": {"N": "1"}, "bracket": {"S": "upper"}})
    return table_name


def query_matches(ddb, table, condition, **values):
    page = ddb.query(
        TableName=table, IndexName="by_tournament_region", KeyConditionExpression=condition,
        **({"ExpressionAttributeNames": {"#r": "round"}} if "#r" in condition else {}),
        ExpressionAttributeValues={f":{k}": ({"N": str(v)} if isinstance(v, int) else {"S": v}) for k, v in values.items()},
    )
    return [(item["tournament"]["S"], item["area"]["S"], int(item["round"]["N"]), item["bracket"]["S"])
            for item in page["Items"]]


def test_multi_attribute_gsi_is_described(ddb, tournaments):
    (index,) = ddb.describe_table(TableName=tournaments)["Table"]["GlobalSecondaryIndexes"]
    assert [k["KeyType"] for k in index["KeySchema"]] == ["HASH", "HASH", "RANGE", "RANGE"]
    assert index["ItemCount"] == 24


def test_multi_attribute_query_takes_every_partition_attribute(ddb, tournaments):
    found = query_matches(ddb, tournaments, "tournament = :t AND area = :g", t="winter", g="eu")
    assert found == [("winter", "eu", r, b) for r in (1, 2, 3) for b in ("lower", "upper")]
    with pytest.raises(ClientError) as caught:
        query_matches(ddb, tournaments, "tournament = :t", t="winter")
    assert error_of(caught) == ("ValidationException", "Query condition missed key schema element: area")


def test_multi_attribute_sort_conditions_left_to_right(ddb, tournaments):
    found = query_matches(ddb, tournaments, "tournament = :t AND area = :g AND #r = :r AND bracket > :b",
                          t="summer", g="na", r=2, b="lower")
    assert found == [("summer", "na", 2, "upper")]
    found = query_matches(ddb, tournaments, "area = :g AND tournament = :t AND #r >= :r", t="summer", g="na", r=2)
    assert [(r, b) for *_, r, b in found] == [(2, "lower"), (2, "upper"), (3, "lower"), (3, "upper")]
    found = query_matches(ddb, tournaments, "tournament = :t AND area = :g AND #r = :r AND begins_with(bracket, :b)",
                          t="winter", g="eu", r=3, b="up")
    assert found == [("winter", "eu", 3, "upper")]
    with pytest.raises(ClientError) as caught:
        query_matches(ddb, tournaments, "tournament = :t AND area = :g AND bracket = :b", t="winter", g="eu", b="upper")
    assert error_of(caught)[0] == "ValidationException"
    with pytest.raises(ClientError) as caught:
        query_matches(ddb, tournaments, "tournament = :t AND area = :g AND #r > :r AND bracket = :b",
                      t="winter", g="eu", r=1, b="upper")
    assert error_of(caught)[0] == "ValidationException"


# ---- item collections of tables with LSIs -----------------------------------------------


def test_item_collection_metrics_on_a_table_with_local_indexes(ddb, indexed):
    put = ddb.put_item(TableName=indexed, Item=item_for("p1", 9), ReturnItemCollectionMetrics="SIZE")
    assert put["ItemCollectionMetrics"] == {"ItemCollectionKey": {"pk": {"S": "p1"}}, "SizeEstimateRangeGB": [0.0, 1.0]}
    updated = ddb.update_item(TableName=indexed, Key={"pk": {"S": "p2"}, "sk": {"N": "0"}}, UpdateExpression="SET n = :n",
                              ExpressionAttributeValues={":n": {"N": "1"}}, ReturnItemCollectionMetrics="SIZE")
    assert updated["ItemCollectionMetrics"]["ItemCollectionKey"] == {"pk": {"S": "p2"}}
    batch = ddb.batch_write_item(RequestItems={indexed: [
        {"PutRequest": {"Item": item_for("p0", 7)}}, {"PutRequest": {"Item": item_for("p0", 8)}},
        {"DeleteRequest": {"Key": {"pk": {"S": "p1"}, "sk": {"N": "9"}}}},
    ]}, ReturnItemCollectionMetrics="SIZE")
    keys = [m["ItemCollectionKey"]["pk"]["S"] for m in batch["ItemCollectionMetrics"][indexed]]
    assert keys == ["p0", "p1"]
    plain = ddb.put_item(TableName=indexed, Item=item_for("p1", 9))
    assert "ItemCollectionMetrics" not in plain


def test_index_throughput_follows_update_table(ddb, table_name):
    ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[gsi("by_g", "g")],
    )
    ddb.update_table(
        TableName=table_name, BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        GlobalSecondaryIndexUpdates=[{"Update": {"IndexName": "by_g", "ProvisionedThroughput": {
            "ReadCapacityUnits": 2, "WriteCapacityUnits": 3}}}],
    )
    (index,) = ddb.describe_table(TableName=table_name)["Table"]["GlobalSecondaryIndexes"]
    assert (index["ProvisionedThroughput"]["ReadCapacityUnits"], index["ProvisionedThroughput"]["WriteCapacityUnits"]) == (2, 3)
    ddb.update_table(TableName=table_name, GlobalSecondaryIndexUpdates=[{"Update": {
        "IndexName": "by_g", "ProvisionedThroughput": {"ReadCapacityUnits": 7, "WriteCapacityUnits": 7}}}])
    (index,) = ddb.describe_table(TableName=table_name)["Table"]["GlobalSecondaryIndexes"]
    assert index["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
    ddb.update_table(TableName=table_name, BillingMode="PAY_PER_REQUEST")
    (index,) = ddb.describe_table(TableName=table_name)["Table"]["GlobalSecondaryIndexes"]
    assert index["ProvisionedThroughput"]["ReadCapacityUnits"] == 0


def test_a_dropped_indexed_table_can_be_created_again_empty(ddb, indexed):
    ddb.delete_table(TableName=indexed)
    create_indexed(ddb, indexed)
    assert ddb.scan(TableName=indexed, IndexName="by_g")["Count"] == 0
    table = ddb.describe_table(TableName=indexed)["Table"]
    assert all(index["ItemCount"] == 0 for index in table["GlobalSecondaryIndexes"])
