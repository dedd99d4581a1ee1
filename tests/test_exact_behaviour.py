"""DynamoDB's exact answers where they are easy to get subtly wrong: required-parameter
sentences, the wording and count of model-check errors, validation order and edge cases,
consumed capacity, the HTTP surface and timestamps. Each message is DynamoDB's; where it
comes from is said beside it."""

from __future__ import annotations

import urllib.request

import pytest

from tests.test_conformance import KEY, refusal

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
    _, message = refusal(
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
        ("1 validation error detected: Value '' at 'tableName' failed to satisfy constraint: "
         "Member must have length greater than or equal to 3"),
    )


def test_a_short_table_name_with_bad_characters_is_two_errors(unchecked):
    _, message = refusal(unchecked.describe_table, TableName="a!")
    assert message.startswith("2 validation errors detected: ")


def test_numeric_limits_use_value_wording(unchecked, hash_table):
    assert refusal(unchecked.scan, TableName=hash_table, Limit=0) == (
        "ValidationException",
        ("1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
         "Member must have value greater than or equal to 1"),
    )


# ---- validation order and edge cases ----------------------------------------------------

def test_segment_without_total_segments(unchecked, hash_table):
    """DynamoDB Local's error table holds both sentences; Segment 0 alone, which Java
    cannot tell from an absent Segment, scans the whole table (test_conformance)."""
    assert refusal(unchecked.scan, TableName=hash_table, Segment=1) == (
        "ValidationException",
        "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
    )
    assert refusal(unchecked.scan, TableName=hash_table, TotalSegments=2) == (
        "ValidationException",
        "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
    )


INVALID_START_KEY = "The provided starting key is invalid: The provided key element does not match the schema"


@pytest.mark.parametrize(
    "fixture, start",
    [
        ("range_table", {"pk": {"S": "k"}}),
        ("hash_table", {"pk": {"S": "k"}, "sk": {"N": "1"}}),
    ],
    ids=["sort-key-missing", "sort-key-extra"],
)
def test_query_start_key_must_match_the_key_schema(request, ddb, fixture, start):
    table = request.getfixturevalue(fixture)
    code, message = refusal(
        ddb.query, TableName=table, KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "k"}}, ExclusiveStartKey=start,
    )
    assert (code, message) == ("ValidationException", INVALID_START_KEY)


# DynamoDB Local's error table and dynalite's recorded answers.
@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"ConditionalOperator": "AND"}, "ConditionalOperator cannot be used without Filter or Expected"),
        ({"Expected": {}, "ConditionalOperator": "OR"}, "ConditionalOperator cannot be used without Filter or Expected"),
        ({"Expected": {"a": {"Exists": False}}, "ConditionalOperator": "AND"},
         "ConditionalOperator can only be used when Filter or Expected has two or more elements"),
    ],
)
def test_conditional_operator_needs_two_conditions(ddb, hash_table, arguments, message):
    assert refusal(ddb.put_item, TableName=hash_table, Item=KEY, **arguments) == ("ValidationException", message)
    assert "Item" not in ddb.get_item(TableName=hash_table, Key=KEY)


def test_conditional_operator_joins_two_scan_filter_conditions(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**KEY, "a": {"N": "1"}})
    conditions = {"a": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]},
                  "b": {"ComparisonOperator": "NOT_NULL"}}
    assert ddb.scan(TableName=hash_table, ScanFilter=conditions, ConditionalOperator="OR")["Count"] == 1
    _, message = refusal(ddb.scan, TableName=hash_table, ScanFilter={"a": conditions["a"]}, ConditionalOperator="OR")
    assert message == "ConditionalOperator can only be used when Filter or Expected has two or more elements"


OPERAND_TYPE = "Incorrect operand type for operator or function; operator or function: {}, operand type: {}"


