"""CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable, tags, limits — via boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def error_of(excinfo) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def create(ddb, name, **overrides):
    params = dict(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    params.update(overrides)
    return ddb.create_table(**params)


def test_create_table_is_active_at_once_and_describes_fully(ddb, table_name):
    created = create(ddb, table_name, Tags=[{"Key": "team", "Value": "ml"}])["TableDescription"]
    assert created["TableStatus"] == "ACTIVE"
    table = ddb.describe_table(TableName=table_name)["Table"]
    assert table["TableName"] == table_name
    assert table["TableArn"] == f"arn:aws:dynamodb:us-east-1:000000000000:table/{table_name}"
    assert table["ItemCount"] == 0 and table["TableSizeBytes"] == 0
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["CreationDateTime"].year >= 2024
    assert "TableId" in table
    ddb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 2})


def test_table_names_with_dots_work(ddb):
    name = "feast_project.driver_hourly_stats"
    create(ddb, name)
    ddb.put_item(TableName=name, Item={"id": {"S": "a"}})
    assert ddb.get_item(TableName=name, Key={"id": {"S": "a"}})["Item"] == {"id": {"S": "a"}}
    ddb.delete_table(TableName=name)


def test_provisioned_table_and_update_billing(ddb, table_name):
    create(
        ddb,
        table_name,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 7},
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
        ],
    )
    table = ddb.describe_table(TableName=table_name)["Table"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 7
    updated = ddb.update_table(TableName=table_name, BillingMode="PAY_PER_REQUEST")["TableDescription"]
    assert updated["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    updated = ddb.update_table(
        TableName=table_name,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 3, "WriteCapacityUnits": 4},
    )["TableDescription"]
    assert updated["ProvisionedThroughput"]["WriteCapacityUnits"] == 4
    with pytest.raises(ClientError) as excinfo:
        ddb.update_table(TableName=table_name, ProvisionedThroughput={"ReadCapacityUnits": 3, "WriteCapacityUnits": 4})
    assert error_of(excinfo)[0] == "ValidationException"


def test_duplicate_create_is_resource_in_use(ddb, hash_table):
    with pytest.raises(ClientError) as excinfo:
        create(ddb, hash_table)
    assert error_of(excinfo) == ("ResourceInUseException", f"Table already exists: {hash_table}")


def test_describe_missing_table(ddb):
    with pytest.raises(ClientError) as excinfo:
        ddb.describe_table(TableName="no-such-table")
    assert error_of(excinfo) == (
        "ResourceNotFoundException",
        "Requested resource not found: Table: no-such-table not found",
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"TableName": "ab"}, "at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3"),
        ({"TableName": "bad name!"}, "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"),
        (
            {"BillingMode": "PROVISIONED"},
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        ),
        (
            {"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}},
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        ),
        (
            {"AttributeDefinitions": [{"AttributeName": "other", "AttributeType": "S"}]},
            "Some index key attributes are not defined in AttributeDefinitions",
        ),
        (
            {"AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "x", "AttributeType": "S"}]},
            "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
        ),
        ({"KeySchema": [{"AttributeName": "id", "KeyType": "RANGE"}]}, "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"),
        (
            {"AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "BOOL"}]},
            "Member must satisfy enum value set: [B, N, S]",
        ),
    ],
)
def test_create_table_validation(ddb, table_name, overrides, message):
    with pytest.raises(ClientError) as excinfo:
        create(ddb, table_name, **overrides)
    code, text = error_of(excinfo)
    assert code == "ValidationException"
    assert message in text


def test_list_tables_paginates(ddb):
    names = [f"list-page-{i:02d}" for i in range(7)]
    for name in names:
        create(ddb, name)
    page = ddb.list_tables(ExclusiveStartTableName="list-page-", Limit=3)
    assert page["TableNames"] == names[:3]
    assert page["LastEvaluatedTableName"] == names[2]
    collected = []
    for result in ddb.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 2}):
        collected += result["TableNames"]
    assert set(names) <= set(collected)
    assert collected == sorted(collected)
    for name in names:
        ddb.delete_table(TableName=name)


def test_delete_table_then_not_found(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={"pk": {"S": "x"}})
    deleted = ddb.delete_table(TableName=hash_table)["TableDescription"]
    assert deleted["TableStatus"] == "DELETING"
    with pytest.raises(ClientError) as excinfo:
        ddb.get_item(TableName=hash_table, Key={"pk": {"S": "x"}})
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    assert hash_table not in ddb.list_tables(Limit=100)["TableNames"]


def test_recreated_table_starts_empty(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={"pk": {"S": "x"}})
    ddb.delete_table(TableName=hash_table)
    create(ddb, hash_table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
           AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    assert "Item" not in ddb.get_item(TableName=hash_table, Key={"pk": {"S": "x"}})
    assert ddb.describe_table(TableName=hash_table)["Table"]["ItemCount"] == 0


def test_deletion_protection(ddb, table_name):
    create(ddb, table_name, DeletionProtectionEnabled=True)
    with pytest.raises(ClientError) as excinfo:
        ddb.delete_table(TableName=table_name)
    assert error_of(excinfo)[0] == "ValidationException"
    ddb.update_table(TableName=table_name, DeletionProtectionEnabled=False)
    ddb.delete_table(TableName=table_name)


def test_tags_replace_by_key(ddb, hash_table):
    arn = ddb.describe_table(TableName=hash_table)["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "a", "Value": "3"}])
    tags = ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "3"), ("b", "2")]
    ddb.untag_resource(ResourceArn=arn, TagKeys=["b"])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "a", "Value": "3"}]
    with pytest.raises(ClientError) as excinfo:
        ddb.list_tags_of_resource(ResourceArn=arn + "-missing")
    assert error_of(excinfo)[0] == "AccessDeniedException"


def test_describe_limits_and_endpoints(ddb, server):
    limits = ddb.describe_limits()
    assert limits["TableMaxReadCapacityUnits"] == 40000
    endpoints = ddb.describe_endpoints()["Endpoints"]
    assert endpoints[0]["Address"].endswith(f":{server.port}")


def test_table_arn_accepted_as_table_name(ddb, hash_table):
    arn = ddb.describe_table(TableName=hash_table)["Table"]["TableArn"]
    ddb.put_item(TableName=arn, Item={"pk": {"S": "via-arn"}})
    assert ddb.get_item(TableName=hash_table, Key={"pk": {"S": "via-arn"}})["Item"]["pk"] == {"S": "via-arn"}


def test_update_table_without_changes_is_refused(ddb, hash_table):
    with pytest.raises(ClientError) as excinfo:
        ddb.update_table(TableName=hash_table)
    code, message = error_of(excinfo)
    assert code == "ValidationException" and message.startswith("At least one of ProvisionedThroughput, BillingMode")


def test_create_table_by_arn_names_the_table(ddb):
    arn = "arn:aws:dynamodb:us-east-1:000000000000:table/created-by-arn"
    created = create(ddb, arn)["TableDescription"]
    assert created["TableName"] == "created-by-arn"
    assert created["TableArn"] == arn
    ddb.delete_table(TableName=arn)
