"""Conformance with DynamoDB as an unmodified boto3 user meets it: the refusals of
placeholders and parameter mixes, key conditions, numbers, and the answers boto3's
resource layer and waiters rely on. Messages are DynamoDB's own wording."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

KEY = {"pk": {"S": "k"}}


def refusal(call, **arguments) -> tuple[str, str]:
    """The error code and message a call is refused with."""
    with pytest.raises(ClientError) as excinfo:
        call(**arguments)
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


ONLY_WITH_EXPRESSIONS = "ExpressionAttributeValues can only be specified when using expressions"


@pytest.mark.parametrize(
    "operation, arguments, message",
    [
        ("put_item", {"Item": KEY, "ExpressionAttributeValues": {":v": {"N": "1"}}},
         ONLY_WITH_EXPRESSIONS),
        ("delete_item", {"Key": KEY, "ExpressionAttributeValues": {":v": {"N": "1"}}},
         ONLY_WITH_EXPRESSIONS),
        ("update_item", {"Key": KEY, "ExpressionAttributeValues": {":v": {"N": "1"}}},
         ONLY_WITH_EXPRESSIONS),
        ("scan", {"ExpressionAttributeValues": {":v": {"N": "1"}}}, ONLY_WITH_EXPRESSIONS),
        ("scan", {"ProjectionExpression": "a", "ExpressionAttributeValues": {":v": {"N": "1"}}},
         ONLY_WITH_EXPRESSIONS),
        ("query", {"KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "k"}]}},
                   "ExpressionAttributeValues": {":v": {"N": "1"}}},
         ONLY_WITH_EXPRESSIONS),
        ("put_item", {"Item": KEY, "ConditionExpression": "attribute_exists(pk)", "ConditionalOperator": "OR"},
         ("Can not use both expression and non-expression parameters in the same request: "
         "Non-expression parameters: {ConditionalOperator} Expression parameters: {ConditionExpression}")),
        ("scan", {"FilterExpression": "attribute_exists(a)", "ConditionalOperator": "AND"},
         ("Can not use both expression and non-expression parameters in the same request: "
         "Non-expression parameters: {ConditionalOperator} Expression parameters: {FilterExpression}")),
        ("get_item", {"Key": KEY, "ProjectionExpression": "a", "ExpressionAttributeNames": {"a": "a"}},
         'ExpressionAttributeNames contains invalid key: Syntax error; key: "a"'),
        ("put_item", {"Item": KEY, "ConditionExpression": "#a-b = :v", "ExpressionAttributeNames": {"#a-b": "a"},
                      "ExpressionAttributeValues": {":v": {"N": "1"}}},
         'ExpressionAttributeNames contains invalid key: Syntax error; key: "#a-b"'),
        ("put_item", {"Item": KEY, "ConditionExpression": "a = :v.w",
                      "ExpressionAttributeValues": {":v.w": {"N": "1"}}},
         'ExpressionAttributeValues contains invalid key: Syntax error; key: ":v.w"'),
    ],
)
def test_placeholder_and_parameter_mix_refusals(ddb, hash_table, operation, arguments, message):
    call = getattr(ddb, operation)
    assert refusal(call, TableName=hash_table, **arguments) == ("ValidationException", message)


def test_legacy_key_conditions_go_with_a_filter_expression(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**KEY, "n": {"N": "5"}})
    response = ddb.query(
        TableName=hash_table,
        KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "k"}]}},
        FilterExpression="n > :low",
        ExpressionAttributeValues={":low": {"N": "4"}},
    )
    assert response["Items"] == [{**KEY, "n": {"N": "5"}}]


@pytest.mark.parametrize(
    "condition, values, message",
    [
        ("pk BETWEEN :p AND :q", {":q": {"S": "z"}}, "Query key condition not supported"),
        ("begins_with(pk, :p)", {}, "Query key condition not supported"),
        ("pk = :p AND extra = :a", {":a": {"N": "1"}}, "Query condition missed key schema element: sk"),
        ("pk = :p AND sk = pk", {},
         "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"),
        ("pk = :p AND :a = :a", {":a": {"N": "1"}},
         "Invalid condition in KeyConditionExpression: No key attribute specified"),
        ("pk = :p AND sk.x = :a", {":a": {"N": "1"}},
         "KeyConditionExpressions cannot have conditions on nested attributes"),
        ("pk = :p AND size(sk) = :a", {":a": {"N": "1"}}, "KeyConditionExpressions cannot contain nested operations"),
        ("pk = :p AND attribute_not_exists(sk)", {}, "Invalid operator used in KeyConditionExpression: attribute_not_exists"),
        ("pk = :p AND :a BETWEEN sk AND :a", {":a": {"N": "1"}},
         "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand"),
    ],
)
def test_key_condition_refusals(ddb, range_table, condition, values, message):
    arguments = {"KeyConditionExpression": condition, "ExpressionAttributeValues": {":p": {"S": "k"}, **values}}
    assert refusal(ddb.query, TableName=range_table, **arguments) == ("ValidationException", message)


@pytest.mark.parametrize("text", ["\uff11", "\u0661", "1\u00b2", "abc", "", " 1", "1 ", "0x10", "1e", "NaN", "Infinity"])
def test_numbers_are_ascii_decimal_literals(ddb, hash_table, text):
    code, message = refusal(ddb.put_item, TableName=hash_table, Item={**KEY, "n": {"N": text}})
    assert (code, message) == ("ValidationException", f"The parameter cannot be converted to a numeric value: {text}")


@pytest.mark.parametrize(
    "text, message",
    [
        ("1e99999999999", "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("-1e2147483648", "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("1e-99999999999", "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
        ("1234567890123456789012345678901234567890", "Attempting to store more than 38 significant digits in a Number"),
        ("0e126", "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("0e-131", "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
        ("1e9223372036854775807", "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("1e9223372036854775808", "The parameter cannot be converted to a numeric value: 1e9223372036854775808"),
    ],
)
def test_numbers_out_of_range(ddb, hash_table, text, message):
    assert refusal(ddb.put_item, TableName=hash_table, Item={**KEY, "n": {"N": text}}) == ("ValidationException", message)


@pytest.mark.parametrize(
    "expression, operands, message",
    [
        ("SET n = :a + :b", ("9.9999999999999999999999999999999999999E+125", "1E+125"),
         "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("SET n = :a - :b", ("-9.9999999999999999999999999999999999999E+125", "1E+125"),
         "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("SET n = :a - :b", ("1.5E-130", "1E-130"),
         "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
        ("SET n = :a + :b", ("1e50", "1"),
         "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("SET n = :a - :b", ("1e50", "1"),
         "Number overflow. Attempting to store a number with magnitude larger than supported range"),
    ],
)
def test_arithmetic_out_of_range(ddb, hash_table, expression, operands, message):
    values = {":a": {"N": operands[0]}, ":b": {"N": operands[1]}}
    arguments = {"Key": KEY, "UpdateExpression": expression, "ExpressionAttributeValues": values}
    assert refusal(ddb.update_item, TableName=hash_table, **arguments) == ("ValidationException", message)


@pytest.mark.parametrize(
    "expression, values, message",
    [
        ("REMOVE absent.x", None, "The document path provided in the update expression is invalid for update"),
        ("REMOVE s[0]", None, "The document path provided in the update expression is invalid for update"),
        ("DELETE absent.x :set", {":set": {"SS": ["a"]}},
         "The document path provided in the update expression is invalid for update"),
        ("ADD absent.x :one", {":one": {"N": "1"}},
         "The document path provided in the update expression is invalid for update"),
        ("ADD s :one", {":one": {"N": "1"}}, "An operand in the update expression has an incorrect data type"),
        ("DELETE s :set", {":set": {"SS": ["a"]}}, "An operand in the update expression has an incorrect data type"),
    ],
)
def test_update_paths_and_types_checked_against_the_item(ddb, hash_table, expression, values, message):
    item = {**KEY, "s": {"S": "text"}, "m": {"M": {}}}
    ddb.put_item(TableName=hash_table, Item=item)
    arguments = {"Key": KEY, "UpdateExpression": expression}
    if values:
        arguments["ExpressionAttributeValues"] = values
    assert refusal(ddb.update_item, TableName=hash_table, **arguments) == ("ValidationException", message)
    assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"] == item


def test_removing_what_is_missing_under_an_existing_parent_changes_nothing(ddb, hash_table):
    item = {**KEY, "m": {"M": {"a": {"N": "1"}}}, "l": {"L": [{"N": "1"}]}}
    ddb.put_item(TableName=hash_table, Item=item)
    ddb.update_item(TableName=hash_table, Key=KEY, UpdateExpression="REMOVE m.b, l[5], absent")
    assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"] == item


def test_legacy_attribute_updates_word_a_type_mismatch_their_way(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**KEY, "s": {"S": "text"}})
    updates = {"s": {"Action": "ADD", "Value": {"N": "1"}}}
    code, message = refusal(ddb.update_item, TableName=hash_table, Key=KEY, AttributeUpdates=updates)
    assert (code, message) == ("ValidationException", "Type mismatch for attribute to update")


KEY_PATH = "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: Key: pk"


@pytest.mark.parametrize(
    "operation, arguments",
    [
        ("get_item", {"Key": KEY, "ProjectionExpression": "pk.a"}),
        ("scan", {"ProjectionExpression": "#k[0]", "ExpressionAttributeNames": {"#k": "pk"}}),
        ("scan", {"FilterExpression": "attribute_exists(pk.b.c)"}),
    ],
)
def test_paths_into_key_attributes_are_refused(ddb, hash_table, operation, arguments):
    assert refusal(getattr(ddb, operation), TableName=hash_table, **arguments) == ("ValidationException", KEY_PATH)


def test_batch_get_refuses_paths_into_key_attributes(ddb, hash_table):
    request = {hash_table: {"Keys": [KEY], "ProjectionExpression": "pk.a"}}
    assert refusal(ddb.batch_get_item, RequestItems=request) == ("ValidationException", KEY_PATH)


def test_parallel_scan_start_key_must_belong_to_the_segment(ddb, hash_table):
    for index in range(20):
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": f"k{index}"}})
    first_half = ddb.scan(TableName=hash_table, Segment=0, TotalSegments=2)["Items"]
    second_half = ddb.scan(TableName=hash_table, Segment=1, TotalSegments=2)["Items"]
    assert first_half and second_half
    assert ddb.scan(TableName=hash_table, Segment=1, TotalSegments=2, ExclusiveStartKey=second_half[0])["Items"] \
        == second_half[1:]
    code, message = refusal(
        ddb.scan, TableName=hash_table, Segment=0, TotalSegments=2, ExclusiveStartKey=second_half[0]
    )
    assert (code, message) == (
        "ValidationException",
        ("The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct "
        "Segment. TotalSegments: 2 Segment: 0"),
    )


@pytest.mark.parametrize(
    "value, message",
    [
        ({"SS": ["b", "a", "b"]},
         'One or more parameter values were invalid: Input collection ["a", "b", "b"] contains duplicates.'),
        ({"NS": ["2", "1", "2.0"]}, "One or more parameter values were invalid: Input collection contains duplicates."),
        ({"BS": [b"\xff", b"\x00", b"\x00"]},
         'One or more parameter values were invalid: Input collection ["AA==","/w==","AA=="]of type BS contains duplicates.'),
    ],
)
def test_set_duplicates(ddb, hash_table, value, message):
    assert refusal(ddb.put_item, TableName=hash_table, Item={**KEY, "s": value}) == ("ValidationException", message)


def test_attributes_to_get_without_duplicates(ddb, hash_table):
    code, message = refusal(ddb.get_item, TableName=hash_table, Key=KEY, AttributesToGet=["a", "b", "a"])
    assert (code, message) == (
        "ValidationException", "One or more parameter values were invalid: Duplicate value in attribute name: a"
    )


def test_create_table_refuses_three_key_elements(ddb, table_name):
    schema = [{"AttributeName": name, "KeyType": kind} for name, kind in (("a", "HASH"), ("b", "RANGE"), ("c", "RANGE"))]
    definitions = [{"AttributeName": name, "AttributeType": "S"} for name in "abc"]
    code, message = refusal(
        ddb.create_table, TableName=table_name, KeySchema=schema, AttributeDefinitions=definitions,
        BillingMode="PAY_PER_REQUEST",
    )
    assert (code, message) == (
        "ValidationException",
        ("1 validation error detected: Value '[KeySchemaElement(attributeName=a, keyType=HASH), "
        "KeySchemaElement(attributeName=b, keyType=RANGE), KeySchemaElement(attributeName=c, keyType=RANGE)]' "
        "at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2"),
    )


def test_updated_values_read_the_paths_before_and_after(ddb, hash_table):
    """A REMOVEd attribute is absent from UPDATED_NEW, but a REMOVEd list element's
    place holds the element shifted into it, and DynamoDB returns that one."""
    item = {**KEY, "l": {"L": [{"N": "1"}, {"N": "2"}]}, "gone": {"S": "x"}}
    arguments = {"TableName": hash_table, "Key": KEY, "UpdateExpression": "REMOVE l[0], gone SET n = :n",
                 "ExpressionAttributeValues": {":n": {"N": "5"}}}
    ddb.put_item(TableName=hash_table, Item=item)
    assert ddb.update_item(**arguments, ReturnValues="UPDATED_NEW")["Attributes"] == {
        "l": {"L": [{"N": "2"}]}, "n": {"N": "5"}
    }
    ddb.put_item(TableName=hash_table, Item=item)
    assert ddb.update_item(**arguments, ReturnValues="UPDATED_OLD")["Attributes"] == {
        "l": {"L": [{"N": "1"}]}, "gone": {"S": "x"}
    }
    response = ddb.update_item(TableName=hash_table, Key=KEY, UpdateExpression="REMOVE n", ReturnValues="UPDATED_NEW")
    assert "Attributes" not in response


def nested(levels: int) -> dict:
    """A value whose leaf sits ``levels`` maps deep."""
    value: dict = {"S": "leaf"}
    for _ in range(levels):
        value = {"M": {"n": value}}
    return value


NESTING = "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit"


def test_documents_nest_at_most_32_levels(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**KEY, "d": nested(31)})
    assert refusal(ddb.put_item, TableName=hash_table, Item={**KEY, "d": nested(32)}) == ("ValidationException", NESTING)
    code, message = refusal(
        ddb.put_item, TableName=hash_table, Item=KEY, ConditionExpression="d <> :deep",
        ExpressionAttributeValues={":deep": nested(32)},
    )
    assert (code, message) == ("ValidationException", NESTING)
    code, message = refusal(
        ddb.scan, TableName=hash_table, FilterExpression="d <> :deep", ExpressionAttributeValues={":deep": nested(32)}
    )
    assert (code, message) == ("ValidationException", f"ExpressionAttributeValues contains invalid value: {NESTING} for key :deep")


def test_item_size_limit_is_409600_bytes_inclusive(ddb, hash_table):
    # "pk" + "k" is 3 bytes, the name "x" 1: the string fills the item to the byte.
    ddb.put_item(TableName=hash_table, Item={**KEY, "x": {"S": "y" * (409600 - 4)}})
    code, message = refusal(ddb.put_item, TableName=hash_table, Item={**KEY, "x": {"S": "y" * (409600 - 3)}})
    assert (code, message) == ("ValidationException", "Item size has exceeded the maximum allowed size")


@pytest.mark.parametrize("mode", ["TOTAL", "INDEXES"])
def test_consumed_capacity_is_the_total_alone(ddb, hash_table, mode):
    """Outside transactions DynamoDB reports CapacityUnits without a read/write split."""
    table = {"Table": {"CapacityUnits": 1.0}} if mode == "INDEXES" else {}
    written = ddb.put_item(TableName=hash_table, Item=KEY, ReturnConsumedCapacity=mode)["ConsumedCapacity"]
    assert written == {"TableName": hash_table, "CapacityUnits": 1.0, **table}
    read = ddb.get_item(TableName=hash_table, Key=KEY, ConsistentRead=True, ReturnConsumedCapacity=mode)
    assert read["ConsumedCapacity"] == {"TableName": hash_table, "CapacityUnits": 1.0, **table}
    arn = ddb.describe_table(TableName=hash_table)["Table"]["TableArn"]
    batch = ddb.batch_get_item(RequestItems={arn: {"Keys": [KEY], "ConsistentRead": True}}, ReturnConsumedCapacity=mode)
    assert batch["ConsumedCapacity"] == [{"TableName": hash_table, "CapacityUnits": 1.0, **table}]


def test_read_capacity_rounds_item_sizes_up_to_4_kb(ddb, hash_table):
    """An item of exactly 4096 bytes costs half a unit read eventually consistent, one more byte a whole one."""
    for size, units in ((4096, 0.5), (4097, 1.0)):
        ddb.put_item(TableName=hash_table, Item={**KEY, "b": {"S": "x" * (size - 4)}})
        response = ddb.get_item(TableName=hash_table, Key=KEY, ReturnConsumedCapacity="TOTAL")
        assert response["ConsumedCapacity"]["CapacityUnits"] == units


def test_batch_write_sees_one_table_under_its_name_and_arn(ddb, hash_table):
    arn = ddb.describe_table(TableName=hash_table)["Table"]["TableArn"]
    put = [{"PutRequest": {"Item": KEY}}]
    code, message = refusal(ddb.batch_write_item, RequestItems={hash_table: put, arn: put})
    assert (code, message) == ("ValidationException", "Provided list of item keys contains duplicates")


@pytest.mark.parametrize(
    "literal, cost",
    [("100", 2), ("1010", 3), ("0.0000001", 2), ("1.5", 3), ("15", 2), ("3.14159", 5), ("123456", 4),
     ("100.5", 4), ("0.15", 2), ("-42", 3), ("-0", 1)],
)
def test_numbers_cost_digit_pairs_aligned_on_the_point(ddb, hash_table, literal, cost):
    """Probed at the 400 KB gate, which resolves item sizes to the byte: an item built
    to exactly 409600 bytes on the number's cost is accepted, one byte more refused."""
    padding = 409600 - 3 - (1 + cost) - 1
    ddb.put_item(TableName=hash_table, Item={**KEY, "n": {"N": literal}, "p": {"S": "x" * padding}})
    code, _ = refusal(
        ddb.put_item, TableName=hash_table, Item={**KEY, "n": {"N": literal}, "p": {"S": "x" * (padding + 1)}}
    )
    assert code == "ValidationException"