@pytest.mark.parametrize(
    "expression, values, message",
    [
        ("begins_with(a, :n)", {":n": {"N": "1"}}, OPERAND_TYPE.format("begins_with", "N")),
        ("size(:n) > :n", {":n": {"N": "1"}}, OPERAND_TYPE.format("size", "N")),
        ("attribute_type(a, :n)", {":n": {"N": "1"}}, OPERAND_TYPE.format("attribute_type", "N")),
        ("attribute_type(a, :t)", {":t": {"S": "XX"}},
         "Invalid attribute type name found; type: XX, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"),
        ("begins_with(a)", {},
         "Incorrect number of operands for operator or function; operator or function: begins_with, number of operands: 1"),
        ("size(a, a) > :n", {":n": {"N": "1"}},
         "Incorrect number of operands for operator or function; operator or function: size, number of operands: 2"),
    ],
)
def test_filter_errors_are_refused_even_when_no_item_matches(ddb, hash_table, expression, values, message):
    """Checked when the expression is read, so an empty table refuses them too."""
    arguments = {"ExpressionAttributeValues": values} if values else {}
    code, refused = refusal(ddb.scan, TableName=hash_table, FilterExpression=expression, **arguments)
    assert (code, refused) == ("ValidationException", "Invalid FilterExpression: " + message)


def test_projection_paths_reach_at_most_32_levels(ddb, hash_table):
    """DynamoDB's answer as ScyllaDB's Alternator tests record it."""
    ddb.get_item(TableName=hash_table, Key=KEY, ProjectionExpression="a" + ".b" * 31)
    assert refusal(ddb.get_item, TableName=hash_table, Key=KEY, ProjectionExpression="a" + ".b" * 32) == (
        "ValidationException",
        "Invalid ProjectionExpression: The document path has too many nesting levels; nesting levels: 33",
    )


def test_list_index_on_a_non_list_is_refused_in_updates(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**KEY, "n": {"N": "1"}})
    _, message = refusal(ddb.update_item, TableName=hash_table, Key=KEY, UpdateExpression="SET n[0] = :v",
                            ExpressionAttributeValues={":v": {"N": "2"}})
    assert message == "The document path provided in the update expression is invalid for update"


@pytest.mark.parametrize(
    "value, message",
    [
        # dynalite's recorded answers, DynamoDB's double space included.
        ({"BS": []}, "One or more parameter values were invalid: Binary sets should not be empty"),
        ({"SS": []}, "One or more parameter values were invalid: An string set  may not be empty"),
        ({"NS": []}, "One or more parameter values were invalid: An number set  may not be empty"),
    ],
)
def test_empty_sets(ddb, hash_table, value, message):
    assert refusal(ddb.put_item, TableName=hash_table, Item={**KEY, "s": value}) == ("ValidationException", message)


def test_unused_expression_attribute_values_and_names(ddb, hash_table):
    assert refusal(ddb.put_item, TableName=hash_table, Item=KEY, ConditionExpression="attribute_not_exists(pk)",
                   ExpressionAttributeValues={":u": {"S": "x"}}) == (
        "ValidationException", "Value provided in ExpressionAttributeValues unused in expressions: keys: {:u}")
    assert refusal(ddb.put_item, TableName=hash_table, Item=KEY, ConditionExpression="attribute_not_exists(#p)",
                   ExpressionAttributeNames={"#p": "pk", "#u": "x"}) == (
        "ValidationException", "Value provided in ExpressionAttributeNames unused in expressions: keys: {#u}")


# ---- limits -----------------------------------------------------------------------------

def test_attribute_names_hold_less_than_64_kb(ddb, hash_table):
    """DynamoDB Local's limit message."""
    ddb.put_item(TableName=hash_table, Item={**KEY, "a" * 65535: {"S": "v"}})
    assert refusal(ddb.put_item, TableName=hash_table, Item={**KEY, "a" * 65536: {"S": "v"}}) == (
        "ValidationException", "Attribute name is too large, must be less than 65536 bytes")


def test_key_attribute_names_hold_255_bytes(unchecked, table_name):
    name = "k" * 256
    code, message = refusal(
        unchecked.create_table, TableName=table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": name, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"}],
    )
    assert code == "ValidationException"
    assert ("at 'keySchema.1.member.attributeName' failed to satisfy constraint: "
            "Member must have length less than or equal to 255") in message


