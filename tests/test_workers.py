"""``dynovault serve --workers 2``: a writer and a reader process on one port.

Connections land on either process (the kernel spreads them, SO_REUSEPORT), so each test
holds keep-alive connections it knows the process of (``/health`` names it) and sends
requests on both: whichever process a client reaches, it gets the same answers."""

from __future__ import annotations

import time
import urllib.request

import orjson
import psutil
import pytest

from dynovault.testing.processes import ServerProcess
from tests.conftest import client_for
from tests.killing import kill_during_writes
from tests.rawhttp import RawClient

DEADLINE = 60.0


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("workers") / "data", extra_args=["--workers", "2"]).start()
    yield server
    server.stop()


def _worker_of(client: RawClient) -> str:
    connection = client._connection()
    connection.request("GET", "/health")
    return orjson.loads(connection.getresponse().read())["worker"]


def _connection_to(server: ServerProcess, worker: str) -> RawClient:
    """A keep-alive connection the kernel handed to ``worker`` ("writer" or "reader-1")."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        client = RawClient(server.url)
        if _worker_of(client) == worker:
            return client
        client.close()
    raise AssertionError(f"no connection reached {worker}")


def _both(server: ServerProcess) -> dict[str, RawClient]:
    return {worker: _connection_to(server, worker) for worker in ("writer", "reader-1")}


def _ok(client: RawClient, operation: str, payload: dict) -> dict:
    reply = client.call(operation, payload)
    assert reply.status == 200, (operation, reply.body)
    return reply.json() if reply.body else {}


def _eventually(check, what: str):
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.01)
    raise AssertionError(what)


def _table(name: str) -> dict:
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"},
                                 {"AttributeName": "g", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                    "Projection": {"ProjectionType": "ALL"}}],
        "BillingMode": "PAY_PER_REQUEST",
    }


def _plain_table(name: str) -> dict:
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


def _key(sk: int) -> dict:
    return {"pk": {"S": "p"}, "sk": {"N": str(sk)}}


@pytest.mark.parametrize("worker", ["writer", "reader-1"])
def test_every_operation_through_either_process(workers, worker) -> None:
    client = _connection_to(workers, worker)
    table = f"ops-{worker}"
    _ok(client, "CreateTable", _table(table))
    assert table in _ok(client, "ListTables", {})["TableNames"]
    assert _ok(client, "DescribeTable", {"TableName": table})["Table"]["TableStatus"] == "ACTIVE"
    _ok(client, "PutItem", {"TableName": table, "Item": {**_key(1), "g": {"S": "x"}, "n": {"N": "1"}}})
    _ok(client, "UpdateItem", {"TableName": table, "Key": _key(1), "UpdateExpression": "ADD n :one",
                               "ExpressionAttributeValues": {":one": {"N": "1"}}})
    _ok(client, "BatchWriteItem", {"RequestItems": {table: [
        {"PutRequest": {"Item": {**_key(i), "g": {"S": "y"}}}} for i in range(2, 12)]}})
    _ok(client, "TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": table, "Item": {**_key(20), "g": {"S": "t"}}}},
        {"Update": {"TableName": table, "Key": _key(1), "UpdateExpression": "SET m = :m",
                    "ExpressionAttributeValues": {":m": {"S": "set"}}}}]})
    consistent = _ok(client, "GetItem", {"TableName": table, "Key": _key(1), "ConsistentRead": True})["Item"]
    assert consistent["n"] == {"N": "2"} and consistent["m"] == {"S": "set"}
    _eventually(lambda: _ok(client, "GetItem", {"TableName": table, "Key": _key(20)}).get("Item"),
                "an eventually consistent GetItem never saw the transaction's item")
    _eventually(lambda: _ok(client, "Query", {"TableName": table, "KeyConditionExpression": "pk = :p",
                                              "ExpressionAttributeValues": {":p": {"S": "p"}}})["Count"] == 12,
                "Query never saw the 12 items")
    assert _ok(client, "Query", {"TableName": table, "IndexName": "by-g", "KeyConditionExpression": "g = :g",
                                 "ExpressionAttributeValues": {":g": {"S": "y"}}})["Count"] == 10
    assert _ok(client, "Scan", {"TableName": table})["Count"] == 12
    assert _ok(client, "Scan", {"TableName": table, "ConsistentRead": True, "Segment": 0,
                                "TotalSegments": 1})["Count"] == 12
    batch = _ok(client, "BatchGetItem", {"RequestItems": {table: {"Keys": [_key(2), _key(3), _key(99)]}}})
    assert len(batch["Responses"][table]) == 2
    assert len(_ok(client, "TransactGetItems", {"TransactItems": [
        {"Get": {"TableName": table, "Key": _key(1)}}]})["Responses"]) == 1
    _ok(client, "DeleteItem", {"TableName": table, "Key": _key(2)})
    arn = _ok(client, "DescribeTable", {"TableName": table})["Table"]["TableArn"]
    _ok(client, "TagResource", {"ResourceArn": arn, "Tags": [{"Key": "team", "Value": "a"}]})
    assert _ok(client, "ListTagsOfResource", {"ResourceArn": arn})["Tags"] == [{"Key": "team", "Value": "a"}]
    _ok(client, "UpdateTimeToLive", {"TableName": table, "TimeToLiveSpecification": {"Enabled": True,
                                                                                    "AttributeName": "ttl"}})
    assert _ok(client, "DescribeTimeToLive", {"TableName": table})["TimeToLiveDescription"]["TimeToLiveStatus"]
    _ok(client, "DescribeLimits", {})
    _ok(client, "DescribeEndpoints", {})
    refused = client.call("GetItem", {"TableName": "no-such-table", "Key": _key(1)})
    assert (refused.status, refused.error_code) == (400, "ResourceNotFoundException")
    invalid = client.call("PutItem", {"TableName": table, "Item": {"pk": {"S": "p"}}})
    assert (invalid.status, invalid.error_code) == (400, "ValidationException")
    _ok(client, "DeleteTable", {"TableName": table})


def test_a_write_then_a_consistent_read_on_any_connection(workers) -> None:
    connections = _both(workers)
    _ok(connections["writer"], "CreateTable", _table("ryw"))
    for index in range(40):
        writer_side, reader_side = (("writer", "reader-1"), ("reader-1", "writer"))[index % 2]
        _ok(connections[writer_side], "PutItem", {"TableName": "ryw", "Item": {**_key(index), "v": {"N": "1"}}})
        answer = _ok(connections[reader_side], "GetItem", {"TableName": "ryw", "Key": _key(index),
                                                          "ConsistentRead": True})
        assert answer["Item"]["sk"] == {"N": str(index)}


def test_metrics_merge_the_reader_into_one_view(workers) -> None:
    connections = _both(workers)
    _ok(connections["writer"], "CreateTable", _table("merged"))
    _ok(connections["reader-1"], "PutItem", {"TableName": "merged", "Item": _key(1)})
    # Until the reader caught up it knows neither the item nor the new table.
    _eventually(lambda: b'"Item"' in connections["reader-1"].call("GetItem", {"TableName": "merged",
                                                                            "Key": _key(1)}).body,
                "the reader never saw the write")
    def merged() -> bool:
        text = urllib.request.urlopen(workers.url + "/metrics", timeout=30).read().decode()
        values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                  if line and not line.startswith("#")}
        return (values.get("dynovault_reader_passed_to_writer_total", 0) >= 1
                and values.get("dynovault_reader_staleness_seconds_count", 0) >= 1)

    # A reader too busy to answer the writer's collection within its timeout is left out
    # of that one scrape, so the scrape is repeated.
    _eventually(merged, "/metrics never showed the reader's requests and catch-ups")


def _readers(server: ServerProcess) -> list[psutil.Process]:
    return psutil.Process(server.process.pid).children()


def test_a_killed_reader_is_restarted(tmp_path) -> None:
    server = ServerProcess(tmp_path / "data", extra_args=["--workers", "2"]).start()
    try:
        ddb = client_for(server.url)
        ddb.create_table(**_plain_table("survivor"))
        (reader,) = _eventually(lambda: _readers(server), "the writer started no reader")
        reader.kill()
        reader.wait(DEADLINE)
        restarted = _eventually(lambda: [p for p in _readers(server) if p.pid != reader.pid and p.is_running()],
                                "the killed reader was not restarted")
        assert len(restarted) == 1
        client = _connection_to(server, "reader-1")
        _ok(client, "PutItem", {"TableName": "survivor", "Item": _key(7)})
        _eventually(lambda: _ok(client, "GetItem", {"TableName": "survivor", "Key": _key(7)}).get("Item"),
                    "the restarted reader never saw the write")
    finally:
        server.stop()


def test_kill_9_of_the_writer_under_load_loses_no_acknowledged_write(tmp_path) -> None:
    server = ServerProcess(tmp_path / "data", extra_args=["--workers", "2"]).start()
    ddb = client_for(server.url)
    ddb.create_table(**_plain_table("durable"))
    readers = _eventually(lambda: _readers(server), "the writer started no reader")

    def write(client, worker: int, index: int) -> int:
        client.put_item(TableName="durable", Item={"pk": {"S": "p"}, "sk": {"N": str(worker * 100_000 + index)}})
        return worker * 100_000 + index

    acknowledged = kill_during_writes(server, write, workers=4, acknowledged_before_kill=300)
    for reader in readers:
        # The kernel kills a reader with its writer, so nothing stale keeps the port.
        reader.wait(DEADLINE)
    server.start()
    try:
        ddb = client_for(server.url)
        for sk in acknowledged:
            assert "Item" in ddb.get_item(TableName="durable", Key=_key(sk), ConsistentRead=True), sk
    finally:
        server.stop()
