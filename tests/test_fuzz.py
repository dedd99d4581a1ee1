"""Random malformed requests over HTTP never produce a server error.

Requests are drawn from botocore's model of each operation the server implements (mostly
well-typed, sometimes not), with random AttributeValues valid and invalid, plus garbage
bodies, arbitrary JSON and wrong targets. Every answer must be a success or a DynamoDB
client error with the right shape. The fuzzer has a server of its own, so the tables it
creates and deletes never meet other tests.
"""

from __future__ import annotations

import base64
import pkgutil
import string
from functools import cache

import boto3
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import dynovault.api.ops
from dynovault.api.model import service_model
from dynovault.testing.processes import ServerProcess
from tests.rawhttp import TARGET_PREFIX, RawClient, assert_dynamodb_answer

SHAPES = service_model()["shapes"]
OPERATIONS = sorted(
    "".join(part.capitalize() for part in module.name.split("_"))
    for module in pkgutil.iter_modules(dynovault.api.ops.__path__)
)
TABLES = ("fuzz_hash", "fuzz_range")
ATTRIBUTE_NAMES = ("pk", "sk", "v", "#n", "a.b", "")
FUZZ_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def verifying_raw(tmp_path_factory):
    """A server that verifies signatures, for random Authorization headers."""
    directory = tmp_path_factory.mktemp("fuzz-auth")
    credentials = directory / "credentials"
    credentials.write_text("testing testing\n")
    proc = ServerProcess(directory / "data", extra_args=["--credentials-file", str(credentials)]).start()
    client = RawClient(proc.url)
    yield client
    client.close()
    proc.stop()


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("fuzz") / "data").start()
    ddb = boto3.client("dynamodb", endpoint_url=proc.url, region_name="us-east-1")
    _create(ddb, "fuzz_hash", [("pk", "HASH", "S")])
    _create(ddb, "fuzz_range", [("pk", "HASH", "S"), ("sk", "RANGE", "N")])
    ddb.put_item(TableName="fuzz_hash", Item={"pk": {"S": "a"}, "v": {"M": {"b": {"L": [{"N": "1"}]}}}})
    ddb.put_item(TableName="fuzz_range", Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"SS": ["x", "y"]}})
    client = RawClient(proc.url)
    yield client
    client.close()
    proc.stop()


def _create(ddb, name: str, keys: list[tuple[str, str, str]]) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": attribute, "KeyType": role} for attribute, role, _ in keys],
        AttributeDefinitions=[{"AttributeName": attribute, "AttributeType": kind} for attribute, _, kind in keys],
        BillingMode="PAY_PER_REQUEST",
    )


# --- JSON values of any shape -------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
any_json = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def mostly(strategy: st.SearchStrategy, otherwise: st.SearchStrategy = any_json) -> st.SearchStrategy:
    """``strategy`` 49 times in 50, ``otherwise`` the rest: one wrong type anywhere stops a
    request at deserialization, so values must be well-typed for requests to reach handlers."""
    return st.integers(0, 49).flatmap(lambda roll: otherwise if roll == 0 else strategy)


# --- AttributeValues, valid and not --------------------------------------------------------

numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).map(str),
    st.sampled_from(["1E+126", "1e-131", "9.9999999999999999999999999999999999999E+125", "NaN", "Infinity",
                     "", " 1", "1_000", "0x10", "-0", "1" * 39, "0.0000000000000000000000000000000000000001"]),
)
binaries = st.one_of(
    st.binary(max_size=16).map(lambda raw: base64.b64encode(raw).decode()),
    st.text(alphabet=string.ascii_letters + "+/=!", max_size=8),
)
key_text = st.one_of(st.sampled_from(["a", "b", ""]), st.text(max_size=20), st.just("x" * 2049))
scalar_values = st.one_of(
    st.builds(lambda text: {"S": text}, key_text),
    st.builds(lambda number: {"N": number}, numbers),
    st.builds(lambda blob: {"B": blob}, binaries),
    st.builds(lambda flag: {"BOOL": flag}, st.booleans()),
    st.builds(lambda flag: {"NULL": flag}, st.booleans()),
    st.builds(lambda texts: {"SS": texts}, st.lists(st.text(max_size=4), max_size=4)),
    st.builds(lambda values: {"NS": values}, st.lists(numbers, max_size=4)),
    st.builds(lambda blobs: {"BS": blobs}, st.lists(binaries, max_size=3)),
    st.sampled_from([{}, {"S": "a", "N": "1"}, {"X": "1"}, {"S": 5}, {"N": 1}, {"B": 1}, {"BOOL": "true"},
                     {"NULL": None}, {"SS": "a"}, {"L": "x"}, {"M": []}, {"S": None}, {"NS": [1]}]),
    json_scalars,
)
attribute_values = st.recursive(
    scalar_values,
    lambda children: st.one_of(
        st.builds(lambda values: {"L": values}, st.lists(children, max_size=4)),
        st.builds(lambda members: {"M": members}, st.dictionaries(st.sampled_from(ATTRIBUTE_NAMES), children)),
    ),
    max_leaves=10,
)


