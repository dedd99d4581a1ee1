"""PutItem, GetItem, DeleteItem, BatchGetItem, BatchWriteItem through unmodified boto3."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_codecs import attribute_values

ALL_TYPES = {
    "pk": {"S": "all-types"},
    "s": {"S": "héllo"},
    "n": {"N": "-12.5"},
    "b": {"B": b"\x00\x01bin"},
    "t": {"BOOL": True},
    "z": {"NULL": True},
    "m": {"M": {"inner": {"L": [{"N": "1"}, {"S": "two"}, {"M": {"deep": {"SS": ["x", "y"]}}}]}}},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x01", b"\x02"]},
}


def error_of(excinfo) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def test_every_type_round_trips(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item=ALL_TYPES)
    item = ddb.get_item(TableName=hash_table, Key={"pk": {"S": "all-types"}})["Item"]
    assert item == ALL_TYPES


def test_numbers_are_canonical_and_one_key(ddb, range_table):
    ddb.put_item(TableName=range_table, Item={"pk": {"S": "n"}, "sk": {"N": "1.0"}, "v": {"N": "0010.500"}})
    ddb.put_item(TableName=range_table, Item={"pk": {"S": "n"}, "sk": {"N": "10E-1"}, "w": {"N": "1E+2"}})
    item = ddb.get_item(TableName=range_table, Key={"pk": {"S": "n"}, "sk": {"N": "1"}})["Item"]
    assert item == {"pk": {"S": "n"}, "sk": {"N": "1"}, "w": {"N": "100"}}
    assert ddb.describe_table(TableName=range_table)["Table"]["ItemCount"] == 1


def test_resource_api_and_batch_writer(ddb_resource, hash_table):
    table = ddb_resource.Table(hash_table)
    with table.batch_writer() as writer:
        for i in range(60):
            writer.put_item(Item={"pk": f"item-{i}", "score": Decimal(i) / 4, "blob": Binary(b"\x00" * i)})
    assert table.get_item(Key={"pk": "item-7"})["Item"]["score"] == Decimal("1.75")
    with table.batch_writer(overwrite_by_pkeys=["pk"]) as writer:
        for i in range(0, 60, 2):
            writer.delete_item(Key={"pk": f"item-{i}"})
    assert "Item" not in table.get_item(Key={"pk": "item-8"})
    assert table.get_item(Key={"pk": "item-9"})["Item"]["pk"] == "item-9"


def test_put_return_values_and_delete(ddb, hash_table):
    first = ddb.put_item(TableName=hash_table, Item={"pk": {"S": "k"}, "v": {"N": "1"}}, ReturnValues="ALL_OLD")
    assert "Attributes" not in first
    second = ddb.put_item(TableName=hash_table, Item={"pk": {"S": "k"}, "v": {"N": "2"}}, ReturnValues="ALL_OLD")
    assert second["Attributes"] == {"pk": {"S": "k"}, "v": {"N": "1"}}
    deleted = ddb.delete_item(TableName=hash_table, Key={"pk": {"S": "k"}}, ReturnValues="ALL_OLD")
    assert deleted["Attributes"] == {"pk": {"S": "k"}, "v": {"N": "2"}}
    assert "Attributes" not in ddb.delete_item(TableName=hash_table, Key={"pk": {"S": "k"}}, ReturnValues="ALL_OLD")
    with pytest.raises(ClientError) as excinfo:
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": "k"}}, ReturnValues="ALL_NEW")
    assert error_of(excinfo) == ("ValidationException", "ReturnValues can only be ALL_OLD or NONE")


def test_consumed_capacity_follows_size_rules(ddb, hash_table):
    big = "x" * 5000
    put = ddb.put_item(TableName=hash_table, Item={"pk": {"S": "cap"}, "v": {"S": big}}, ReturnConsumedCapacity="TOTAL")
    assert put["ConsumedCapacity"]["CapacityUnits"] == 5.0
    assert put["ConsumedCapacity"]["TableName"] == hash_table
    got = ddb.get_item(TableName=hash_table, Key={"pk": {"S": "cap"}}, ReturnConsumedCapacity="INDEXES")
    assert got["ConsumedCapacity"]["CapacityUnits"] == 1.0
    assert got["ConsumedCapacity"]["Table"]["CapacityUnits"] == 1.0
    strong = ddb.get_item(TableName=hash_table, Key={"pk": {"S": "cap"}}, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    assert strong["ConsumedCapacity"]["CapacityUnits"] == 2.0
    missing = ddb.get_item(TableName=hash_table, Key={"pk": {"S": "none"}}, ReturnConsumedCapacity="TOTAL")
    assert missing["ConsumedCapacity"]["CapacityUnits"] == 0.5


def test_projection_with_names_nested_paths_and_list_index(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={
        "pk": {"S": "p"},
        "vals": {"M": {"feat0": {"N": "1"}, "feat1": {"N": "2"}, "feat2": {"N": "3"}}},
        "a": {"M": {"b": {"L": [{"S": "zero"}, {"S": "one"}, {"S": "two"}]}}},
        "other": {"S": "hidden"},
    })
    item = ddb.get_item(
        TableName=hash_table,
        Key={"pk": {"S": "p"}},
        ProjectionExpression="#pk, #vals.#f0, #vals.#f2, a.b[2]",
        ExpressionAttributeNames={"#pk": "pk", "#vals": "vals", "#f0": "feat0", "#f2": "feat2"},
    )["Item"]
    assert item == {
        "pk": {"S": "p"},
        "vals": {"M": {"feat0": {"N": "1"}, "feat2": {"N": "3"}}},
        "a": {"M": {"b": {"L": [{"S": "two"}]}}},
    }
    legacy = ddb.get_item(TableName=hash_table, Key={"pk": {"S": "p"}}, AttributesToGet=["other"])["Item"]
    assert legacy == {"other": {"S": "hidden"}}


def test_batch_get_several_tables(ddb, hash_table, range_table):
    ddb.batch_write_item(RequestItems={
        hash_table: [{"PutRequest": {"Item": {"pk": {"S": f"h{i}"}, "v": {"N": str(i)}}}} for i in range(10)],
        range_table: [{"PutRequest": {"Item": {"pk": {"S": "r"}, "sk": {"N": str(i)}}}} for i in range(5)],
    })
    result = ddb.batch_get_item(RequestItems={
        hash_table: {"Keys": [{"pk": {"S": f"h{i}"}} for i in range(12)], "ConsistentRead": True,
                     "ProjectionExpression": "#v", "ExpressionAttributeNames": {"#v": "v"}},
        range_table: {"Keys": [{"pk": {"S": "r"}, "sk": {"N": str(i)}} for i in range(5)]},
    }, ReturnConsumedCapacity="TOTAL")
    assert result["UnprocessedKeys"] == {}
    assert sorted(int(i["v"]["N"]) for i in result["Responses"][hash_table]) == list(range(10))
    assert len(result["Responses"][range_table]) == 5
    assert {c["TableName"] for c in result["ConsumedCapacity"]} == {hash_table, range_table}


def test_batch_get_limits_and_duplicates(ddb, hash_table):
    with pytest.raises(ClientError) as excinfo:
        ddb.batch_get_item(RequestItems={hash_table: {"Keys": [{"pk": {"S": str(i)}} for i in range(101)]}})
    assert error_of(excinfo)[0] == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        ddb.batch_get_item(RequestItems={hash_table: {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "a"}}]}})
    assert error_of(excinfo) == ("ValidationException", "Provided list of item keys contains duplicates")
    with pytest.raises(ClientError) as excinfo:
        ddb.batch_get_item(RequestItems={"missing-table": {"Keys": [{"pk": {"S": "a"}}]}})
    assert error_of(excinfo)[0] == "ResourceNotFoundException"


def test_batch_write_limits_duplicates_and_atomic_refusal(ddb, hash_table):
    too_many = [{"PutRequest": {"Item": {"pk": {"S": str(i)}}}} for i in range(26)]
    with pytest.raises(ClientError) as excinfo:
        ddb.batch_write_item(RequestItems={hash_table: too_many})
    assert error_of(excinfo)[0] == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        ddb.batch_write_item(RequestItems={hash_table: [
            {"PutRequest": {"Item": {"pk": {"S": "dup"}}}},
            {"DeleteRequest": {"Key": {"pk": {"S": "dup"}}}},
        ]})
    assert error_of(excinfo) == ("ValidationException", "Provided list of item keys contains duplicates")
    with pytest.raises(ClientError):
        ddb.batch_write_item(RequestItems={hash_table: [
            {"PutRequest": {"Item": {"pk": {"S": "good"}}}},
            {"PutRequest": {"Item": {"pk": {"N": "1"}}}},
        ]})
    assert "Item" not in ddb.get_item(TableName=hash_table, Key={"pk": {"S": "good"}})
    done = ddb.batch_write_item(RequestItems={hash_table: [{"PutRequest": {"Item": {"pk": {"S": "ok"}}}}]})
    assert done["UnprocessedItems"] == {}


@pytest.mark.parametrize(
    "item, code, message",
    [
        ({"v": {"S": "x"}}, "ValidationException", "One or more parameter values were invalid: Missing the key pk in the item"),
        ({"pk": {"N": "1"}}, "ValidationException", "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"),
        ({"pk": {"S": ""}}, "ValidationException", "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk"),
        ({"pk": {"S": "a"}, "s": {"SS": []}}, "ValidationException", "One or more parameter values were invalid: An string set  may not be empty"),
        ({"pk": {"S": "a"}, "s": {"SS": ["x", "x"]}}, "ValidationException", "One or more parameter values were invalid: Input collection [\"x\", \"x\"] contains duplicates."),
        ({"pk": {"S": "a"}, "s": {"NS": ["1", "1.0"]}}, "ValidationException", "contains duplicates"),
        ({"pk": {"S": "a"}, "n": {"N": "abc"}}, "ValidationException", "The parameter cannot be converted to a numeric value: abc"),
        ({"pk": {"S": "a"}, "n": {"N": "1" * 39}}, "ValidationException", "Attempting to store more than 38 significant digits in a Number"),
        ({"pk": {"S": "a"}, "n": {"N": "1E126"}}, "ValidationException", "Number overflow"),
        ({"pk": {"S": "a"}, "n": {"N": "1E-131"}}, "ValidationException", "Number underflow"),
        ({"pk": {"S": "a"}, "z": {"NULL": False}}, "ValidationException", "Null attribute value types must have the value of true"),
        ({"pk": {"S": "a"}, "x": {"S": "a", "N": "1"}}, "ValidationException", "Supplied AttributeValue has more than one datatypes set"),
        ({"pk": {"S": "a"}, "x": {}}, "ValidationException", "Supplied AttributeValue is empty"),
        ({"pk": {"S": "a"}, "big": {"S": "x" * (400 * 1024)}}, "ValidationException", "Item size has exceeded the maximum allowed size"),
        ({"pk": {"S": "k" * 2049}}, "ValidationException", "Size of hashkey has exceeded the maximum size limit of2048 bytes"),
    ],
)
def test_item_validation(ddb, hash_table, item, code, message):
    with pytest.raises(ClientError) as excinfo:
        ddb.put_item(TableName=hash_table, Item=item)
    got_code, got_message = error_of(excinfo)
    assert got_code == code
    assert message in got_message


def test_range_key_size_limit(ddb, table_name):
    ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "B"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "a"}, "sk": {"B": b"\x00" * 1024}})
    with pytest.raises(ClientError) as excinfo:
        ddb.put_item(TableName=table_name, Item={"pk": {"S": "a"}, "sk": {"B": b"\x00" * 1025}})
    assert "Aggregated size of all range keys has exceeded the size limit of 1024 bytes" in error_of(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        ddb.put_item(TableName=table_name, Item={"pk": {"S": "a"}, "sk": {"B": b""}})
    assert "cannot contain an empty binary value. Key: sk" in error_of(excinfo)[1]


@pytest.mark.parametrize(
    "key",
    [{"pk": {"N": "1"}}, {"other": {"S": "a"}}, {"pk": {"S": "a"}, "extra": {"S": "b"}}, {}],
)
def test_key_must_match_schema(ddb, hash_table, key):
    with pytest.raises(ClientError) as excinfo:
        ddb.get_item(TableName=hash_table, Key=key)
    assert error_of(excinfo) == ("ValidationException", "The provided key element does not match the schema")


def test_missing_table_on_data_plane(ddb):
    with pytest.raises(ClientError) as excinfo:
        ddb.get_item(TableName="absent-table", Key={"pk": {"S": "a"}})
    assert error_of(excinfo) == ("ResourceNotFoundException", "Requested resource not found")


def test_item_count_and_size_track_writes(ddb, hash_table):
    for i in range(5):
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": f"k{i}"}, "v": {"S": "x" * 10}})
    ddb.delete_item(TableName=hash_table, Key={"pk": {"S": "k0"}})
    table = ddb.describe_table(TableName=hash_table)["Table"]
    assert table["ItemCount"] == 4
    assert table["TableSizeBytes"] == 4 * (len("pk") + 2 + len("v") + 10)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(item=st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda n: n != "pk"), attribute_values, max_size=6))
def test_random_items_round_trip_over_http(ddb, hash_table, item):
    item = {"pk": {"S": "round-trip"}, **{name: _client_form(value) for name, value in item.items()}}
    ddb.put_item(TableName=hash_table, Item=item)
    assert ddb.get_item(TableName=hash_table, Key={"pk": {"S": "round-trip"}})["Item"] == item


def _client_form(value: dict) -> dict:
    """boto3's client takes binary values as bytes, not the base64 text of the wire form."""
    (tag, inner), = value.items()
    if tag == "B":
        return {"B": base64.b64decode(inner)}
    if tag == "M":
        return {"M": {k: _client_form(v) for k, v in inner.items()}}
    if tag == "L":
        return {"L": [_client_form(v) for v in inner]}
    return value
