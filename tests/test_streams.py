"""DynamoDB Streams on real processes, through unmodified boto3 ``dynamodb`` and
``dynamodbstreams`` clients: StreamSpecification, the Streams API, the records of every
write path per view type, shards, iterators, elided writes, replay, crashes, followers
and metrics."""

from __future__ import annotations

import asyncio
import time
import urllib.request

import boto3
import orjson
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynovault.items import store_form
from dynovault.node import Node
from dynovault.storage.engine import ItemChange, Store
from dynovault.storage.replog import LogRecord
from dynovault.storage.streams import ShardLimits
from dynovault.streams import (
    ITERATOR_LIFETIME_SECONDS,
    ExpiredIteratorException,
    StreamRetention,
    TrimmedDataAccessException,
    decode_iterator,
    find_stream,
    get_records,
    shard_id,
    shard_iterator,
)
from dynovault.tables import create_table
from dynovault.testing.cluster import Cluster, post_json
from dynovault.testing.processes import ServerProcess
from tests.conftest import client_for
from tests.rawhttp import RawClient, assert_dynamodb_answer
from tests.test_fuzz import any_json
from tests.test_ttl import refusal, wait_for

VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")
_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30)


def streams_for(url: str):
    return boto3.client("dynamodbstreams", endpoint_url=url, region_name="us-east-1", config=_CONFIG)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A server whose TTL deleter runs often and whose shards close after 4 records."""
    proc = ServerProcess(
        tmp_path_factory.mktemp("streams") / "data", ["--ttl-interval", "0.1", "--stream-shard-records", "4"]
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def ddb(node):
    return client_for(node.url)


@pytest.fixture(scope="module")
def streams(node):
    return streams_for(node.url)


def create_streamed(ddb, name: str, view_type: str | None = "NEW_AND_OLD_IMAGES", **extra) -> dict:
    specification = {"StreamEnabled": True, "StreamViewType": view_type} if view_type else {"StreamEnabled": False}
    return ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification=specification,
        **extra,
    )["TableDescription"]


def read_stream(streams, arn: str) -> list[dict]:
    """Every record of a stream, shard after shard from TRIM_HORIZON, as a consumer reads
    it: a closed shard to its end, the open one until a page comes back empty."""
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    records = []
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator)
            records += page["Records"]
            iterator = page.get("NextShardIterator")
            if not page["Records"] and "EndingSequenceNumber" not in shard["SequenceNumberRange"]:
                break
    return records


def last_lsn(node) -> int:
    with urllib.request.urlopen(node.url + "/health", timeout=10) as reply:
        return orjson.loads(reply.read())["last_lsn"]


# ---- StreamSpecification ---------------------------------------------------------------


def test_a_table_created_with_a_stream_describes_it_and_lists_it(ddb, streams, table_name):
    created = create_streamed(ddb, table_name, "NEW_IMAGE")
    described = ddb.describe_table(TableName=table_name)["Table"]
    assert described["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    label = described["LatestStreamLabel"]
    assert described["LatestStreamArn"] == f"{described['TableArn']}/stream/{label}" == created["LatestStreamArn"]
    assert "StreamId" not in described
    listed = streams.list_streams(TableName=table_name)["Streams"]
    assert listed == [{"StreamArn": described["LatestStreamArn"], "TableName": table_name, "StreamLabel": label}]
    stream = streams.describe_stream(StreamArn=described["LatestStreamArn"])["StreamDescription"]
    assert stream["StreamStatus"] == "ENABLED"
    assert stream["StreamViewType"] == "NEW_IMAGE"
    assert stream["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    (shard,) = stream["Shards"]
    assert shard["SequenceNumberRange"]["StartingSequenceNumber"].isdecimal()
    assert "EndingSequenceNumber" not in shard["SequenceNumberRange"]


def test_stream_specification_refusals_as_dynamodb_words_them(ddb, table_name):
    assert refusal(lambda: ddb.create_table(
        TableName=table_name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": False, "StreamViewType": "KEYS_ONLY"},
    )) == ("ValidationException", ("One or more parameter values were invalid: Table is being created with a "
                                   "stream disabled, UpdateViewType should not be specified"))
    create_streamed(ddb, table_name, None)
    assert "StreamSpecification" not in ddb.describe_table(TableName=table_name)["Table"]
    assert refusal(lambda: ddb.update_table(TableName=table_name, StreamSpecification={"StreamEnabled": False})) == (
        "ValidationException", f"Table does not have a stream enabled to disable: TableName: {table_name}"
    )
    ddb.update_table(TableName=table_name, StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    for view_type in ("KEYS_ONLY", "NEW_IMAGE"):
        assert refusal(lambda view_type=view_type: ddb.update_table(
            TableName=table_name, StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type}
        )) == ("ValidationException", f"Table already has an enabled stream: TableName: {table_name}")
    assert refusal(lambda: ddb.update_table(
        TableName=table_name, StreamSpecification={"StreamEnabled": False, "StreamViewType": "KEYS_ONLY"}
    )) == ("ValidationException", ("One or more parameter values were invalid: If stream is being disabled, "
                                   "then UpdateViewType must not be specified"))


def test_re_enabling_makes_a_new_stream_and_the_old_one_stays_readable(ddb, streams, table_name):
    first = create_streamed(ddb, table_name, "KEYS_ONLY")["LatestStreamArn"]
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "before"}})
    ddb.update_table(TableName=table_name, StreamSpecification={"StreamEnabled": False})
    described = ddb.describe_table(TableName=table_name)["Table"]
    assert "StreamSpecification" not in described and described["LatestStreamArn"] == first
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "unstreamed"}})
    ddb.update_table(TableName=table_name, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    second = ddb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    assert second != first
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "after"}})

    old = streams.describe_stream(StreamArn=first)["StreamDescription"]
    assert old["StreamStatus"] == "DISABLED"
    assert all("EndingSequenceNumber" in shard["SequenceNumberRange"] for shard in old["Shards"])
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in read_stream(streams, first)] == ["before"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in read_stream(streams, second)] == ["after"]
    assert [s["StreamArn"] for s in streams.list_streams(TableName=table_name)["Streams"]] == [first, second]


def test_a_deleted_tables_stream_stays_readable_and_disabled(ddb, streams, table_name):
    arn = create_streamed(ddb, table_name, "NEW_IMAGE")["LatestStreamArn"]
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "kept"}})
    ddb.delete_table(TableName=table_name)
    assert streams.describe_stream(StreamArn=arn)["StreamDescription"]["StreamStatus"] == "DISABLED"
    assert [r["dynamodb"]["NewImage"] for r in read_stream(streams, arn)] == [{"pk": {"S": "kept"}}]


# ---- records of every write path, per view type ----------------------------------------


@pytest.mark.parametrize("view_type", VIEW_TYPES)
def test_every_write_path_yields_its_records_and_images(ddb, streams, table_name, view_type):
    arn = create_streamed(ddb, table_name, view_type)["LatestStreamArn"]
    item = {"pk": {"S": "a"}, "n": {"N": "1"}}
    ddb.put_item(TableName=table_name, Item=item)
    ddb.update_item(TableName=table_name, Key={"pk": {"S": "a"}}, UpdateExpression="SET n = :two",
                    ExpressionAttributeValues={":two": {"N": "2"}})
    ddb.batch_write_item(RequestItems={table_name: [
        {"PutRequest": {"Item": {"pk": {"S": "b"}}}},
        {"DeleteRequest": {"Key": {"pk": {"S": "a"}}}},
    ]})
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": table_name, "Item": {"pk": {"S": "c"}}}},
        {"Update": {"TableName": table_name, "Key": {"pk": {"S": "b"}}, "UpdateExpression": "SET x = :x",
                    "ExpressionAttributeValues": {":x": {"S": "y"}}}},
    ])
    ddb.delete_item(TableName=table_name, Key={"pk": {"S": "c"}})

    records = read_stream(streams, arn)
    expected = [
        ("INSERT", "a", None, item),
        ("MODIFY", "a", item, {"pk": {"S": "a"}, "n": {"N": "2"}}),
        ("INSERT", "b", None, {"pk": {"S": "b"}}),
        ("REMOVE", "a", {"pk": {"S": "a"}, "n": {"N": "2"}}, None),
        ("INSERT", "c", None, {"pk": {"S": "c"}}),
        ("MODIFY", "b", {"pk": {"S": "b"}}, {"pk": {"S": "b"}, "x": {"S": "y"}}),
        ("REMOVE", "c", {"pk": {"S": "c"}}, None),
    ]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records] == [e[:2] for e in expected]
    for record, (_, _, old, new) in zip(records, expected, strict=True):
        assert record["eventVersion"] == "1.1"
        assert record["eventSource"] == "aws:dynamodb"
        assert record["awsRegion"] == "us-east-1"
        assert len(record["eventID"]) == 32
        assert "userIdentity" not in record
        change = record["dynamodb"]
        assert change["StreamViewType"] == view_type
        assert change["SizeBytes"] > 0
        assert change.get("NewImage") == (new if view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") else None)
        assert change.get("OldImage") == (old if view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") else None)
    numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
    assert all(len(n) == 21 and n.isdecimal() for n in numbers)
    assert [int(n) for n in numbers] == sorted({int(n) for n in numbers})
    assert len({r["eventID"] for r in records}) == len(records)


def test_a_ttl_deletion_is_a_service_remove(ddb, streams, table_name):
    arn = create_streamed(ddb, table_name, "OLD_IMAGE")["LatestStreamArn"]
    ddb.update_time_to_live(TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    expired = {"pk": {"S": "gone"}, "ttl": {"N": str(int(time.time()) - 60)}}
    ddb.put_item(TableName=table_name, Item=expired)
    wait_for(lambda: "Item" not in ddb.get_item(TableName=table_name, Key={"pk": {"S": "gone"}}))
    insert, remove = read_stream(streams, arn)
    assert insert["eventName"] == "INSERT" and "userIdentity" not in insert
    assert remove["eventName"] == "REMOVE"
    assert remove["dynamodb"]["OldImage"] == expired
    assert remove["userIdentity"] == {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}


def test_a_write_that_changes_nothing_writes_and_logs_nothing(node, ddb, streams, table_name):
    arn = create_streamed(ddb, table_name, "NEW_AND_OLD_IMAGES")["LatestStreamArn"]
    item = {"pk": {"S": "same"}, "a": {"S": "x"}, "b": {"N": "1"}}
    ddb.put_item(TableName=table_name, Item=item)
    before = last_lsn(node)
    answer = ddb.put_item(TableName=table_name, Item={"b": {"N": "1"}, "a": {"S": "x"}, "pk": {"S": "same"}},
                          ReturnValues="ALL_OLD")
    assert answer["Attributes"] == item
    ddb.update_item(TableName=table_name, Key={"pk": {"S": "same"}}, UpdateExpression="SET a = :x",
                    ExpressionAttributeValues={":x": {"S": "x"}})
    ddb.batch_write_item(RequestItems={table_name: [{"PutRequest": {"Item": item}}]})
    ddb.delete_item(TableName=table_name, Key={"pk": {"S": "never-there"}})
    assert last_lsn(node) == before
    assert [r["eventName"] for r in read_stream(streams, arn)] == ["INSERT"]


# ---- shards and iterators --------------------------------------------------------------


def test_shards_roll_over_with_parents_and_a_consumer_reads_them_in_order(ddb, streams, table_name):
    arn = create_streamed(ddb, table_name, "KEYS_ONLY")["LatestStreamArn"]
    for n in range(10):
        ddb.put_item(TableName=table_name, Item={"pk": {"S": f"k{n:02d}"}})
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    assert len(shards) == 3
    assert [s["ShardId"] for s in shards] == sorted(s["ShardId"] for s in shards)
    assert "ParentShardId" not in shards[0]
    assert [s["ParentShardId"] for s in shards[1:]] == [s["ShardId"] for s in shards[:-1]]
    assert ["EndingSequenceNumber" in s["SequenceNumberRange"] for s in shards] == [True, True, False]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in read_stream(streams, arn)] == [f"k{n:02d}" for n in range(10)]

    page = streams.describe_stream(StreamArn=arn, Limit=2)["StreamDescription"]
    assert [s["ShardId"] for s in page["Shards"]] == [s["ShardId"] for s in shards[:2]]
    rest = streams.describe_stream(StreamArn=arn, ExclusiveStartShardId=page["LastEvaluatedShardId"])
    assert [s["ShardId"] for s in rest["StreamDescription"]["Shards"]] == [shards[2]["ShardId"]]
    children = streams.describe_stream(
        StreamArn=arn, ShardFilter={"Type": "CHILD_SHARDS", "ShardId": shards[0]["ShardId"]}
    )["StreamDescription"]["Shards"]
    assert [s["ShardId"] for s in children] == [shards[1]["ShardId"]]

    closed = shards[0]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=closed["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    first = streams.get_records(ShardIterator=iterator, Limit=3)
    assert len(first["Records"]) == 3
    last = streams.get_records(ShardIterator=first["NextShardIterator"])
    assert len(last["Records"]) == 1 and "NextShardIterator" not in last


def test_iterator_types_start_where_they_say(ddb, streams, table_name):
    arn = create_streamed(ddb, table_name, "KEYS_ONLY")["LatestStreamArn"]
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "one"}})
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "two"}})
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]

    def keys_from(kind: str, **number) -> list[str]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType=kind,
                                              **number)["ShardIterator"]
        return [r["dynamodb"]["Keys"]["pk"]["S"] for r in streams.get_records(ShardIterator=iterator)["Records"]]

    latest = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                        ShardIteratorType="LATEST")["ShardIterator"]
    assert streams.get_records(ShardIterator=latest)["Records"] == []
    first_number = streams.get_records(ShardIterator=streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    )["Records"][0]["dynamodb"]["SequenceNumber"]
    assert keys_from("TRIM_HORIZON") == ["one", "two"]
    assert keys_from("AT_SEQUENCE_NUMBER", SequenceNumber=first_number) == ["one", "two"]
    assert keys_from("AFTER_SEQUENCE_NUMBER", SequenceNumber=first_number) == ["two"]
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "three"}})
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in streams.get_records(ShardIterator=latest)["Records"]] == [
        "three"
    ]
    assert keys_from("AT_TIMESTAMP", Timestamp=0) == ["one", "two", "three"]
    assert keys_from("AT_TIMESTAMP", Timestamp=time.time() + 60) == []


def test_streams_api_refusals(ddb, streams, table_name):
    arn = create_streamed(ddb, table_name, "KEYS_ONLY")["LatestStreamArn"]
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    shard_id = shard["ShardId"]
    start = shard["SequenceNumberRange"]["StartingSequenceNumber"]
    bad_arn = "x" * 40
    assert refusal(lambda: streams.describe_stream(StreamArn=bad_arn))[0] == "ValidationException"
    assert refusal(lambda: streams.describe_stream(StreamArn=arn + "0"))[0] == "ResourceNotFoundException"
    assert refusal(lambda: streams.get_shard_iterator(
        StreamArn=arn, ShardId="shardId-00000000000000000001-00000000", ShardIteratorType="LATEST"
    ))[0] == "ResourceNotFoundException"
    for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        assert refusal(lambda kind=kind: streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard_id, ShardIteratorType=kind))[0] == "ValidationException"
    for kind in ("TRIM_HORIZON", "LATEST"):
        assert refusal(lambda kind=kind: streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard_id, ShardIteratorType=kind, SequenceNumber=start))[0] == "ValidationException"
    for number in ("x" * 21, "9" * 40, "\u0661" * 21):
        assert refusal(lambda number=number: streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard_id, ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=number
        )) == ("ValidationException", f"Invalid SequenceNumber: {number}")
    assert refusal(lambda: streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard_id, ShardIteratorType="AT_TIMESTAMP"
    )) == ("ValidationException", "Timestamp must be specified for ShardIteratorType AT_TIMESTAMP")
    assert refusal(lambda: streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard_id, ShardIteratorType="LATEST", Timestamp=0
    ))[0] == "ValidationException"
    assert refusal(lambda: streams.get_records(ShardIterator="not-an-iterator")) == (
        "ValidationException", "Invalid ShardIterator"
    )
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="LATEST")["ShardIterator"]
    forged = iterator[:-6] + ("AAAAAA" if not iterator.endswith("AAAAAA") else "BBBBBB")
    assert refusal(lambda: streams.get_records(ShardIterator=forged))[0] == "ValidationException"
    assert refusal(lambda: streams.get_records(ShardIterator=iterator, Limit=1001))[0] == "ValidationException"
    assert refusal(lambda: streams.list_streams(Limit=101))[0] == "ValidationException"


def test_what_boto3_never_sends_is_refused_as_dynamodb_refuses_it(node, ddb, table_name):
    arn = create_streamed(ddb, table_name, "KEYS_ONLY")["LatestStreamArn"]
    shard = streams_for(node.url).describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    raw = RawClient(node.url)
    try:
        for timestamp, code in (("garbage", "SerializationException"), (True, "SerializationException")):
            reply = raw.post(orjson.dumps({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "AT_TIMESTAMP",
                                           "Timestamp": timestamp}), target="DynamoDBStreams_20120810.GetShardIterator")
            assert (reply.status, reply.error_code) == (400, code)
        reply = raw.post(b"{}", target="DynamoDBStreams_20120810.PutRecord")
        assert (reply.status, reply.error_code) == (400, "UnknownOperationException")
    finally:
        raw.close()


@pytest.fixture(scope="module")
def fuzzed(node, ddb):
    """A stream with records, its shard and an iterator, for requests built around them."""
    arn = create_streamed(ddb, "fuzzed-stream", "NEW_AND_OLD_IMAGES")["LatestStreamArn"]
    for n in range(3):
        ddb.put_item(TableName="fuzzed-stream", Item={"pk": {"S": f"k{n}"}})
    streams = streams_for(node.url)
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][-1]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    raw = RawClient(node.url)
    yield arn, shard, iterator, raw
    raw.close()


def _near(text: str) -> st.SearchStrategy:
    """``text``, cut, extended or with one character changed."""
    return st.one_of(
        st.just(text),
        st.integers(0, len(text)).map(lambda cut: text[:cut]),
        st.text(max_size=6).map(lambda tail: text + tail),
        st.tuples(st.integers(0, len(text) - 1), st.characters()).map(
            lambda change: text[: change[0]] + change[1] + text[change[0] + 1 :]
        ),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_streams_requests_near_valid_ones_get_dynamodb_answers(fuzzed, data):
    arn, shard, iterator, raw = fuzzed

    def value(real: str) -> object:
        return data.draw(st.one_of(_near(real), any_json))

    numbers = st.one_of(st.integers(0, 2**64).map(lambda n: f"{n:021d}"), st.text(max_size=30), any_json)
    limits = st.one_of(st.integers(-2, 2000), any_json)
    operation, payload = data.draw(st.sampled_from([
        ("ListStreams", {"TableName": value("fuzzed-stream"), "Limit": data.draw(limits),
                         "ExclusiveStartStreamArn": value(arn)}),
        ("DescribeStream", {"StreamArn": value(arn), "Limit": data.draw(limits),
                            "ExclusiveStartShardId": value(shard),
                            "ShardFilter": {"Type": "CHILD_SHARDS", "ShardId": value(shard)}}),
        ("GetShardIterator", {"StreamArn": value(arn), "ShardId": value(shard),
                              "ShardIteratorType": data.draw(st.sampled_from(
                                  ["TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER",
                                   "AT_TIMESTAMP", "OTHER"])),
                              "SequenceNumber": data.draw(numbers),
                              "Timestamp": data.draw(st.one_of(st.floats(allow_nan=False), st.text(max_size=20)))}),
        ("GetRecords", {"ShardIterator": value(iterator), "Limit": data.draw(limits)}),
    ]))
    members = data.draw(st.sets(st.sampled_from(sorted(payload))))
    body = {name: payload[name] for name in members}
    assert_dynamodb_answer(raw.post(orjson.dumps(body), target="DynamoDBStreams_20120810." + operation))


def test_list_streams_pages(ddb, streams, table_name):
    for n in range(3):
        create_streamed(ddb, f"{table_name}-{n}", "KEYS_ONLY")
    names, after = [], None
    while True:
        page = streams.list_streams(Limit=2, **({"ExclusiveStartStreamArn": after} if after else {}))
        names += [s["TableName"] for s in page["Streams"]]
        after = page.get("LastEvaluatedStreamArn")
        if after is None:
            break
    assert [n for n in names if n.startswith(table_name)] == [f"{table_name}-{n}" for n in range(3)]
    assert names == sorted(names)


def test_stream_metrics(node, ddb, streams, table_name):
    arn = create_streamed(ddb, table_name, "KEYS_ONLY")["LatestStreamArn"]
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "m1"}})
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "m2"}})
    label = arn.rsplit("/", 1)[1]
    series = f'{{stream_label="{label}",table="{table_name}"}}'

    def metric(name: str) -> float:
        text = urllib.request.urlopen(node.url + "/metrics", timeout=10).read().decode()
        rows = [row for row in text.splitlines() if row.startswith(name)]
        row = next(row for row in rows if series in row or "{" not in row)
        return float(row.rsplit(" ", 1)[1])

    assert metric("dynovault_stream_records_total") == 2
    assert metric("dynovault_stream_oldest_unread_record_seconds") >= 0
    read_stream(streams, arn)
    assert metric("dynovault_stream_oldest_unread_record_seconds") == 0
    assert metric("dynovault_stream_active_iterators") >= 1
    text = urllib.request.urlopen(node.url + "/metrics", timeout=10).read().decode()
    assert f'dynovault_stream_records_read_total{{table="{table_name}"}} 2.0' in text
    assert f'dynovault_stream_iterators_issued_total{{table="{table_name}"}}' in text


# ---- replay, crashes, followers --------------------------------------------------------

_WRITES = st.lists(
    st.tuples(
        st.sampled_from(["put", "update", "delete", "batch", "transact"]),
        st.sampled_from(["a", "b", "c", "d"]),
        st.integers(min_value=0, max_value=3),
    ),
    min_size=1,
    max_size=25,
)
_replays = iter(range(10**6))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=_WRITES)
def test_replaying_the_stream_from_trim_horizon_reproduces_the_table_and_each_old_image(ddb, streams, writes):
    name = f"replay-{next(_replays)}"
    arn = create_streamed(ddb, name, "NEW_AND_OLD_IMAGES")["LatestStreamArn"]
    for action, key, value in writes:
        item = {"pk": {"S": key}, "v": {"N": str(value)}}
        if action == "put":
            ddb.put_item(TableName=name, Item=item)
        elif action == "update":
            ddb.update_item(TableName=name, Key={"pk": {"S": key}}, UpdateExpression="SET v = :v",
                            ExpressionAttributeValues={":v": {"N": str(value)}})
        elif action == "delete":
            ddb.delete_item(TableName=name, Key={"pk": {"S": key}})
        elif action == "batch":
            other = {"pk": {"S": key + "2"}, "v": {"N": str(value)}}
            ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": item}}, {"PutRequest": {"Item": other}}]})
        else:
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": name, "Item": item}},
                {"Delete": {"TableName": name, "Key": {"pk": {"S": key + "2"}}}},
            ])
    replayed: dict[str, dict] = {}
    for record in read_stream(streams, arn):
        change, key = record["dynamodb"], record["dynamodb"]["Keys"]["pk"]["S"]
        assert change.get("OldImage") == replayed.get(key)
        expected = "REMOVE" if "NewImage" not in change else "MODIFY" if key in replayed else "INSERT"
        assert record["eventName"] == expected
        if record["eventName"] == "REMOVE":
            del replayed[key]
        else:
            replayed[key] = record["dynamodb"]["NewImage"]
    table = {row["pk"]["S"]: row for row in ddb.scan(TableName=name, ConsistentRead=True)["Items"]}
    assert replayed == table
    ddb.delete_table(TableName=name)


def test_kill_9_keeps_every_acknowledged_record_and_sequence_numbers_grow(tmp_path, table_name):
    proc = ServerProcess(tmp_path / "data").start()
    try:
        ddb = client_for(proc.url)
        arn = create_streamed(ddb, table_name, "NEW_IMAGE")["LatestStreamArn"]
        for n in range(20):
            ddb.put_item(TableName=table_name, Item={"pk": {"S": f"k{n}"}})
        proc.kill()
        proc.start()
        ddb, streams = client_for(proc.url), streams_for(proc.url)
        before = read_stream(streams, arn)
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in before] == [f"k{n}" for n in range(20)]
        ddb.put_item(TableName=table_name, Item={"pk": {"S": "after"}})
        after = read_stream(streams, arn)
        assert after[:20] == before
        assert int(after[20]["dynamodb"]["SequenceNumber"]) > int(before[-1]["dynamodb"]["SequenceNumber"])
    finally:
        proc.stop()


def test_a_follower_serves_the_leaders_stream_shards_and_sequence_numbers(tmp_path, table_name):
    same = ["--stream-shard-records", "2", "--ttl-interval", "0.1"]
    cluster = Cluster(tmp_path, follower_count=1, leader_args=same, follower_args=same).start()
    try:
        leader = client_for(cluster.leader.url)
        arn = create_streamed(leader, table_name, "NEW_AND_OLD_IMAGES")["LatestStreamArn"]
        leader.put_item(TableName=table_name, Item={"pk": {"S": "x"}, "v": {"N": "1"}})
        leader.put_item(TableName=table_name, Item={"pk": {"S": "x"}, "v": {"N": "2"}})
        leader.delete_item(TableName=table_name, Key={"pk": {"S": "x"}})
        leader.update_time_to_live(TableName=table_name,
                                   TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
        leader.put_item(TableName=table_name, Item={"pk": {"S": "old"}, "ttl": {"N": str(int(time.time()) - 60)}})
        wait_for(lambda: "Item" not in leader.get_item(TableName=table_name, Key={"pk": {"S": "old"}}))
        cluster.wait_caught_up()
        on_leader, on_follower = streams_for(cluster.leader.url), streams_for(cluster.followers[0].url)
        records = read_stream(on_leader, arn)
        assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE", "INSERT", "REMOVE"]
        assert records[-1]["userIdentity"] == {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
        assert read_stream(on_follower, arn) == records
        shards = on_leader.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        assert len(shards) == 3
        assert on_follower.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"] == shards
        leaders_iterator = on_leader.get_shard_iterator(
            StreamArn=arn, ShardId=shards[0]["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        assert on_follower.get_records(ShardIterator=leaders_iterator)["Records"] == records[:2]
    finally:
        cluster.stop()


def test_after_a_failover_an_old_leaders_iterator_ends_and_the_child_shard_holds_the_new_leaders_records(
    tmp_path, table_name
):
    cluster = Cluster(tmp_path, follower_count=1).start()
    try:
        old, follower = client_for(cluster.leader.url), cluster.followers[0]
        arn = create_streamed(old, table_name, "KEYS_ONLY")["LatestStreamArn"]
        for key in ("a", "b"):
            old.put_item(TableName=table_name, Item={"pk": {"S": key}})
        cluster.wait_caught_up()
        follower.kill()
        for key in ("lost-1", "lost-2"):
            old.put_item(TableName=table_name, Item={"pk": {"S": key}})
        on_old = streams_for(cluster.leader.url)
        (shard,) = on_old.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        past_the_lost = on_old.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                                  ShardIteratorType="LATEST")["ShardIterator"]
        cluster.leader.kill()
        follower.start()
        post_json(follower.url + "/admin/promote", {})
        new = client_for(follower.url)
        for key in ("c", "d", "e"):
            new.put_item(TableName=table_name, Item={"pk": {"S": key}})
        on_new = streams_for(follower.url)
        page = on_new.get_records(ShardIterator=past_the_lost)
        assert page["Records"] == [] and "NextShardIterator" not in page
        first, child = on_new.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        assert first["ShardId"] == shard["ShardId"] and child["ParentShardId"] == shard["ShardId"]
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in read_stream(on_new, arn)] == ["a", "b", "c", "d", "e"]
    finally:
        cluster.stop()


# ---- iterator expiry and trimming (the clock moved in-process) --------------------------


@pytest.fixture
def local(tmp_path):
    store = Store(tmp_path / "data")
    node = Node(store)
    yield node
    store.close()


def _local_stream(node: Node) -> tuple[str, str]:
    create_table(node, {
        "TableName": "local", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    })
    arn = node.stream_arn("local", node.store.tables["local"].description["LatestStreamLabel"])
    stream = find_stream(node, arn)
    (shard,) = node.store.streams.shards(stream.sid)
    return arn, shard_id(stream, shard.first_lsn)


def test_an_iterator_expires_after_15_minutes(local):
    arn, shard = _local_stream(local)
    iterator = shard_iterator(local, {"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"})
    decode_iterator(local, iterator, now=time.time() + ITERATOR_LIFETIME_SECONDS - 5)
    with pytest.raises(ExpiredIteratorException):
        decode_iterator(local, iterator, now=time.time() + ITERATOR_LIFETIME_SECONDS + 5)


def test_trimmed_records_refuse_old_iterators_and_move_the_horizon(local):
    arn, shard = _local_stream(local)
    table = local.store.tables["local"]
    for key in ("a", "b"):
        local.store.write([ItemChange(table, table.schema.encode({"pk": {"S": key}}), store_form({"pk": {"S": key}}, 2))])
    old = shard_iterator(local, {"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"})
    asyncio.run(StreamRetention(local, retention_seconds=-60).trim())
    with pytest.raises(TrimmedDataAccessException):
        get_records(local, old, 10)
    fresh = shard_iterator(local, {"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"})
    assert b'"Records":[]' in get_records(local, fresh, 10)


def test_shards_roll_by_age_and_a_replica_applying_the_log_cuts_them_alike(tmp_path):
    limits = ShardLimits(records=1000, age_us=60_000_000)
    leader, follower = Store(tmp_path / "leader", shard_limits=limits), Store(tmp_path / "follower", shard_limits=limits)
    try:
        node = Node(leader)
        _local_stream(node)
        table = leader.tables["local"]
        start = leader.streams.shards(table.stream.sid)[0].created_us
        for n, offset_seconds in enumerate((1, 30, 61, 62, 200)):
            key = {"pk": {"S": f"k{n}"}}
            change = ItemChange(table, table.schema.encode(key), store_form(key, 3))
            leader.write([change], commit_time_us=start + offset_seconds * 1_000_000)
        follower.apply((lsn, LogRecord.decode(raw)) for lsn, raw in leader.iterate_log(1))
        shards = leader.streams.shards(table.stream.sid)
        assert [(s.closed, s.parent is None) for s in shards] == [(True, True), (True, False), (False, False)]
        assert [s.parent for s in shards[1:]] == [s.first_lsn for s in shards[:-1]]
        assert follower.streams.shards(table.stream.sid) == shards
        records = [list(leader.streams.records(table.stream.sid, s, s.first_lsn)) for s in shards]
        assert [len(r) for r in records] == [2, 2, 1]
    finally:
        leader.close()
        follower.close()