# --- Values of a model shape -----------------------------------------------------------------

# Pieces of DynamoDB's expression languages, so random expressions are mostly near-misses
# that get deep into the parsers rather than failing on the first character.
_EXPRESSION_TOKENS = (
    "pk", "sk", "v", "v.b", "v.b[0]", "#n", "#n.x", "#missing", ":v", ":w", ":missing", "=", "<>", "<", ">=",
    "AND", "OR", "NOT", "(", ")", ",", "[", "]", "[0]", ".", "BETWEEN", "IN", "SET", "REMOVE", "ADD", "DELETE",
    "attribute_exists(", "attribute_not_exists(", "attribute_type(", "begins_with(", "contains(", "size(",
    "if_not_exists(", "list_append(", "+", "-", "'S'", "99999999999999999999",
)
expressions = st.one_of(
    st.lists(st.sampled_from(_EXPRESSION_TOKENS), max_size=10).map(" ".join),
    st.sampled_from(["pk = :v", "pk = :v AND sk BETWEEN :v AND :w", "SET v = :v", "REMOVE v.b[0]",
                     "attribute_exists(pk)", "size(v) > :v", "#n, v.b[0]", "v[1000000000000]"]),
    st.text(max_size=16),
)
# Members whose values are better drawn from a small set that reaches real tables, keys and
# expression placeholders; keyed by shape name.
_MEMBER_VALUES = {
    "TableName": st.sampled_from([*TABLES, "missing_table", "ab", "arn:aws:dynamodb:us-east-1:0:table/fuzz_hash"]),
    "TableArn": st.sampled_from([*TABLES, "missing_table", "ab", "arn:aws:dynamodb:us-east-1:0:table/fuzz_hash"]),
    "IndexName": st.sampled_from(["by_v", "ab"]),
    "AttributeName": st.sampled_from(ATTRIBUTE_NAMES),
    "KeyType": st.sampled_from(["HASH", "RANGE", "hash"]),
    "AttributeType": st.sampled_from(["S", "N", "B", "BOOL"]),
    "ConditionExpression": expressions,
    "KeyExpression": expressions,
    "ProjectionExpression": expressions,
    "UpdateExpression": expressions,
    "ExpressionAttributeNameVariable": st.sampled_from(["#n", "#missing", "n", "#"]),
    "ExpressionAttributeValueVariable": st.sampled_from([":v", ":w", "v", ":"]),
}

@cache
def shape_values(shape_name: str) -> st.SearchStrategy:
    """Values for a model shape, mostly well-typed; recursive shapes resolve lazily."""
    if shape_name == "AttributeValue":
        return attribute_values
    return st.deferred(lambda: mostly(_well_typed(shape_name)))


