"""The shape of every answer: DynamoDB's error body, request id and CRC32 headers, and
the messages of the front end's checks (target, JSON, model validation, body size),
compared with what DynamoDB answers for the same requests."""

from __future__ import annotations

import urllib.request

import pytest
from botocore.exceptions import ClientError

from dynovault.api.model import service_model
from dynovault.api.ops import load_operations
from tests.rawhttp import ERROR_PREFIX, Reply, assert_well_formed

MAX_REQUEST_BYTES = 16 * 1024 * 1024


def assert_error(reply: Reply, code: str, message: str | None = None, status: int = 400) -> None:
    assert_well_formed(reply)
    assert reply.status == status
    body = reply.json()
    assert set(body) == {"__type", "message"}
    assert body["__type"] == ERROR_PREFIX + code
    assert isinstance(body["message"], str) and body["message"]
    if message is not None:
        assert body["message"] == message


def refusal(call, **arguments) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**arguments)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_success_carries_request_id_and_crc32(raw):
    reply = raw.call("ListTables", {})
    assert reply.status == 200
    assert_well_formed(reply)
    assert "TableNames" in reply.json()


def test_request_ids_are_unique(raw):
    ids = {raw.call("ListTables", {}).headers["x-amzn-RequestId"] for _ in range(5)}
    ids |= {raw.post(b"{", target=None).headers["x-amzn-RequestId"] for _ in range(5)}
    assert len(ids) == 10


def test_boto3_validates_the_crc32_of_real_responses(ddb, hash_table):
    """botocore checks ``x-amz-crc32`` for DynamoDB and retries on mismatch; a wrong header
    would surface as a CRC32 error here."""
    ddb.put_item(TableName=hash_table, Item={"pk": {"S": "crc"}, "blob": {"B": bytes(range(256)) * 64}})
    item = ddb.get_item(TableName=hash_table, Key={"pk": {"S": "crc"}})["Item"]
    assert item["blob"]["B"] == bytes(range(256)) * 64


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "DynamoDB_20120810.",
        "DynamoDB_20120810.Fly",
        "DynamoDB_20111205.ListTables",
        "dynamodb_20120810.ListTables",
        "ListTables",
        "DynamoDB_20120810.listTables",
    ],
)
def test_unknown_operation(raw, target):
    reply = raw.post(b"{}", target=target)
    assert_error(reply, "UnknownOperationException")


@pytest.mark.parametrize("body", [b"{", b"not json", b'{"TableName": "x",}', b"\xff\xfe{}", b'{"a": NaN}'])
def test_malformed_json_is_a_serialization_error(raw, body):
    reply = raw.post(body, target="DynamoDB_20120810.DescribeTable")
    assert_error(reply, "SerializationException")
    assert reply.json()["message"].startswith("Could not parse request body into json: ")


def test_json_nested_beyond_the_parser_limit_is_a_serialization_error(raw):
    item = '{"L":[' * 2000 + '{"S":"x"}' + "]}" * 2000
    body = b'{"TableName": "tab", "Item": {"pk": {"S": "a"}, "v": ' + item.encode() + b"}}"
    assert_error(raw.post(body, target="DynamoDB_20120810.PutItem"), "SerializationException")


@pytest.mark.parametrize(
    ("operation", "payload", "message"),
    [
        ("DescribeTable", [], "Start of list found where not expected"),
        ("DescribeTable", "x", "Expected null"),
        ("DescribeTable", {"TableName": 5}, "NUMBER_VALUE cannot be converted to String"),
        ("DescribeTable", {"TableName": True}, "BOOLEAN_VALUE cannot be converted to String"),
        ("DescribeTable", {"TableName": {"S": "x"}}, "Start of structure or map found where not expected."),
        ("ListTables", {"Limit": "5"}, "STRING_VALUE cannot be converted to Integer"),
        ("ListTables", {"Limit": 2.5}, "NUMBER_VALUE cannot be converted to Integer"),
        ("GetItem", {"TableName": "tab", "Key": []}, "Start of list found where not expected"),
        ("GetItem", {"TableName": "tab", "Key": {"k": {"S": "v"}}, "ConsistentRead": "yes"},
         "STRING_VALUE cannot be converted to Boolean"),
        ("BatchGetItem", {"RequestItems": []}, "Start of list found where not expected"),
        ("BatchWriteItem", {"RequestItems": {"tab": {}}}, "Start of structure or map found where not expected."),
        ("CreateTable", {"TableName": "tab", "KeySchema": "HASH"}, "Expected list or null"),
    ],
)
def test_wrong_json_types_are_serialization_errors(raw, operation, payload, message):
    assert_error(raw.call(operation, payload), "SerializationException", message)