def test_key_value_lengths(ddb, table_name):
    """DynamoDB's wordings, the missing space of the first included."""
    ddb.create_table(
        TableName=table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "B"}],
    )
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "x" * 2048}, "sk": {"B": b"x" * 1024}})
    assert refusal(ddb.put_item, TableName=table_name, Item={"pk": {"S": "x" * 2049}, "sk": {"B": b"x"}}) == (
        "ValidationException",
        "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
    )
    assert refusal(ddb.put_item, TableName=table_name, Item={"pk": {"S": "x"}, "sk": {"B": b"x" * 1025}}) == (
        "ValidationException",
        ("One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit "
         "of 1024 bytes"),
    )


def test_an_item_of_exactly_400_kb_with_a_large_binary_is_stored(ddb, hash_table):
    fill = 409600 - len("pk") - len("k") - len("b")
    ddb.put_item(TableName=hash_table, Item={**KEY, "b": {"B": b"x" * fill}})
    assert len(ddb.get_item(TableName=hash_table, Key=KEY)["Item"]["b"]["B"]) == fill
    assert refusal(ddb.put_item, TableName=hash_table, Item={**KEY, "b": {"B": b"x" * (fill + 1)}}) == (
        "ValidationException", "Item size has exceeded the maximum allowed size")


def test_thousands_of_attributes_in_one_item(ddb, hash_table):
    item = {**KEY, **{f"a{index}": {"N": str(index)} for index in range(5000)}}
    ddb.put_item(TableName=hash_table, Item=item)
    assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"] == item
    projected = ddb.get_item(TableName=hash_table, Key=KEY, ProjectionExpression="a0, a4999")["Item"]
    assert projected == {"a0": {"N": "0"}, "a4999": {"N": "4999"}}


def test_expressions_hold_at_most_4_kb(ddb, hash_table):
    expression = " AND ".join(["attribute_exists(a)"] * 250)
    _, message = refusal(ddb.put_item, TableName=hash_table, Item=KEY, ConditionExpression=expression)
    assert message == (
        "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; "
        f"expression size: {len(expression)}"
    )


# ---- consumed capacity ------------------------------------------------------------------

@pytest.mark.parametrize("consistent, units", [(False, 0.5), (True, 1.0)])
def test_reading_a_missing_item_consumes_the_minimum(ddb, hash_table, consistent, units):
    answer = ddb.get_item(TableName=hash_table, Key=KEY, ConsistentRead=consistent, ReturnConsumedCapacity="TOTAL")
    assert "Item" not in answer
    assert answer["ConsumedCapacity"] == {"TableName": hash_table, "CapacityUnits": units}


@pytest.mark.parametrize(
    "operation, arguments",
    [
        ("get_item", {"Key": KEY}),
        ("put_item", {"Item": KEY}),
        ("query", {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "k"}}}),
        ("scan", {}),
        ("delete_item", {"Key": KEY}),
    ],
)
def test_indexes_capacity_always_holds_the_table_entry(ddb, hash_table, operation, arguments):
    answer = getattr(ddb, operation)(TableName=hash_table, ReturnConsumedCapacity="INDEXES", **arguments)
    capacity = answer["ConsumedCapacity"]
    assert capacity["Table"] == {"CapacityUnits": capacity["CapacityUnits"]}


# ---- HTTP surface and timestamps ---------------------------------------------------------

def test_get_root_is_dynamodb_health_check(server):
    with urllib.request.urlopen(server.url + "/") as answer:
        assert answer.status == 200
        assert answer.read() == b"healthy: dynamodb.us-east-1.amazonaws.com"


def test_tagging_answers_have_empty_bodies(raw, ddb, hash_table):
    arn = ddb.describe_table(TableName=hash_table)["Table"]["TableArn"]
    tagged = raw.call("TagResource", {"ResourceArn": arn, "Tags": [{"Key": "a", "Value": "1"}]})
    assert (tagged.status, tagged.body) == (200, b"")
    untagged = raw.call("UntagResource", {"ResourceArn": arn, "TagKeys": ["a"]})
    assert (untagged.status, untagged.body) == (200, b"")
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == []


def test_listing_tags_of_a_missing_table_is_denied(ddb, hash_table):
    """dynalite's recorded answers: the caller is denied, not told the table is missing."""
    arn = ddb.describe_table(TableName=hash_table)["Table"]["TableArn"] + "-missing"
    code, message = refusal(ddb.list_tags_of_resource, ResourceArn=arn)
    assert code == "AccessDeniedException"
    assert message.endswith(f"is not authorized to perform: dynamodb:ListTagsOfResource on resource: {arn}")