def _well_typed(shape_name: str) -> st.SearchStrategy:
    shape = SHAPES[shape_name]
    kind = shape["type"]
    if kind == "structure":
        return _structure(shape)
    if kind == "list":
        return st.lists(shape_values(shape["member"]["shape"]), max_size=min(shape.get("max", 4), 4) + 1)
    if kind == "map":
        keys = _MEMBER_VALUES.get(shape["key"]["shape"], st.text(max_size=6))
        return st.dictionaries(keys, shape_values(shape["value"]["shape"]), max_size=3)
    if kind == "string":
        if "enum" in shape:
            return st.sampled_from([*shape["enum"], "bogus"])
        return _MEMBER_VALUES.get(shape_name, st.text(max_size=16))
    if kind in ("integer", "long"):
        return st.one_of(st.integers(-2, 30), st.integers(-(2**63), 2**63 - 1))
    if kind == "boolean":
        return st.booleans()
    if kind in ("double", "timestamp"):
        return st.one_of(st.integers(0, 2**40), st.floats(allow_nan=False, allow_infinity=False))
    return binaries


def _structure(shape: dict) -> st.SearchStrategy:
    members = shape["members"]
    required = set(shape.get("required", ()))
    return st.fixed_dictionaries(
        {name: _member(name, spec["shape"]) for name, spec in members.items() if name in required},
        optional={name: _member(name, spec["shape"]) for name, spec in members.items() if name not in required},
    )


def _member(name: str, shape_name: str) -> st.SearchStrategy:
    """Members are drawn by shape, except string members named like a known shape (a
    ``TableName`` member whose shape is ``TableArn``)."""
    if name in _MEMBER_VALUES and SHAPES[shape_name]["type"] == "string":
        return mostly(_MEMBER_VALUES[name])
    return shape_values(shape_name)


def requests_for(operation: str) -> st.SearchStrategy:
    return _well_typed(service_model()["operations"][operation]["input"]["shape"])


def spares_fixture_tables(operation: str, request: object) -> bool:
    """Whether a request leaves the fixture tables in place for the requests after it."""
    return operation != "DeleteTable" or not any(table in str(request) for table in TABLES)


# --- Properties ---------------------------------------------------------------------------

@FUZZ_SETTINGS
@given(st.sampled_from(OPERATIONS).flatmap(lambda op: st.tuples(st.just(op), requests_for(op))))
def test_model_shaped_requests_never_fail_the_server(raw, operation_and_request):
    operation, request = operation_and_request
    assume(spares_fixture_tables(operation, request))
    assert_dynamodb_answer(raw.call(operation, request))


@FUZZ_SETTINGS
@given(st.sampled_from(["GetItem", "PutItem", "DeleteItem"]), st.sampled_from(TABLES),
       st.dictionaries(st.sampled_from(ATTRIBUTE_NAMES), attribute_values, max_size=4))
def test_random_attribute_values_never_fail_the_server(raw, operation, table, attributes):
    member = "Item" if operation == "PutItem" else "Key"
    assert_dynamodb_answer(raw.call(operation, {"TableName": table, member: attributes}))


valid_keys = st.sampled_from(["a", "b", "c"]).map(lambda pk: {"pk": {"S": pk}})
expression_members = {
    "ProjectionExpression": expressions,
    "ConditionExpression": expressions,
    "UpdateExpression": expressions,
    "ExpressionAttributeNames": st.dictionaries(_MEMBER_VALUES["ExpressionAttributeNameVariable"],
                                                st.sampled_from(ATTRIBUTE_NAMES), max_size=2),
    "ExpressionAttributeValues": st.dictionaries(_MEMBER_VALUES["ExpressionAttributeValueVariable"],
                                                 attribute_values, max_size=2),
    "ReturnValues": st.sampled_from(["NONE", "ALL_OLD", "UPDATED_NEW", "ALL_NEW", "UPDATED_OLD"]),
}


@FUZZ_SETTINGS
@given(
    st.sampled_from(["GetItem", "PutItem", "DeleteItem", "UpdateItem"]),
    valid_keys,
    st.dictionaries(st.sampled_from(["v", "w", "x.y"]), attribute_values, max_size=3),
    st.fixed_dictionaries({}, optional=expression_members),
)
def test_expressions_on_existing_keys_never_fail_the_server(raw, operation, key, attributes, options):
    """Valid keys of a real table get requests past key checks and into expressions."""
    member = {"PutItem": {"Item": {**attributes, **key}}}.get(operation, {"Key": key})
    assert_dynamodb_answer(raw.call(operation, {"TableName": "fuzz_hash", **member, **options}))