def test_legacy_expected_takes_value_with_a_comparison_operator(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**KEY, "n": {"N": "5"}})
    expected = {"n": {"ComparisonOperator": "GT", "Value": {"N": "4"}}}
    ddb.put_item(TableName=hash_table, Item={**KEY, "n": {"N": "6"}}, Expected=expected)
    code, message = refusal(ddb.put_item, TableName=hash_table, Item=KEY, Expected={"a": {"ComparisonOperator": "EQ"}})
    assert (code, message) == (
        "ValidationException",
        ("One or more parameter values were invalid: Value or AttributeValueList must be used with "
        "ComparisonOperator: EQ for Attribute: a"),
    )


OPERAND_TYPE = "Incorrect operand type for operator or function; operator or function: {}, operand type: {}"


@pytest.mark.parametrize(
    "condition, values, message",
    [
        ("pk = :p AND sk < :v", {":v": {"BOOL": True}}, "Invalid KeyConditionExpression: " + OPERAND_TYPE.format("<", "BOOL")),
        ("pk = :p AND :v >= sk", {":v": {"BOOL": True}}, "Invalid KeyConditionExpression: " + OPERAND_TYPE.format(">=", "BOOL")),
        ("pk = :p AND sk BETWEEN :a AND :b", {":a": {"BOOL": False}, ":b": {"BOOL": True}},
         "Invalid KeyConditionExpression: " + OPERAND_TYPE.format("BETWEEN", "BOOL")),
        ("pk = :p AND sk = :v", {":v": {"BOOL": True}},
         "One or more parameter values were invalid: Condition parameter type does not match schema type"),
        ("pk = :p AND sk > :a AND sk < :a", {":a": {"N": "1"}},
         "Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key"),
        ("pk = :p AND sk > :a AND extra = :a", {":a": {"N": "1"}},
         "The number of query conditions (3) exceeds the number of key attributes defined in the schema (2)"),
        ("pk = :missing AND begins_with(sk, :n)", {":n": {"N": "1"}},
         ("Invalid KeyConditionExpression: An expression attribute value used in expression is not defined; "
         "attribute value: :missing")),
        ("begins_with(sk, :n) AND pk = :missing", {":n": {"N": "1"}},
         "Invalid KeyConditionExpression: " + OPERAND_TYPE.format("begins_with", "N")),
    ],
)
def test_key_condition_problems_in_the_order_written(ddb, range_table, condition, values, message):
    """The first problem met reading the expression is the one reported (DynamoDB, 2026)."""
    arguments = {"KeyConditionExpression": condition, "ExpressionAttributeValues": values}
    if ":p" in condition:
        arguments["ExpressionAttributeValues"] = {":p": {"S": "k"}, **values}
    assert refusal(ddb.query, TableName=range_table, **arguments) == ("ValidationException", message)


