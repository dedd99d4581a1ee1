"""Time to live: UpdateTimeToLive/DescribeTimeToLive as DynamoDB answers them, the expiry
order storage keeps with every item, and the leader's deleter, on real processes."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from decimal import Decimal

import orjson
import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from dynovault.expiry import with_ttl
from dynovault.node import Node
from dynovault.storage.engine import ItemChange, Store, stored_json, stored_value
from dynovault.storage.expiry import decode_expiry_key, expiry_key, expiry_second
from dynovault.tables import create_table
from dynovault.testing.cluster import Cluster
from dynovault.testing.processes import ServerProcess
from tests.conftest import client_for, create_hash_table
from tests.test_index_properties import create_table as create_indexed_table

INTERVAL = "0.1"


def wait_for(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)


def refusal(call: Callable[[], object]) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def enable(client, table: str, attribute: str = "expires") -> None:
    client.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute})
    wait_for(lambda: ttl_status(client, table) == "ENABLED")


def ttl_status(client, table: str) -> str:
    return client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["TimeToLiveStatus"]


def keys(client, table: str) -> set[str]:
    pages = client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return {row["pk"]["S"] for page in pages for row in page["Items"]}


def put(client, table: str, pk: str, expires: dict | None, **extra: dict) -> None:
    item = {"pk": {"S": pk}, **extra}
    if expires is not None:
        item["expires"] = expires
    client.put_item(TableName=table, Item=item)


@pytest.fixture(scope="module")
def fast_ttl(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("ttl") / "data", ["--ttl-interval", INTERVAL]).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def client(fast_ttl):
    return client_for(fast_ttl.url)


# ---- the control plane ---------------------------------------------------------------


def test_enable_and_disable_go_through_their_states(client, table_name):
    create_hash_table(client, table_name)
    assert client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "DISABLED"
    }
    answer = client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    assert answer["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "expires"}
    wait_for(lambda: ttl_status(client, table_name) == "ENABLED")
    assert client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires",
    }
    answer = client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires"}
    )
    assert answer["TimeToLiveSpecification"] == {"Enabled": False, "AttributeName": "expires"}
    wait_for(lambda: ttl_status(client, table_name) == "DISABLED")
    # The setting is not part of the table description.
    assert "TimeToLiveDescription" not in client.describe_table(TableName=table_name)["Table"]


def test_refusals(client, table_name):
    create_hash_table(client, table_name)
    spec = {"Enabled": False, "AttributeName": "expires"}
    assert refusal(lambda: client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=spec)) == (
        "ValidationException",
        "TimeToLive is already disabled",
    )
    enable(client, table_name)
    for attribute, message in (
        ("expires", "TimeToLive is already enabled"),
        ("other", "TimeToLive is active on a different AttributeName: current AttributeName is expires"),
    ):
        spec = {"Enabled": True, "AttributeName": attribute}
        assert refusal(lambda spec=spec: client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=spec)) == (
            "ValidationException",
            message,
        )
    spec = {"Enabled": False, "AttributeName": "other"}
    assert refusal(lambda: client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=spec)) == (
        "ValidationException",
        "TimeToLive is active on a different AttributeName: current AttributeName is expires",
    )
    assert ttl_status(client, table_name) == "ENABLED"
    missing = f"{table_name}-missing"
    spec = {"Enabled": True, "AttributeName": "expires"}
    assert refusal(lambda: client.update_time_to_live(TableName=missing, TimeToLiveSpecification=spec)) == (
        "ResourceNotFoundException",
        f"Requested resource not found: Table: {missing} not found",
    )
    assert refusal(lambda: client.describe_time_to_live(TableName=missing))[0] == "ResourceNotFoundException"


def test_a_change_still_being_processed_refuses_another(tmp_path, table_name):
    # A long interval keeps the table ENABLING for the whole test.
    proc = ServerProcess(tmp_path / "data", ["--ttl-interval", "3600"]).start()
    try:
        slow = client_for(proc.url)
        create_hash_table(slow, table_name)
        slow.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
        )
        assert ttl_status(slow, table_name) == "ENABLING"
        spec = {"Enabled": False, "AttributeName": "expires"}
        assert refusal(lambda: slow.update_time_to_live(TableName=table_name, TimeToLiveSpecification=spec)) == (
            "ValidationException",
            "Time to live has been modified multiple times within a fixed interval",
        )
    finally:
        proc.stop()


# ---- the deleter ---------------------------------------------------------------------


def test_expired_items_disappear_and_others_stay(client, table_name):
    create_hash_table(client, table_name)
    past = {"N": str(int(time.time()) - 60)}
    put(client, table_name, "held-before", past)  # ordered by the build when TTL is enabled
    enable(client, table_name)
    for n in range(250):  # more than one deletion chunk
        put(client, table_name, f"expired-{n}", past)
    put(client, table_name, "fractional", {"N": f"{int(time.time()) - 5}.25"})
    put(client, table_name, "future", {"N": str(int(time.time()) + 3600)})
    put(client, table_name, "string", {"S": past["N"]})
    put(client, table_name, "number-set", {"NS": [past["N"]]})
    put(client, table_name, "absent", None)
    put(client, table_name, "ancient", {"N": str(int(time.time()) - 6 * 365 * 86400)})  # beyond five years
    put(client, table_name, "milliseconds", {"N": str(int(time.time() * 1000) - 60_000)})
    survivors = {"future", "string", "number-set", "absent", "ancient", "milliseconds"}
    wait_for(lambda: keys(client, table_name) == survivors)
    assert client.describe_table(TableName=table_name)["Table"]["ItemCount"] == len(survivors)


def test_an_item_rewritten_with_a_future_ttl_survives(client, table_name):
    create_hash_table(client, table_name)
    enable(client, table_name)
    past, future = {"N": str(int(time.time()) - 60)}, {"N": str(int(time.time()) + 3600)}
    put(client, table_name, "rewritten", past)
    put(client, table_name, "rewritten", future)
    client.update_item(
        TableName=table_name,
        Key={"pk": {"S": "updated"}},
        UpdateExpression="SET expires = :t",
        ExpressionAttributeValues={":t": past},
    )
    client.update_item(
        TableName=table_name,
        Key={"pk": {"S": "updated"}},
        UpdateExpression="SET expires = :t",
        ExpressionAttributeValues={":t": {"S": "not a number"}},
    )
    put(client, table_name, "marker", past)
    wait_for(lambda: "marker" not in keys(client, table_name))
    assert keys(client, table_name) == {"rewritten", "updated"}


def test_ttl_deletes_update_indexes(client, table_name):
    create_indexed_table(client, table_name)
    enable(client, table_name)
    group = {"grp": {"S": "g"}, "rank": {"N": "1"}}
    put(client, table_name, "gone", {"N": str(int(time.time()) - 60)}, **group)
    put(client, table_name, "kept", {"N": str(int(time.time()) + 3600)}, **group)

    def indexed() -> set[str]:
        found = client.query(
            TableName=table_name,
            IndexName="by_grp_rank",
            KeyConditionExpression="grp = :g",
            ExpressionAttributeValues={":g": {"S": "g"}},
        )
        return {row["pk"]["S"] for row in found["Items"]}

    wait_for(lambda: indexed() == {"kept"})
    assert keys(client, table_name) == {"kept"}
    indexes = client.describe_table(TableName=table_name)["Table"]["GlobalSecondaryIndexes"]
    assert [index["ItemCount"] for index in indexes] == [1, 1]


def test_metrics_count_deletions_and_backlog(fast_ttl, client, table_name):
    create_hash_table(client, table_name)
    enable(client, table_name)
    for n in range(3):
        put(client, table_name, f"expired-{n}", {"N": str(int(time.time()) - 60)})
    wait_for(lambda: not keys(client, table_name))

    def metric(name: str) -> float:
        text = urllib.request.urlopen(fast_ttl.url + "/metrics", timeout=10).read().decode()
        line = next(row for row in text.splitlines() if row.startswith(f'{name}{{table="{table_name}"}}'))
        return float(line.rsplit(" ", 1)[1])

    assert metric("dynovault_ttl_deleted_items_total") == 3
    assert metric("dynovault_ttl_backlog_items") == 0
    assert metric("dynovault_ttl_oldest_overdue_seconds") == 0


def test_a_follower_deletes_what_the_leader_expired(tmp_path, table_name):
    cluster = Cluster(tmp_path, follower_count=1, leader_args=["--ttl-interval", INTERVAL],
                      follower_args=["--ttl-interval", INTERVAL]).start()
    try:
        leader, follower = client_for(cluster.leader.url), client_for(cluster.followers[0].url)
        create_hash_table(leader, table_name)
        put(leader, table_name, "gone", {"N": str(int(time.time()) - 60)})
        put(leader, table_name, "kept", {"N": str(int(time.time()) + 3600)})
        enable(leader, table_name)
        wait_for(lambda: keys(leader, table_name) == {"kept"})
        cluster.wait_caught_up()
        follower_keys = {row["pk"]["S"] for row in follower.scan(TableName=table_name)["Items"]}
        assert follower_keys == {"kept"}
        assert ttl_status(follower, table_name) == "ENABLED"
    finally:
        cluster.stop()


# ---- storage -------------------------------------------------------------------------

_SECONDS = st.integers(min_value=0, max_value=(1 << 64) - 1)
_KEYS = st.binary(max_size=24)


@given(st.lists(st.tuples(_SECONDS, _KEYS), min_size=2, max_size=20))
def test_expiry_keys_sort_by_second_then_key_and_decode(entries):
    encoded = [expiry_key("t_0123", second, key) for second, key in entries]
    assert [decode_expiry_key(raw) for raw in encoded] == [("t_0123", s, k) for s, k in entries]
    assert sorted(encoded) == [expiry_key("t_0123", s, k) for s, k in sorted(entries)]


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**30), max_value=10**30))
def test_an_expiry_second_is_the_first_whole_second_at_or_after_the_value(value):
    second = expiry_second(value)
    assert 0 <= second < 1 << 64
    if 0 < value < (1 << 64) - 1:
        assert second - 1 < value <= second


def _stored(item: dict) -> bytes:
    raw = orjson.dumps(item)
    return stored_value(raw, len(raw))


def test_the_expiry_order_follows_every_write_and_survives_a_restart(tmp_path):
    store = Store(tmp_path / "db")
    table = create_table(Node(store), {
        "TableName": "tab",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    })
    now = time.time()

    def change(pk: str, expires: dict | None) -> ItemChange:
        item = {"pk": {"S": pk}} if expires is None else {"pk": {"S": pk}, "exp": expires}
        return ItemChange(table, table.schema.encode(item), _stored(item))

    store.write([change("before", {"N": str(int(now) - 5)})])
    table = store.put_table(with_ttl(table.description, "ENABLING", "exp"))
    assert table.expiry.built_through == b""  # items held before TTL are ordered by a build
    store.create_checkpoint(tmp_path / "copy")
    store.close()
    store = Store(tmp_path / "copy")  # a build cut short completes on opening
    table = store.tables["tab"]
    assert table.expiry.built_through is None
    assert [key for _, key in store.overdue(table, now, 10)] == [change("before", None).key]
    store.write([change("moved", {"N": str(int(now) - 5)}), change("moved", {"N": str(int(now) + 60)})])
    store.write([change("typed", {"N": "1"}), change("typed", {"S": "1"})])
    assert len(store.overdue(table, now, 10)) == 1
    assert len(store.overdue(table, now + 120, 10)) == 2
    assert store.expire(table, now, 10) == 1
    assert store.overdue(table, now, 10) == []
    assert store.get(table, change("moved", None).key) is not None
    table = store.put_table(with_ttl(table.description, "DISABLING", "exp"))
    assert table.expiry is None and store.overdue(table, now + 120, 10) == []
    assert Decimal(orjson.loads(stored_json(store.get(table, change("moved", None).key)))["exp"]["N"]) > Decimal(now)
    store.close()