@pytest.mark.parametrize("operation", ["GetItem", "NoSuchOperation"])
def test_error_bodies_are_never_empty(raw, operation):
    reply = raw.call(operation, {"TableName": "absent-table", "Key": KEY})
    assert reply.status == 400
    assert reply.json()["message"]


def test_on_demand_since_creation(ddb, table_name):
    description = ddb.create_table(
        TableName=table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )["TableDescription"]
    assert description["BillingModeSummary"]["LastUpdateToPayPerRequestDateTime"] == description["CreationDateTime"]
    described = ddb.describe_table(TableName=table_name)["Table"]
    assert described["BillingModeSummary"]["LastUpdateToPayPerRequestDateTime"] == described["CreationDateTime"]


@pytest.mark.parametrize("consistent, units", [(True, 4.0), (False, 2.0)])
def test_a_scan_is_charged_per_partition(ddb, hash_table, consistent, units):
    """The publicly discussed 4 units (2 eventually consistent) for a Scan of one small
    item: a new on-demand table has four partitions, and a Scan pays each one's 4 KB
    minimum. A segment of four covers one partition."""
    ddb.put_item(TableName=hash_table, Item=KEY)
    scan = ddb.scan(TableName=hash_table, ConsistentRead=consistent, ReturnConsumedCapacity="TOTAL")
    assert scan["ConsumedCapacity"]["CapacityUnits"] == units
    segments = [
        ddb.scan(TableName=hash_table, ConsistentRead=consistent, ReturnConsumedCapacity="TOTAL",
                 Segment=segment, TotalSegments=4)["ConsumedCapacity"]["CapacityUnits"]
        for segment in range(4)
    ]
    assert segments == [units / 4] * 4
    query = ddb.query(TableName=hash_table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": KEY["pk"]},
                      ConsistentRead=consistent, ReturnConsumedCapacity="TOTAL")
    assert query["ConsumedCapacity"]["CapacityUnits"] == units / 4


def test_a_small_provisioned_table_is_one_partition(ddb, table_name):
    ddb.create_table(
        TableName=table_name, ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    ddb.put_item(TableName=table_name, Item=KEY)
    scan = ddb.scan(TableName=table_name, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    assert scan["ConsumedCapacity"]["CapacityUnits"] == 1.0


def test_scan_partitions_round_up_apart(ddb, hash_table):
    """Items in one partition add up before rounding; a whole Scan pays at least one unit
    per partition however its bytes fall."""
    for index in range(8):
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": f"k{index}"}, "b": {"S": "x" * 3000}})
    total = ddb.scan(TableName=hash_table, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    segments = sum(
        ddb.scan(TableName=hash_table, ConsistentRead=True, ReturnConsumedCapacity="TOTAL",
                 Segment=segment, TotalSegments=4)["ConsumedCapacity"]["CapacityUnits"]
        for segment in range(4)
    )
    assert total["ConsumedCapacity"]["CapacityUnits"] == segments
    assert segments >= 4 and segments >= 8 * 3000 / 4096


# DynamoDB's CORS answers as dynalite's tests, recorded against DynamoDB, pin them.
EXPOSED = "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date"


def test_cors_preflight_allows_what_it_asks(server):
    request = urllib.request.Request(server.url + "/", method="OPTIONS", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-amz-target,authorization",
    })
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 200
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert answer.headers["Access-Control-Allow-Methods"] == "POST"
        assert answer.headers["Access-Control-Allow-Headers"] == "content-type,x-amz-target,authorization"
        assert answer.headers["Access-Control-Max-Age"] == "172800"
        assert answer.read() == b""


def test_answers_to_browsers_allow_any_origin(raw):
    for target in ("DynamoDB_20120810.ListTables", "DynamoDB_20120810.NoSuchOperation"):
        reply = raw.post(b"{}", target=target, headers={"Origin": "https://app.example"})
        assert reply.headers["Access-Control-Allow-Origin"] == "*"
        assert reply.headers["Access-Control-Expose-Headers"] == EXPOSED
    assert "Access-Control-Allow-Origin" not in raw.post(b"{}").headers