def test_ordering_comparisons_refuse_unordered_operands(ddb, hash_table):
    code, message = refusal(
        ddb.put_item, TableName=hash_table, Item=KEY, ConditionExpression="a < :l",
        ExpressionAttributeValues={":l": {"L": []}},
    )
    assert (code, message) == ("ValidationException", "Invalid ConditionExpression: " + OPERAND_TYPE.format("<", "L"))


@pytest.mark.parametrize("item", [{"pk": {"N": "5"}}, {"pk": {"L": [{"S": "x"}]}}, {"other": {"S": "x"}}])
def test_batch_write_refuses_key_problems_as_a_schema_mismatch(ddb, hash_table, item):
    """BatchWriteItem does not name the key the way PutItem does (DynamoDB, 2026)."""
    request = {hash_table: [{"PutRequest": {"Item": item}}]}
    code, message = refusal(ddb.batch_write_item, RequestItems=request)
    assert (code, message) == ("ValidationException", "The provided key element does not match the schema")
    put_message = refusal(ddb.put_item, TableName=hash_table, Item=item)[1]
    assert put_message.startswith("One or more parameter values were invalid: ")


def test_batch_get_refuses_projection_families_mixed_across_tables(ddb, hash_table, range_table):
    request = {
        hash_table: {"Keys": [KEY], "ProjectionExpression": "pk"},
        range_table: {"Keys": [{"pk": {"S": "k"}, "sk": {"N": "1"}}], "AttributesToGet": ["pk"]},
    }
    assert refusal(ddb.batch_get_item, RequestItems=request) == (
        "ValidationException",
        ("Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"),
    )