KEY_VALUES = {":v": {"S": "a"}, ":w": {"N": "2"}}
# Each uses both placeholders of KEY_VALUES, which otherwise would be refused as unused.
key_conditions = st.one_of(
    st.sampled_from(["pk = :v AND sk > :w", "pk = :v AND sk BETWEEN :w AND :w", "#n = :v AND sk <= :w",
                     "pk = :v AND begins_with(sk, :w)", "sk = :w AND pk = :v", "pk = :w AND sk = :v"]),
    expressions,
)
read_members = {
    "FilterExpression": expressions,
    "ProjectionExpression": expressions,
    "ExpressionAttributeNames": st.one_of(st.just({"#n": "pk"}), expression_members["ExpressionAttributeNames"]),
    "ExpressionAttributeValues": st.one_of(st.just(KEY_VALUES), expression_members["ExpressionAttributeValues"]),
    "Limit": mostly(st.integers(1, 5), st.integers(-1, 0)),
    "ExclusiveStartKey": st.dictionaries(st.sampled_from(["pk", "sk"]), attribute_values, max_size=2),
    "ScanIndexForward": st.booleans(),
    "Select": st.sampled_from(["ALL_ATTRIBUTES", "COUNT", "SPECIFIC_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES"]),
    "ConsistentRead": st.booleans(),
}
scan_members = {"Segment": st.integers(-1, 4), "TotalSegments": st.integers(0, 4)}


@FUZZ_SETTINGS
@given(
    st.sampled_from(TABLES),
    key_conditions,
    st.fixed_dictionaries({}, optional=read_members),
    st.fixed_dictionaries({}, optional=scan_members),
)
def test_queries_and_scans_with_random_expressions_never_fail_the_server(raw, table, key_condition, options, scan):
    query = {"TableName": table, "KeyConditionExpression": key_condition, "ExpressionAttributeValues": KEY_VALUES}
    query.update(options)
    assert_dynamodb_answer(raw.call("Query", query))
    assert_dynamodb_answer(raw.call("Scan", {"TableName": table, **options, **scan}))


_STATEMENT_TOKENS = [
    "SELECT", "*", "FROM", '"fuzz_hash"', '"fuzz_range"', '"fuzz_range"."nope"', "fuzz_hash", "WHERE", "pk", "sk",
    "v", "v.b[0]", '"v"', "=", "<>", "!=", "<", ">=", "AND", "OR", "NOT", "IN", "BETWEEN", "IS", "MISSING", "NULL",
    "TRUE", "'a'", "''", "1", "-2.5e3", "1e999", "?", "(", ")", "[", "]", "{", "}", "<<", ">>", ",", ".", ":",
    "'pk':", "INSERT", "INTO", "VALUE", "UPDATE", "SET", "REMOVE", "DELETE", "RETURNING", "ALL", "OLD", "NEW",
    "MODIFIED", "EXISTS", "begins_with", "contains", "size", "attribute_type", "list_append", "set_add",
    "set_delete", "ORDER", "BY", "DESC", "AS", ";", "--", "/*", "*/", "'", '"', "+",
]
statements = st.one_of(
    st.lists(st.sampled_from(_STATEMENT_TOKENS), max_size=30).map(" ".join),
    st.sampled_from([
        "SELECT * FROM fuzz_hash WHERE pk = ?", "SELECT v.b[0], sk FROM fuzz_range WHERE pk = ? AND sk > ?",
        "INSERT INTO fuzz_hash VALUE {'pk': ?, 'v': ?}", "UPDATE fuzz_range SET v = ? REMOVE w WHERE pk = ? AND sk = ?",
        "DELETE FROM fuzz_hash WHERE pk = ? RETURNING ALL OLD *", "SELECT * FROM fuzz_range WHERE v IN [?, ?]",
        "UPDATE fuzz_hash SET v = set_add(v, ?) WHERE pk = ?", "EXISTS(SELECT * FROM fuzz_hash WHERE pk = ?)",
        "SELECT * FROM fuzz_range WHERE pk = ? ORDER BY sk DESC", "UPDATE fuzz_hash SET v = list_append(v, ?) WHERE pk = ?",
    ]),
    st.text(max_size=60),
)
statement_members = {
    "Parameters": st.lists(attribute_values, min_size=1, max_size=4),
    "ConsistentRead": st.booleans(),
    "Limit": st.integers(1, 3),
    "NextToken": st.text(min_size=1, max_size=40),
    "ReturnValuesOnConditionCheckFailure": st.sampled_from(["NONE", "ALL_OLD"]),
}