@pytest.mark.parametrize(
    ("operation", "arguments", "message"),
    [
        (
            "get_item",
            {},
            "2 validation errors detected: "
            "Value null at 'tableName' failed to satisfy constraint: Member must not be null; "
            "Value null at 'key' failed to satisfy constraint: Member must not be null",
        ),
        (
            "list_tables",
            {"Limit": 0},
            "1 validation error detected: "
            "Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
        (
            "list_tables",
            {"Limit": 101, "ExclusiveStartTableName": "89hls;;f;d"},
            "2 validation errors detected: "
            "Value '101' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100; "
            "Value '89hls;;f;d' at 'exclusiveStartTableName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ),
        (
            "describe_table",
            {"TableName": "ab"},
            "1 validation error detected: "
            "Value 'ab' at 'tableName' failed to satisfy constraint: "
            "Member must have length greater than or equal to 3",
        ),
        (
            "describe_table",
            {"TableName": "x" * 256},
            "1 validation error detected: "
            f"Value '{'x' * 256}' at 'tableName' failed to satisfy constraint: "
            "Member must have length less than or equal to 255",
        ),
        (
            "batch_get_item",
            {"RequestItems": {"Auth": {"Keys": []}}},
            "1 validation error detected: "
            "Value '[]' at 'requestItems.Auth.member.keys' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1",
        ),
        (
            "batch_write_item",
            {"RequestItems": {"test-table": []}},
            "1 validation error detected: Value '{test-table=[]}' at 'requestItems' failed to satisfy constraint: "
            "Map value must satisfy constraint: "
            "[Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
        ),
        (
            "create_table",
            {
                "TableName": "tab",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "PRIMARY"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
            "1 validation error detected: "
            "Value 'PRIMARY' at 'keySchema.1.member.keyType' failed to satisfy constraint: "
            "Member must satisfy enum value set: [HASH, RANGE]",
        ),
    ],
)
def test_model_validation_messages(unchecked, operation, arguments, message):
    assert refusal(getattr(unchecked, operation), **arguments) == ("ValidationException", message)


@pytest.mark.parametrize(
    ("operation", "payload", "path"),
    [
        ("BatchGetItem", {"RequestItems": {"tab": None}}, "requestItems.tab.member"),
        ("BatchWriteItem", {"RequestItems": {"tab": [None]}}, "requestItems.tab.member.1.member"),
        ("CreateTable", {"TableName": "tab", "KeySchema": [None], "AttributeDefinitions": []}, "keySchema.1.member"),
        ("GetItem", {"TableName": "tab", "Key": {}, "ExpressionAttributeNames": {"#n": None}},
         "expressionAttributeNames.#n.member"),
    ],
)
def test_null_list_elements_and_map_values_are_validation_errors(raw, operation, payload, path):
    reply = raw.call(operation, payload)
    assert_error(reply, "ValidationException")
    assert f"Value null at '{path}' failed to satisfy constraint: Member must not be null" in reply.json()["message"]


def test_null_members_are_absent_members(raw):
    assert raw.call("ListTables", {"Limit": None, "ExclusiveStartTableName": None}).status == 200


def _served_operations() -> list[str]:
    return sorted(load_operations())


def _top_level(kind: str) -> list[tuple[str, str, dict]]:
    """(operation, member, member shape) for each served operation's top-level members of
    one kind of constraint in botocore's model."""
    model = service_model()
    found = []
    for operation in _served_operations():
        input_shape = model["shapes"][model["operations"][operation]["input"]["shape"]]
        for member, spec in input_shape["members"].items():
            shape = model["shapes"][spec["shape"]]
            wanted = member in input_shape.get("required", ()) if kind == "required" else kind in shape
            if wanted:
                found.append((operation, member, shape))
    return found


# Members DynamoDB requires with a sentence of its own, checked before anything else
# (DynamoDB's wording as DynamoDB Local and the AWS SDK for Java's issue #977 quote it).
REQUIRED_FIRST = {
    ("CreateTable", "TableName"): ("The parameter 'TableName' is required but was not present in the request", "tab"),
    ("BatchGetItem", "RequestItems"): ("The requestItems parameter is required for BatchGetItem",
                                       {"tab": {"Keys": [{"k": {"S": "v"}}]}}),
    ("BatchWriteItem", "RequestItems"): ("The requestItems parameter is required for BatchWriteItem",
                                         {"tab": [{"DeleteRequest": {"Key": {"k": {"S": "v"}}}}]}),
}


@pytest.mark.parametrize(("operation", "member", "shape"), _top_level("required"))
def test_every_required_member_of_the_model_is_enforced(raw, operation, member, shape):
    reply = raw.call(operation, {})
    assert_error(reply, "ValidationException")
    expected = f"Value null at '{member[0].lower() + member[1:]}' failed to satisfy constraint: Member must not be null"
    if (operation, member) in REQUIRED_FIRST:
        expected = REQUIRED_FIRST[operation, member][0]
    assert expected in reply.json()["message"]


@pytest.mark.parametrize(("operation", "member", "shape"), _top_level("enum"))
def test_every_enum_of_the_model_is_enforced(raw, operation, member, shape):
    present = {name: value for (op, name), (_, value) in REQUIRED_FIRST.items() if op == operation}
    reply = raw.call(operation, {**present, member: "bogus"})
    assert_error(reply, "ValidationException")
    expected = (
        f"Value 'bogus' at '{member[0].lower() + member[1:]}' failed to satisfy constraint: "
        f"Member must satisfy enum value set: [{', '.join(shape['enum'])}]"
    )
    assert expected in reply.json()["message"]


def test_batch_write_over_25_requests_names_the_map_value_constraint(unchecked):
    requests = [{"DeleteRequest": {"Key": {"pk": {"S": str(n)}}}} for n in range(26)]
    code, message = refusal(unchecked.batch_write_item, RequestItems={"tab": requests})
    assert code == "ValidationException"
    assert message.startswith("1 validation error detected: Value '{tab=[")
    assert message.endswith(
        "]}' at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: "
        "[Member must have length less than or equal to 25, Member must have length greater than or equal to 1]"
    )


def test_batch_table_names_follow_the_table_name_rules(unchecked):
    code, message = refusal(unchecked.batch_get_item, RequestItems={"no spaces": {"Keys": [{"pk": {"S": "a"}}]}})
    assert code == "ValidationException"
    assert message.endswith(
        "at 'requestItems' failed to satisfy constraint: Map keys must satisfy constraint: "
        "[Member must have length less than or equal to 255, Member must have length greater than or equal to 3, "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+]"
    )


def test_table_arns_are_accepted_where_names_are(ddb, hash_table):
    arn = ddb.describe_table(TableName=hash_table)["Table"]["TableArn"]
    assert ddb.describe_table(TableName=arn)["Table"]["TableName"] == hash_table


def test_oversize_request_gets_a_clean_413_and_the_server_keeps_serving(raw):
    body = b'{"TableName": "' + b"x" * MAX_REQUEST_BYTES + b'"}'
    assert_error(raw.post(body, target="DynamoDB_20120810.DescribeTable"), "RequestEntityTooLarge", status=413)
    assert raw.call("ListTables", {}).status == 200


def test_a_request_just_under_the_limit_is_read(raw):
    padding = b"x" * (MAX_REQUEST_BYTES - 64)
    reply = raw.post(b'{"Ignored": "' + padding + b'"}', target="DynamoDB_20120810.ListTables")
    assert reply.status == 200


def test_oversize_request_from_boto3_is_a_client_error(ddb, hash_table):
    item = {"pk": {"S": "big"}, "payload": {"S": "x" * MAX_REQUEST_BYTES}}
    code, _ = refusal(ddb.put_item, TableName=hash_table, Item=item)
    assert code == "RequestEntityTooLarge"


def test_health_endpoint(server):
    with urllib.request.urlopen(server.url + "/health", timeout=5) as reply:
        assert reply.status == 200