@pytest.mark.parametrize(
    "condition, start, message",
    [
        ("pk = :p", {"pk": {"S": "other"}, "sk": {"N": "1"}},
         "The provided starting key is outside query boundaries based on provided conditions"),
        ("pk = :p AND sk > :low", {"pk": {"S": "k"}, "sk": {"N": "1"}},
         "The provided starting key does not match the range key predicate"),
        ("pk = :p AND sk > :low", {"pk": {"S": "other"}, "sk": {"N": "9"}},
         "The query can return at most one row and cannot be restarted"),
    ],
)
def test_query_start_key_outside_the_key_condition(ddb, range_table, condition, start, message):
    values = {":p": {"S": "k"}, **({":low": {"N": "5"}} if ":low" in condition else {})}
    code, got = refusal(
        ddb.query, TableName=range_table, KeyConditionExpression=condition, ExpressionAttributeValues=values,
        ExclusiveStartKey=start,
    )
    assert (code, got) == ("ValidationException", message)


def test_query_pages_through_a_sort_key_range(ddb, range_table):
    for sort in range(10):
        ddb.put_item(TableName=range_table, Item={"pk": {"S": "k"}, "sk": {"N": str(sort)}})
    pages = ddb.get_paginator("query").paginate(
        TableName=range_table, KeyConditionExpression="pk = :p AND sk BETWEEN :low AND :high",
        ExpressionAttributeValues={":p": {"S": "k"}, ":low": {"N": "2"}, ":high": {"N": "7"}},
        ScanIndexForward=False, PaginationConfig={"PageSize": 2},
    )
    assert [item["sk"]["N"] for page in pages for item in page["Items"]] == ["7", "6", "5", "4", "3", "2"]