@FUZZ_SETTINGS
@given(statements, st.fixed_dictionaries({}, optional=statement_members),
       st.sampled_from(["NONE", "TOTAL", "INDEXES"]))
def test_random_statements_never_fail_the_server(raw, statement, options, capacity):
    """Statements reach all three PartiQL operations, in a batch and in a transaction too."""
    assume(statement)
    request = {"Statement": statement, "ReturnConsumedCapacity": capacity, **options}
    assert_dynamodb_answer(raw.call("ExecuteStatement", request))
    member = {key: value for key, value in options.items() if key in ("Parameters", "ConsistentRead")}
    batch = [{"Statement": statement, **member}, {"Statement": "SELECT * FROM fuzz_hash WHERE pk = 'a'"}]
    assert_dynamodb_answer(raw.call("BatchExecuteStatement", {"Statements": batch, "ReturnConsumedCapacity": capacity}))
    transaction = [{"Statement": statement, **{k: v for k, v in member.items() if k == "Parameters"}}]
    assert_dynamodb_answer(raw.call("ExecuteTransaction", {"TransactStatements": transaction}))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(OPERATIONS), any_json)
def test_arbitrary_json_never_fails_the_server(raw, operation, document):
    assert_dynamodb_answer(raw.call(operation, document))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(OPERATIONS), st.binary(max_size=64), st.sampled_from([None, "gzip", "deflate", "identity"]))
def test_garbage_bodies_never_fail_the_server(raw, operation, body, encoding):
    headers = {"Content-Encoding": encoding} if encoding else {}
    assert_dynamodb_answer(raw.post(body, target=TARGET_PREFIX + operation, headers=headers))


# Header values as http.client sends them: latin-1, no control characters. Bytes above 0x7F
# reach the server as text that is not valid UTF-8.
latin1_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_categories=("Cc",)), max_size=30
)
header_text = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "._-:/ ", max_size=40), latin1_text
)


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(
        st.none(),
        header_text,
        header_text.map(lambda suffix: TARGET_PREFIX + suffix),
        st.sampled_from(OPERATIONS).map(lambda operation: TARGET_PREFIX + operation.lower()),
    )
)
def test_wrong_targets_are_unknown_operations(raw, target):
    assume(target is None or target.removeprefix(TARGET_PREFIX) not in OPERATIONS)
    reply = raw.post(b"{}", target=target)
    assert_dynamodb_answer(reply)
    assert reply.error_code == "UnknownOperationException"


scope_parts = st.one_of(
    st.sampled_from(["testing", "20240101", "us-east-1", "dynamodb", "aws4_request", ""]), latin1_text
)
authorizations = st.one_of(
    latin1_text,
    st.builds(
        "AWS4-HMAC-SHA256 Credential={}, SignedHeaders={}, Signature={}".format,
        st.lists(scope_parts, min_size=3, max_size=6).map("/".join),
        st.sampled_from(["host;x-amz-date", "host", "", "x-amz-date", "HOST;X-Amz-Date;;"]),
        st.one_of(st.text("0123456789abcdef", min_size=64, max_size=64), latin1_text),
    ),
)
request_dates = st.one_of(
    st.none(), st.sampled_from(["20240101T000000Z", "Mon, 01 Jan 2024 00:00:00 GMT"]), latin1_text
)


@settings(max_examples=150, deadline=None)
@given(authorizations, request_dates)
def test_random_authorization_headers_never_fail_the_server(raw, verifying_raw, authorization, date):
    headers = {"Authorization": authorization}
    if date is not None:
        headers["X-Amz-Date"] = date
    assert_dynamodb_answer(raw.post(b"{}", headers=headers, sign=False))
    refused = verifying_raw.post(b"{}", headers=headers, sign=False)
    assert_dynamodb_answer(refused)
    assert refused.status == 400
