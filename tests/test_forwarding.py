"""Writes through a follower, and writers racing through the leader and a follower at
once: every write path answers as the leader does, one conditional put wins, no ADD is
lost, and version-locked updates serialize."""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError

from dynovault.testing.cluster import Cluster
from tests.test_replication import _client_without_retries, create_table

RACERS = 8


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    running = Cluster(tmp_path_factory.mktemp("forwarding"), follower_count=1).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def leader(pair):
    return _client_without_retries(pair.leader.url)


@pytest.fixture(scope="module")
def follower(pair):
    return _client_without_retries(pair.followers[0].url)


def key(pk: str) -> dict:
    return {"pk": {"S": pk}}


def test_every_write_path_through_a_follower_answers_as_the_leader(pair, leader, follower, table_name):
    create_table(follower, table_name)
    follower.put_item(TableName=table_name, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    updated = follower.update_item(TableName=table_name, Key=key("a"), UpdateExpression="ADD n :one",
                                   ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="ALL_NEW")
    assert updated["Attributes"] == {"pk": {"S": "a"}, "n": {"N": "2"}}
    follower.batch_write_item(RequestItems={table_name: [
        {"PutRequest": {"Item": {"pk": {"S": f"b{i}"}, "n": {"N": str(i)}}}} for i in range(5)
    ] + [{"DeleteRequest": {"Key": key("a")}}]})
    with pytest.raises(ClientError) as failed:
        follower.put_item(TableName=table_name, Item={"pk": {"S": "b1"}, "n": {"N": "100"}},
                          ConditionExpression="attribute_not_exists(pk)",
                          ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert failed.value.response["Item"] == {"pk": {"S": "b1"}, "n": {"N": "1"}}
    deleted = follower.delete_item(TableName=table_name, Key=key("b2"), ReturnValues="ALL_OLD")
    assert deleted["Attributes"] == {"pk": {"S": "b2"}, "n": {"N": "2"}}
    follower.transact_write_items(TransactItems=[
        {"Put": {"TableName": table_name, "Item": {"pk": {"S": "t"}, "n": {"N": "7"}}}},
        {"Update": {"TableName": table_name, "Key": key("b3"), "UpdateExpression": "SET n = :n",
                    "ExpressionAttributeValues": {":n": {"N": "30"}}}},
    ])
    # Read-your-writes through the follower: consistent reads are the leader's.
    consistent = follower.batch_get_item(RequestItems={table_name: {
        "Keys": [key("a"), key("b2"), key("b3"), key("t")], "ConsistentRead": True}})
    assert sorted((row["pk"]["S"], row["n"]["N"]) for row in consistent["Responses"][table_name]) == [
        ("b3", "30"), ("t", "7")]
    queried = follower.query(TableName=table_name, KeyConditionExpression="pk = :pk",
                             ExpressionAttributeValues={":pk": {"S": "b4"}}, ConsistentRead=True)
    assert queried["Items"] == [{"pk": {"S": "b4"}, "n": {"N": "4"}}]
    expected = {"b0": "0", "b1": "1", "b3": "30", "b4": "4", "t": "7"}
    pair.wait_caught_up()
    for client in (leader, follower):
        rows = client.scan(TableName=table_name)["Items"]
        assert {row["pk"]["S"]: row["n"]["N"] for row in rows} == expected


def _race(clients: list, attempt) -> list:
    """Run ``attempt(client, racer)`` in RACERS threads at once, half through each client;
    return what each returned."""
    results: list = [None] * RACERS
    start = threading.Barrier(RACERS)

    def run(racer: int) -> None:
        start.wait()
        results[racer] = attempt(clients[racer % len(clients)], racer)

    threads = [threading.Thread(target=run, args=(racer,)) for racer in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_one_conditional_put_wins_the_race(pair, leader, follower, table_name):
    create_table(leader, table_name)
    pair.wait_caught_up()

    def claim(client, racer: int) -> bool:
        try:
            client.put_item(TableName=table_name, Item={"pk": {"S": "prize"}, "owner": {"N": str(racer)}},
                            ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return False
        return True

    won = _race([leader, follower], claim)
    assert won.count(True) == 1
    stored = leader.get_item(TableName=table_name, Key=key("prize"), ConsistentRead=True)["Item"]
    assert stored["owner"]["N"] == str(won.index(True))


def test_no_add_is_lost_in_the_race(pair, leader, follower, table_name):
    create_table(leader, table_name)
    pair.wait_caught_up()
    adds = 25

    def add(client, _racer: int) -> int:
        for _ in range(adds):
            client.update_item(TableName=table_name, Key=key("counter"), UpdateExpression="ADD n :one",
                               ExpressionAttributeValues={":one": {"N": "1"}})
        return adds

    assert sum(_race([leader, follower], add)) == RACERS * adds
    pair.wait_caught_up()
    for client in (leader, follower):
        assert client.get_item(TableName=table_name, Key=key("counter"))["Item"]["n"]["N"] == str(RACERS * adds)


def test_version_locked_updates_serialize(pair, leader, follower, table_name):
    create_table(leader, table_name)
    leader.put_item(TableName=table_name, Item={"pk": {"S": "doc"}, "version": {"N": "0"}, "trail": {"L": []}})
    pair.wait_caught_up()
    updates = 5

    def bump(client, racer: int) -> int:
        done = 0
        while done < updates:
            current = client.get_item(TableName=table_name, Key=key("doc"), ConsistentRead=True)["Item"]
            version = current["version"]["N"]
            try:
                client.update_item(
                    TableName=table_name, Key=key("doc"),
                    UpdateExpression="SET version = version + :one, trail = list_append(trail, :entry)",
                    ConditionExpression="version = :seen",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":seen": {"N": version},
                                               ":entry": {"L": [{"S": f"{racer}@{version}"}]}},
                )
            except ClientError as error:
                assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
                continue
            done += 1
        return done

    assert sum(_race([leader, follower], bump)) == RACERS * updates
    final = leader.get_item(TableName=table_name, Key=key("doc"), ConsistentRead=True)["Item"]
    assert final["version"]["N"] == str(RACERS * updates)
    seen_versions = [entry["S"].split("@")[1] for entry in final["trail"]["L"]]
    assert seen_versions == [str(v) for v in range(RACERS * updates)]