def test_query_filter_on_a_key_attribute_names_the_parameter(ddb, range_table):
    code, message = refusal(
        ddb.query, TableName=range_table,
        KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "k"}]}},
        QueryFilter={"sk": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "1"}]}},
    )
    assert (code, message) == (
        "ValidationException", "QueryFilter can only contain non-primary key attributes: Primary key attribute: sk"
    )


def test_scan_segment_zero_alone_scans_the_whole_table(ddb, hash_table):
    for index in range(5):
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": f"k{index}"}})
    assert ddb.scan(TableName=hash_table, Segment=0)["Count"] == 5


def test_query_validates_its_expressions_before_looking_for_the_table(ddb):
    arguments = {"KeyConditionExpression": "pk = :p AND begins_with(sk, :n)",
                 "ExpressionAttributeValues": {":p": {"S": "k"}, ":n": {"N": "1"}}}
    code, message = refusal(ddb.query, TableName="absent-table", **arguments)
    assert (code, message) == ("ValidationException", "Invalid KeyConditionExpression: " + OPERAND_TYPE.format("begins_with", "N"))
    arguments["ExpressionAttributeValues"][":n"] = {"S": "a"}
    assert refusal(ddb.query, TableName="absent-table", **arguments)[0] == "ResourceNotFoundException"


