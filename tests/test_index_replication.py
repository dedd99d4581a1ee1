"""Secondary indexes across processes: a follower derives the leader's indexes (including
one added to a live table), and a ``kill -9`` under a write load leaves every index
equal to what the table's items imply."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given, settings

from dynovault.testing.cluster import Cluster, replication_status
from dynovault.testing.processes import ServerProcess
from tests.conftest import client_for
from tests.test_index_properties import apply, operations
from tests.test_index_properties import create_table as create_model_table
from tests.killing import kill_during_writes

INDEXED_TABLE = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
        {"AttributeName": "g", "AttributeType": "S"},
        {"AttributeName": "h", "AttributeType": "N"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "GlobalSecondaryIndexes": [
        {"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
         "Projection": {"ProjectionType": "ALL"}},
        {"IndexName": "by_h", "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "KEYS_ONLY"}},
    ],
    "LocalSecondaryIndexes": [
        {"IndexName": "by_pk_h", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "h", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["g"]}},
    ],
}


def scan_all(client, table: str, index: str | None = None) -> list[dict]:
    extra = {"IndexName": index} if index else {}
    pages = client.get_paginator("scan").paginate(TableName=table, **extra)
    return sorted((item for page in pages for item in page["Items"]), key=lambda i: (i["pk"]["S"], i["sk"]["N"]))


def implied(items: list[dict], names: tuple[str, ...], projected: set[str] | None) -> list[dict]:
    """What an index holds given the table's items: every item with all its key
    attributes, projected."""
    held = [item for item in items if all(name in item for name in names)]
    if projected is None:
        return held
    keep = projected | set(names) | {"pk", "sk"}
    return [{k: v for k, v in item.items() if k in keep} for item in held]


def assert_indexes_match_items(client, table: str) -> None:
    items = scan_all(client, table)
    assert scan_all(client, table, "by_g") == implied(items, ("g",), None)
    assert scan_all(client, table, "by_h") == implied(items, ("h", "sk"), set())
    assert scan_all(client, table, "by_pk_h") == implied(items, ("pk", "h"), {"g"})
    described = client.describe_table(TableName=table)["Table"]
    for index in described["GlobalSecondaryIndexes"] + described["LocalSecondaryIndexes"]:
        assert index["ItemCount"] == len(scan_all(client, table, index["IndexName"])), index["IndexName"]


def row(pk: str, sk: int) -> dict:
    item = {"pk": {"S": pk}, "sk": {"N": str(sk)}, "pad": {"S": "x" * 40}}
    if sk % 3:
        item["g"] = {"S": f"g{sk % 4}"}
    if sk % 2:
        item["h"] = {"N": str(sk % 5)}
    return item


def wait_active(client, table: str, index: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gsis = client.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"]
        if next(i for i in gsis if i["IndexName"] == index)["IndexStatus"] == "ACTIVE":
            return
        time.sleep(0.05)
    raise AssertionError(f"{index} not ACTIVE after {timeout}s")


def test_follower_indexes_equal_the_leaders(tmp_path):
    cluster = Cluster(tmp_path, follower_count=1).start()
    try:
        leader = client_for(cluster.leader.url)
        leader.create_table(TableName="indexed", **INDEXED_TABLE)
        for start in range(0, 120, 25):
            leader.batch_write_item(RequestItems={"indexed": [
                {"PutRequest": {"Item": row(f"p{i % 4}", i)}} for i in range(start, min(start + 25, 120))]})
        leader.update_item(TableName="indexed", Key={"pk": {"S": "p1"}, "sk": {"N": "1"}},
                           UpdateExpression="SET g = :g REMOVE h", ExpressionAttributeValues={":g": {"S": "moved"}})
        leader.delete_item(TableName="indexed", Key={"pk": {"S": "p2"}, "sk": {"N": "2"}})
        leader.update_table(
            TableName="indexed",
            AttributeDefinitions=[{"AttributeName": "pad", "AttributeType": "S"}],
            GlobalSecondaryIndexUpdates=[{"Create": {
                "IndexName": "by_pad", "KeySchema": [{"AttributeName": "pad", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"}}}],
        )
        leader.put_item(TableName="indexed", Item=row("late", 3))
        wait_active(leader, "indexed", "by_pad")
        cluster.wait_caught_up()
        follower = client_for(cluster.followers[0].url)
        assert_indexes_match_items(leader, "indexed")
        for index in ("by_g", "by_h", "by_pk_h", "by_pad"):
            assert scan_all(follower, "indexed", index) == scan_all(leader, "indexed", index), index
        queried = follower.query(TableName="indexed", IndexName="by_g", KeyConditionExpression="g = :g",
                                 ExpressionAttributeValues={":g": {"S": "moved"}})["Items"]
        assert [(i["pk"]["S"], i["sk"]["N"]) for i in queried] == [("p1", "1")]
        leader_gsis = leader.describe_table(TableName="indexed")["Table"]["GlobalSecondaryIndexes"]
        follower_gsis = follower.describe_table(TableName="indexed")["Table"]["GlobalSecondaryIndexes"]
        assert [(i["IndexName"], i["IndexStatus"], i["ItemCount"]) for i in follower_gsis] == [
            (i["IndexName"], i["IndexStatus"], i["ItemCount"]) for i in leader_gsis]
    finally:
        cluster.stop()


def test_indexes_equal_the_items_after_kill_9_under_load(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    client_for(server.url).create_table(TableName="crash", **INDEXED_TABLE)

    def write(ddb, worker: int, i: int) -> None:
        if i % 5 == 4:
            ddb.delete_item(TableName="crash", Key={"pk": {"S": f"w{worker}"}, "sk": {"N": str(i - 2)}})
        else:
            ddb.put_item(TableName="crash", Item=row(f"w{worker}", i))

    kill_during_writes(server, write)
    server.start()
    try:
        assert_indexes_match_items(client_for(server.url), "crash")
    finally:
        server.stop()


def test_a_bootstrapped_follower_has_the_leaders_indexes(tmp_path):
    small_log = Cluster(tmp_path, follower_count=1, leader_args=["--log-retention-bytes", "4096"]).start()
    try:
        leader = client_for(small_log.leader.url)
        leader.create_table(TableName="rebuilt", **INDEXED_TABLE)
        small_log.wait_caught_up()
        follower_process = small_log.followers[0]
        follower_process.kill()
        for start in range(0, 100, 25):
            leader.batch_write_item(RequestItems={"rebuilt": [
                {"PutRequest": {"Item": {**row(f"b{i % 3}", i), "pad": {"S": "y" * 300}}}}
                for i in range(start, start + 25)]})
        deadline = time.monotonic() + 30
        while replication_status(small_log.leader)["oldest_lsn"] <= 2:
            assert time.monotonic() < deadline, "the leader kept its whole log"
            time.sleep(0.05)
        follower_process.start()
        small_log.wait_caught_up()
        assert "bootstrapping" in follower_process.log_path.read_text()
        follower = client_for(follower_process.url)
        assert_indexes_match_items(follower, "rebuilt")
        for index in ("by_g", "by_h", "by_pk_h"):
            assert scan_all(follower, "rebuilt", index) == scan_all(leader, "rebuilt", index), index
    finally:
        small_log.stop()


def test_a_gsi_build_interrupted_by_kill_9_completes_after_restart(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    try:
        client = client_for(server.url)
        client.create_table(TableName="building", **{**INDEXED_TABLE, "GlobalSecondaryIndexes": INDEXED_TABLE["GlobalSecondaryIndexes"][:1]})
        for start in range(0, 2000, 25):
            client.batch_write_item(RequestItems={"building": [
                {"PutRequest": {"Item": row(f"k{i % 50}", i)}} for i in range(start, start + 25)]})
        client.update_table(
            TableName="building",
            AttributeDefinitions=[{"AttributeName": "h", "AttributeType": "N"}],
            GlobalSecondaryIndexUpdates=[{"Create": INDEXED_TABLE["GlobalSecondaryIndexes"][1]}],
        )
        server.kill()
        server.start()
        client = client_for(server.url)
        wait_active(client, "building", "by_h")
        items = scan_all(client, "building")
        assert scan_all(client, "building", "by_h") == implied(items, ("h", "sk"), set())
        (by_h,) = [i for i in client.describe_table(TableName="building")["Table"]["GlobalSecondaryIndexes"]
                   if i["IndexName"] == "by_h"]
        assert by_h["ItemCount"] == len(implied(items, ("h", "sk"), set()))
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    running = Cluster(tmp_path_factory.mktemp("index-pair"), follower_count=1).start()
    yield running
    running.stop()


_model_tables = itertools.count()


@settings(max_examples=10, deadline=None)
@given(operations=operations)
def test_follower_indexes_equal_the_model_after_any_write_sequence(pair, operations):
    leader = client_for(pair.leader.url)
    table = f"replicated-model-{next(_model_tables)}"
    create_model_table(leader, table)
    model: dict[str, dict] = {}
    for operation in operations:
        apply(leader, table, model, operation)
    pair.wait_caught_up()
    follower = client_for(pair.followers[0].url)
    for index in ("by_grp", "by_grp_rank"):
        expected = sorted(pk for pk, item in model.items()
                          if "grp" in item and (index == "by_grp" or "rank" in item))
        for client in (leader, follower):
            pages = client.get_paginator("scan").paginate(TableName=table, IndexName=index)
            assert sorted(item["pk"]["S"] for page in pages for item in page["Items"]) == expected
    leader.delete_table(TableName=table)
