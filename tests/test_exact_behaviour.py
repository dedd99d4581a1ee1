"""DynamoDB's exact answers where they are easy to get subtly wrong: required-parameter
sentences, the wording and count of model-check errors, validation order and edge cases,
consumed capacity, the HTTP surface and timestamps. Each message is DynamoDB's; where it
comes from is said beside it."""

from __future__ import annotations

import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.rawhttp import RawClient

KEY = {"pk": {"S": "k"}}


@pytest.fixture(scope="module")
def raw(server):
    client = RawClient(server.url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def unchecked(server):
    """boto3 without its client-side parameter checks, so the server's own checks answer."""
    config = Config(parameter_validation=False, retries={"max_attempts": 1})
    return boto3.client("dynamodb", endpoint_url=server.url, region_name="us-east-1", config=config)


def refusal(call, **arguments) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**arguments)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


# ---- required parameters ----------------------------------------------------------------

# DynamoDB's sentences for these members, checked before any other member (the AWS SDK for
# Java's issue #977 quotes the TableName one; DynamoDB Local's error table and dynalite's
# tests, recorded against DynamoDB, the RequestItems ones, which come before a bad
# ReturnConsumedCapacity).
@pytest.mark.parametrize(
    "operation, payload, message",
    [
        ("CreateTable", {}, "The parameter 'TableName' is required but was not present in the request"),
        ("CreateTable", {"BillingMode": "bogus"},
         "The parameter 'TableName' is required but was not present in the request"),
        ("BatchGetItem", {"ReturnConsumedCapacity": "bogus"}, "The requestItems parameter is required for BatchGetItem"),
        ("BatchGetItem", {"RequestItems": {}}, "The requestItems parameter is required for BatchGetItem"),
        ("BatchWriteItem", {}, "The requestItems parameter is required for BatchWriteItem"),
        ("BatchWriteItem", {"RequestItems": {}}, "The requestItems parameter is required for BatchWriteItem"),
        # Other operations name the member in the model check's words.
        ("DescribeTable", {},
         "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null"),
    ],
)
def test_required_parameters_in_dynamodb_words(raw, operation, payload, message):
    reply = raw.call(operation, payload)
    assert (reply.status, reply.error_code, reply.json()["message"]) == (400, "ValidationException", message)


# ---- model-check messages ---------------------------------------------------------------

# Enumerations are listed in DynamoDB's order, not the model's (dynalite's tests and
# DynamoDB Local's messages, both recorded from DynamoDB).
@pytest.mark.parametrize(
    "operation, arguments, member, values",
    [
        ("put_item", {"Item": KEY, "ReturnValues": "bogus"}, "returnValues",
         "ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW"),
        ("scan", {"Select": "bogus"}, "select", "SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES"),
        ("scan", {"ConditionalOperator": "bogus"}, "conditionalOperator", "OR, AND"),
        ("scan", {"ReturnConsumedCapacity": "bogus"}, "returnConsumedCapacity", "INDEXES, TOTAL, NONE"),
        ("scan", {"ScanFilter": {"a": {"ComparisonOperator": "bogus"}}}, "scanFilter.a.member.comparisonOperator",
         "IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS"),
        ("update_item", {"Key": KEY, "AttributeUpdates": {"a": {"Action": "bogus"}}},
         "attributeUpdates.a.member.action", "ADD, DELETE, PUT"),
    ],
)
def test_enum_values_listed_in_dynamodb_order(unchecked, hash_table, operation, arguments, member, values):
    code, message = refusal(getattr(unchecked, operation), TableName=hash_table, **arguments)
    assert code == "ValidationException"
    assert message == (
        f"1 validation error detected: Value 'bogus' at '{member}' failed to satisfy constraint: "
        f"Member must satisfy enum value set: [{values}]"
    )


def test_attribute_type_enum_in_dynamodb_order(unchecked, table_name):
    code, message = refusal(
        unchecked.create_table, TableName=table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "X"}],
    )
    assert message == (
        "1 validation error detected: Value 'X' at 'attributeDefinitions.1.member.attributeType' failed to satisfy "
        "constraint: Member must satisfy enum value set: [B, N, S]"
    )


def test_an_empty_table_name_is_one_error(unchecked):
    """The length is reported, not also the pattern an empty string cannot match."""
    assert refusal(unchecked.describe_table, TableName="") == (
        "ValidationException",
        "1 validation error detected: Value '' at 'tableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3",
    )


def test_a_short_table_name_with_bad_characters_is_two_errors(unchecked):
    code, message = refusal(unchecked.describe_table, TableName="a!")
    assert message.startswith("2 validation errors detected: ")


def test_numeric_limits_use_value_wording(unchecked, hash_table):
    assert refusal(unchecked.scan, TableName=hash_table, Limit=0) == (
        "ValidationException",
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1",
    )