def test_zero_written_with_an_exponent_in_range_is_zero(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**KEY, "n": {"N": "0e125"}})
    assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"]["n"] == {"N": "0"}


def test_expressions_hold_at_most_300_operators(ddb, hash_table):
    """Comparisons and AND count alike: 151 comparisons joined by 150 ANDs make 301."""
    values = {":v": {"N": "1"}}
    ddb.scan(TableName=hash_table, FilterExpression=" AND ".join(["a < :v"] * 150), ExpressionAttributeValues=values)
    code, message = refusal(
        ddb.scan, TableName=hash_table, FilterExpression=" AND ".join(["a < :v"] * 151), ExpressionAttributeValues=values
    )
    assert (code, message) == (
        "ValidationException", "Invalid FilterExpression: The expression contains too many operators; operator count: 301"
    )


def test_sets_come_back_in_dynamodb_order(ddb, hash_table):
    """Strings and binaries bytewise, numbers by value, whatever order they were written in."""
    item = {**KEY, "ss": {"SS": ["b", "", "a"]}, "ns": {"NS": ["10", "-1", "2.5"]}, "bs": {"BS": [b"\xff", b"\x00"]}}
    ddb.put_item(TableName=hash_table, Item=item)
    ddb.update_item(TableName=hash_table, Key=KEY, UpdateExpression="ADD ss :s", ExpressionAttributeValues={":s": {"SS": ["0"]}})
    stored = ddb.get_item(TableName=hash_table, Key=KEY)["Item"]
    assert stored["ss"] == {"SS": ["", "0", "a", "b"]}
    assert stored["ns"] == {"NS": ["-1", "2.5", "10"]}
    assert stored["bs"] == {"BS": [b"\x00", b"\xff"]}


def test_create_table_refuses_one_attribute_as_both_keys(ddb, table_name):
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "pk", "KeyType": "RANGE"}]
    code, message = refusal(
        ddb.create_table, TableName=table_name, KeySchema=schema,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    assert (code, message) == (
        "ValidationException",
        "Invalid KeySchema: Both the Hash Key and the Range Key element in the KeySchema have the same name",
    )


@pytest.mark.parametrize(
    "operation, arguments",
    [
        ("put_item", {"Item": KEY, "ConditionExpression": "a = :missing"}),
        ("delete_item", {"Key": KEY, "ConditionExpression": "a = :missing"}),
        ("update_item", {"Key": KEY, "UpdateExpression": "SET a = :missing"}),
    ],
)
def test_writes_validate_their_expressions_before_looking_for_the_table(ddb, operation, arguments):
    code, message = refusal(getattr(ddb, operation), TableName="absent-table", **arguments)
    assert code == "ValidationException"
    assert message.endswith("An expression attribute value used in expression is not defined; attribute value: :missing")


@pytest.mark.parametrize(
    "condition, message",
    [
        ({"ComparisonOperator": "GT", "AttributeValueList": [{"BOOL": True}]},
         "One or more parameter values were invalid: ComparisonOperator GT is not valid for BOOL AttributeValue type"),
        ({"ComparisonOperator": "IN", "AttributeValueList": [{"SS": ["a"]}]},
         "One or more parameter values were invalid: ComparisonOperator IN is not valid for SS AttributeValue type"),
        ({"ComparisonOperator": "IN", "AttributeValueList": [{"S": "a"}, {"N": "1"}]},
         "One or more parameter values were invalid: AttributeValues inside AttributeValueList must be of same type"),
        ({"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "5"}, {"N": "1"}]},
         "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"),
    ],
)
def test_legacy_scan_filter_operands(ddb, hash_table, condition, message):
    code, got = refusal(ddb.scan, TableName=hash_table, ScanFilter={"a": condition})
    assert (code, got) == ("ValidationException", message)


@pytest.mark.parametrize(
    "arguments",
    [
        {"UpdateExpression": "REMOVE a, b"},
        {"UpdateExpression": "DELETE s :s", "ExpressionAttributeValues": {":s": {"SS": ["x"]}}},
        {"AttributeUpdates": {"a": {"Action": "DELETE"}}},
    ],
)
def test_taking_attributes_from_a_missing_item_creates_nothing(ddb, hash_table, arguments):
    response = ddb.update_item(TableName=hash_table, Key=KEY, ReturnValues="ALL_NEW", **arguments)
    assert "Attributes" not in response
    assert "Item" not in ddb.get_item(TableName=hash_table, Key=KEY)


def test_an_empty_update_of_a_missing_item_creates_it(ddb, hash_table):
    ddb.update_item(TableName=hash_table, Key=KEY)
    assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"] == KEY


def test_arithmetic_is_exact_to_38_digits(ddb, hash_table):
    values = {":a": {"N": "1"}, ":b": {"N": "10000000000000000000000"}}
    ddb.update_item(TableName=hash_table, Key=KEY, UpdateExpression="SET n = :a + :b", ExpressionAttributeValues=values)
    assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"]["n"] == {"N": "10000000000000000000001"}
