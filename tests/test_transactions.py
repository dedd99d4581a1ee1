"""TransactWriteItems and TransactGetItems through unmodified boto3: every action, all or
nothing, cancellation reasons, idempotency, limits, capacity, indexes, replication and
kill -9."""

from __future__ import annotations

import threading
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynovault.replication.leader import FRAME_MAX_BYTES, Leader
from dynovault.storage.engine import CLIENT_TOKEN_TTL_US, ClientToken, ItemChange, LogGapError, Store
from dynovault.storage.replog import LogRecord
from dynovault.testing.cluster import Cluster
from dynovault.testing.processes import ServerProcess
from tests.conftest import client_for, create_hash_table
from tests.killing import kill_during_writes


def _key(pk: str) -> dict:
    return {"pk": {"S": pk}}


def _put(table: str, pk: str, **attributes: dict) -> dict:
    return {"Put": {"TableName": table, "Item": {**_key(pk), **attributes}}}


def _get(ddb, table: str, pk: str) -> dict | None:
    return ddb.get_item(TableName=table, Key=_key(pk), ConsistentRead=True).get("Item")


def _cancelled(ddb, **request) -> dict:
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(**request)
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    return raised.value.response


def _refused(call, code: str = "ValidationException") -> str:
    with pytest.raises(ClientError) as raised:
        call()
    assert raised.value.response["Error"]["Code"] == code
    return raised.value.response["Error"]["Message"]


# ---- every action ----------------------------------------------------------------------


def test_every_action_type_commits_together(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**_key("updated"), "n": {"N": "1"}})
    ddb.put_item(TableName=hash_table, Item={**_key("deleted")})
    ddb.put_item(TableName=hash_table, Item={**_key("checked"), "state": {"S": "open"}})
    answer = ddb.transact_write_items(TransactItems=[
        _put(hash_table, "new", v={"S": "x"}),
        {"Update": {"TableName": hash_table, "Key": _key("updated"), "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Delete": {"TableName": hash_table, "Key": _key("deleted"), "ConditionExpression": "attribute_exists(pk)"}},
        {"ConditionCheck": {"TableName": hash_table, "Key": _key("checked"),
                            "ConditionExpression": "#s = :open", "ExpressionAttributeNames": {"#s": "state"},
                            "ExpressionAttributeValues": {":open": {"S": "open"}}}},
    ])
    assert "ConsumedCapacity" not in answer and "ItemCollectionMetrics" not in answer
    assert _get(ddb, hash_table, "new") == {**_key("new"), "v": {"S": "x"}}
    assert _get(ddb, hash_table, "updated")["n"] == {"N": "2"}
    assert _get(ddb, hash_table, "deleted") is None
    assert _get(ddb, hash_table, "checked") == {**_key("checked"), "state": {"S": "open"}}


def test_transactions_span_tables_and_work_through_the_resource(ddb_resource, ddb, hash_table, range_table):
    client = ddb_resource.meta.client
    client.transact_write_items(TransactItems=[
        {"Put": {"TableName": hash_table, "Item": {"pk": "a", "tags": {"x", "y"}}}},
        {"Put": {"TableName": range_table, "Item": {"pk": "a", "sk": 1, "doc": {"nested": [1, "two"]}}}},
    ])
    answer = client.transact_get_items(TransactItems=[
        {"Get": {"TableName": hash_table, "Key": {"pk": "a"}}},
        {"Get": {"TableName": range_table, "Key": {"pk": "a", "sk": 1}, "ProjectionExpression": "doc.nested[1]"}},
        {"Get": {"TableName": hash_table, "Key": {"pk": "missing"}}},
    ])
    assert answer["Responses"] == [
        {"Item": {"pk": "a", "tags": {"x", "y"}}},
        {"Item": {"doc": {"nested": ["two"]}}},
        {},
    ]


# ---- cancellation ----------------------------------------------------------------------


def test_a_failed_condition_cancels_everything_with_reasons_in_order(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**_key("held"), "holder": {"S": "alice"}})
    response = _cancelled(ddb, TransactItems=[
        _put(hash_table, "would-be-written"),
        {"Update": {"TableName": hash_table, "Key": _key("held"), "UpdateExpression": "SET holder = :bob",
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ExpressionAttributeValues": {":bob": {"S": "bob"}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        {"ConditionCheck": {"TableName": hash_table, "Key": _key("absent"),
                            "ConditionExpression": "attribute_exists(pk)"}},
    ])
    assert response["Error"]["Message"] == (
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[None, ConditionalCheckFailed, ConditionalCheckFailed]"
    )
    assert response["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed",
         "Item": {**_key("held"), "holder": {"S": "alice"}}},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
    ]
    assert _get(ddb, hash_table, "would-be-written") is None
    assert _get(ddb, hash_table, "held")["holder"] == {"S": "alice"}


def test_an_update_the_stored_item_refuses_cancels_with_a_validation_error(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**_key("text"), "n": {"S": "not a number"}})
    response = _cancelled(ddb, TransactItems=[
        {"Update": {"TableName": hash_table, "Key": _key("text"), "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        _put(hash_table, "other"),
    ])
    first, second = response["CancellationReasons"]
    assert first["Code"] == "ValidationError"
    assert first["Message"] == "An operand in the update expression has an incorrect data type"
    assert second == {"Code": "None"}
    assert response["Error"]["Message"].endswith("[ValidationError, None]")
    assert _get(ddb, hash_table, "other") is None


def test_refusals_of_the_request_itself(ddb, server, hash_table):
    unchecked = boto3.client("dynamodb", endpoint_url=server.url, config=Config(parameter_validation=False))
    twice = [_put(hash_table, "same"), {"Delete": {"TableName": hash_table, "Key": _key("same")}}]
    assert _refused(lambda: ddb.transact_write_items(TransactItems=twice)) == (
        "Transaction request cannot include multiple operations on one item"
    )
    gets_twice = [{"Get": {"TableName": hash_table, "Key": _key("same")}}] * 2
    assert _refused(lambda: ddb.transact_get_items(TransactItems=gets_twice)) == (
        "Transaction request cannot include multiple operations on one item"
    )
    too_many = [_put(hash_table, f"k{i}") for i in range(101)]
    assert "Member must have length less than or equal to 100" in _refused(
        lambda: ddb.transact_write_items(TransactItems=too_many)
    )
    too_many_gets = [{"Get": {"TableName": hash_table, "Key": _key(f"k{i}")}} for i in range(101)]
    assert "Member must have length less than or equal to 100" in _refused(
        lambda: ddb.transact_get_items(TransactItems=too_many_gets)
    )
    assert "Member must have length greater than or equal to 1" in _refused(
        lambda: unchecked.transact_write_items(TransactItems=[])
    )
    assert _refused(lambda: ddb.transact_write_items(TransactItems=[{}])) == (
        "TransactItems can only contain one of Check, Put, Update or Delete"
    )
    wrong_key = [{"Delete": {"TableName": hash_table, "Key": {"other": {"S": "x"}}}}]
    assert _refused(lambda: ddb.transact_write_items(TransactItems=wrong_key)) == (
        "The provided key element does not match the schema"
    )
    missing_table = [_put("no-such-table", "x")]
    _refused(lambda: ddb.transact_write_items(TransactItems=missing_table), "ResourceNotFoundException")
    key_update = [{"Update": {"TableName": hash_table, "Key": _key("x"), "UpdateExpression": "SET pk = :v",
                              "ExpressionAttributeValues": {":v": {"S": "y"}}}}]
    assert "This attribute is part of the key" in _refused(lambda: ddb.transact_write_items(TransactItems=key_update))
    assert _get(ddb, hash_table, "k0") is None and _get(ddb, hash_table, "same") is None


def test_more_than_four_megabytes_is_refused(ddb, hash_table):
    big = "x" * 390_000
    actions = [_put(hash_table, f"big{i}", blob={"S": big}) for i in range(11)]
    assert _refused(lambda: ddb.transact_write_items(TransactItems=actions)) == (
        "Total size of all items in the transaction has exceeded the maximum allowed size"
    )
    ddb.transact_write_items(TransactItems=actions[:10])
    assert _get(ddb, hash_table, "big9")["blob"] == {"S": big}


# ---- idempotency -----------------------------------------------------------------------


def test_a_repeated_client_token_applies_once(ddb, hash_table):
    token = str(uuid.uuid4())
    counter = [{"Update": {"TableName": hash_table, "Key": _key("counter"), "UpdateExpression": "ADD n :one",
                           "ExpressionAttributeValues": {":one": {"N": "1"}}}}]
    ddb.transact_write_items(TransactItems=counter, ClientRequestToken=token)
    again = ddb.transact_write_items(TransactItems=counter, ClientRequestToken=token, ReturnConsumedCapacity="TOTAL")
    assert again["ConsumedCapacity"] == [
        {"TableName": hash_table, "CapacityUnits": 2.0, "ReadCapacityUnits": 2.0}
    ]
    assert _get(ddb, hash_table, "counter")["n"] == {"N": "1"}
    different = [{"Put": {"TableName": hash_table, "Item": _key("counter")}}]
    message = _refused(
        lambda: ddb.transact_write_items(TransactItems=different, ClientRequestToken=token),
        "IdempotentParameterMismatchException",
    )
    assert "same client token" in message
    ddb.transact_write_items(TransactItems=counter, ClientRequestToken=str(uuid.uuid4()))
    assert _get(ddb, hash_table, "counter")["n"] == {"N": "2"}


def test_client_tokens_survive_a_restart(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    try:
        ddb = client_for(server.url)
        create_hash_table(ddb, "tokens")
        counter = [{"Update": {"TableName": "tokens", "Key": _key("c"), "UpdateExpression": "ADD n :one",
                               "ExpressionAttributeValues": {":one": {"N": "1"}}}}]
        ddb.transact_write_items(TransactItems=counter, ClientRequestToken="kept-token")
        server.kill()
        server.start()
        ddb = client_for(server.url)
        ddb.transact_write_items(TransactItems=counter, ClientRequestToken="kept-token")
        assert _get(ddb, "tokens", "c")["n"] == {"N": "1"}
        _refused(
            lambda: ddb.transact_write_items(TransactItems=counter[:0] + [_put("tokens", "c")],
                                             ClientRequestToken="kept-token"),
            "IdempotentParameterMismatchException",
        )
    finally:
        server.stop()


# ---- capacity --------------------------------------------------------------------------


def test_capacity_is_doubled_and_split_into_reads_and_writes(ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={**_key("c"), "pad": {"S": "p" * 5000}})
    answer = ddb.transact_write_items(
        TransactItems=[
            _put(hash_table, "w", pad={"S": "p" * 1500}),
            {"ConditionCheck": {"TableName": hash_table, "Key": _key("c"), "ConditionExpression": "attribute_exists(pk)"}},
        ],
        ReturnConsumedCapacity="INDEXES",
    )
    assert answer["ConsumedCapacity"] == [{
        "TableName": hash_table, "CapacityUnits": 8.0, "ReadCapacityUnits": 4.0, "WriteCapacityUnits": 4.0,
        "Table": {"CapacityUnits": 8.0, "ReadCapacityUnits": 4.0, "WriteCapacityUnits": 4.0},
    }]
    read = ddb.transact_get_items(
        TransactItems=[{"Get": {"TableName": hash_table, "Key": _key("c")}},
                       {"Get": {"TableName": hash_table, "Key": _key("none")}}],
        ReturnConsumedCapacity="TOTAL",
    )
    assert read["ConsumedCapacity"] == [{"TableName": hash_table, "CapacityUnits": 6.0, "ReadCapacityUnits": 6.0}]


# ---- indexes ---------------------------------------------------------------------------


def test_transactions_maintain_secondary_indexes(ddb, table_name):
    ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "owner", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-owner", "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName=table_name, Item={**_key("moved"), "owner": {"S": "alice"}})
    ddb.put_item(TableName=table_name, Item={**_key("gone"), "owner": {"S": "alice"}})
    answer = ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table_name, "Item": {**_key("fresh"), "owner": {"S": "bob"}}}},
            {"Update": {"TableName": table_name, "Key": _key("moved"), "UpdateExpression": "SET #o = :bob",
                        "ExpressionAttributeNames": {"#o": "owner"}, "ExpressionAttributeValues": {":bob": {"S": "bob"}}}},
            {"Delete": {"TableName": table_name, "Key": _key("gone")}},
        ],
        ReturnConsumedCapacity="INDEXES",
    )
    gsi = answer["ConsumedCapacity"][0]["GlobalSecondaryIndexes"]["by-owner"]
    assert gsi == {"CapacityUnits": 8.0, "WriteCapacityUnits": 8.0}

    def owned_by(owner: str) -> set[str]:
        items = ddb.query(TableName=table_name, IndexName="by-owner", KeyConditionExpression="#o = :o",
                          ExpressionAttributeNames={"#o": "owner"},
                          ExpressionAttributeValues={":o": {"S": owner}})["Items"]
        return {item["pk"]["S"] for item in items}

    assert owned_by("bob") == {"fresh", "moved"}
    assert owned_by("alice") == set()
    wrong_type = [{"Put": {"TableName": table_name, "Item": {**_key("x"), "owner": {"N": "1"}}}}]
    assert "owner" in _refused(lambda: ddb.transact_write_items(TransactItems=wrong_type))


# ---- against a model ---------------------------------------------------------------------

_KEYS = [f"m{i}" for i in range(6)]
_action = st.one_of(
    st.tuples(st.just("Put"), st.sampled_from(_KEYS), st.integers(0, 3)),
    st.tuples(st.just("Delete"), st.sampled_from(_KEYS), st.booleans()),
    st.tuples(st.just("Add"), st.sampled_from(_KEYS), st.integers(-2, 2)),
    st.tuples(st.just("Check"), st.sampled_from(_KEYS), st.booleans()),
)


def _request(table: str, action: tuple) -> dict:
    kind, pk, argument = action
    if kind == "Put":
        return {"Put": {"TableName": table, "Item": {**_key(pk), "v": {"N": str(argument)}}}}
    if kind == "Delete":
        condition = {"ConditionExpression": "attribute_exists(pk)"} if argument else {}
        return {"Delete": {"TableName": table, "Key": _key(pk), **condition}}
    if kind == "Add":
        return {"Update": {"TableName": table, "Key": _key(pk), "UpdateExpression": "ADD v :d",
                           "ConditionExpression": "attribute_not_exists(v) OR v < :cap",
                           "ExpressionAttributeValues": {":d": {"N": str(argument)}, ":cap": {"N": "3"}}}}
    existence = "attribute_exists(pk)" if argument else "attribute_not_exists(pk)"
    return {"ConditionCheck": {"TableName": table, "Key": _key(pk), "ConditionExpression": existence}}


def _model_apply(model: dict[str, int], actions: list[tuple]) -> list[str]:
    """The reasons DynamoDB gives, and ``model`` changed only when all are None."""
    reasons, after = [], dict(model)
    for kind, pk, argument in actions:
        present = pk in model
        if kind == "Put":
            ok, after[pk] = True, argument
        elif kind == "Delete":
            ok = present or not argument
            after.pop(pk, None)
        elif kind == "Add":
            ok = model.get(pk, 0) < 3 or not present
            after[pk] = model.get(pk, 0) + argument
        else:
            ok = present == argument
        reasons.append("None" if ok else "ConditionalCheckFailed")
    if all(reason == "None" for reason in reasons):
        model.clear()
        model.update(after)
    return reasons


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(transactions=st.lists(st.lists(_action, min_size=1, max_size=5, unique_by=lambda a: a[1]), max_size=6))
def test_random_transactions_match_a_model(ddb, transactions):
    table = create_hash_table(ddb, f"model-{uuid.uuid4().hex[:12]}")
    model: dict[str, int] = {}
    try:
        for actions in transactions:
            expected = _model_apply(model, actions)
            try:
                ddb.transact_write_items(TransactItems=[_request(table, action) for action in actions])
                reasons = ["None"] * len(actions)
            except ClientError as error:
                reasons = [reason["Code"] for reason in error.response["CancellationReasons"]]
            assert reasons == expected
        items = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": _key(pk)}} for pk in _KEYS])
        stored = {pk: int(r["Item"]["v"]["N"]) if "v" in r["Item"] else 0
                  for pk, r in zip(_KEYS, items["Responses"]) if r}
        assert stored == model
    finally:
        ddb.delete_table(TableName=table)


# ---- replication and crashes -------------------------------------------------------------


def _ten_puts(table: str, round_number: int, padding: int = 0) -> list[dict]:
    pad = {"pad": {"S": "p" * padding}} if padding else {}
    return [_put(table, f"k{n}", round={"N": str(round_number)}, **pad) for n in range(10)]


def test_the_log_ships_a_transaction_whole(tmp_path):
    store = Store(tmp_path / "data")
    table = store.put_table({
        "TableName": "t", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    })
    first = store.last_lsn + 1
    value = b"\x00\x00\x10\x00" + b'{"pad":{"S":"' + b"p" * (FRAME_MAX_BYTES // 25) + b'"}}'
    for commit in range(60):
        store.write([ItemChange(table, f"{commit}-{n}".encode(), value) for n in range(10)])
    lsn, frames = first, 0
    while lsn <= store.last_lsn:
        entries = Leader._read_frame(store, lsn)
        assert not LogRecord.continues_commit(entries[-1][1])
        assert (entries[-1][0] - first + 1) % 10 == 0
        lsn, frames = entries[-1][0] + 1, frames + 1
    assert frames > 1
    store.write([ItemChange(table, b"tokened", value)], token=ClientToken(b"the-token", b"digest"))
    follower = Store(tmp_path / "follower")
    follower.apply((n, LogRecord.decode(raw)) for n, raw in store.iterate_log(1) if n < first)
    shipped = [(n, LogRecord.decode(raw)) for n, raw in store.iterate_log(first)]
    with pytest.raises(LogGapError, match="inside a commit"):
        follower.apply(shipped[:15])
    assert follower.last_lsn == first - 1
    follower.apply(shipped)
    assert follower.tables["t"].item_count == 601
    assert follower.client_token(b"the-token") == b"digest"
    store.close()
    follower.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = Cluster(tmp_path_factory.mktemp("transactions"), follower_count=1).start()
    yield running
    running.stop()


def test_a_follower_forwards_transactions_and_applies_them_whole(cluster):
    leader, follower = client_for(cluster.leader.url), client_for(cluster.followers[0].url)
    create_hash_table(follower, "whole")
    cluster.wait_caught_up()
    torn: list = []
    done = threading.Event()

    def read_follower() -> None:
        keys = [_key(f"k{n}") for n in range(10)]
        while not done.is_set():
            items = follower.batch_get_item(RequestItems={"whole": {"Keys": keys}})["Responses"]["whole"]
            rounds = {item["round"]["N"] for item in items}
            if len(rounds) > 1 or 0 < len(items) < 10:
                torn.append(rounds)

    reader = threading.Thread(target=read_follower)
    reader.start()
    try:
        for round_number in range(40):
            client = follower if round_number % 2 else leader
            client.transact_write_items(TransactItems=_ten_puts("whole", round_number, padding=20_000))
    finally:
        done.set()
        reader.join()
    assert torn == []
    cluster.wait_caught_up()
    answer = follower.transact_get_items(TransactItems=[{"Get": {"TableName": "whole", "Key": _key(f"k{n}")}}
                                                        for n in range(10)])
    assert {r["Item"]["round"]["N"] for r in answer["Responses"]} == {"39"}


def test_kill_9_leaves_each_transaction_whole(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    create_hash_table(client_for(server.url), "crash")

    def transaction(ddb, worker: int, i: int) -> str:
        group = f"w{worker}-{i}"
        ddb.transact_write_items(TransactItems=[_put("crash", f"{group}-{n}", part={"N": str(n)}) for n in range(10)])
        return group

    acknowledged = kill_during_writes(server, transaction, acknowledged_before_kill=100)
    server.start()
    try:
        ddb = client_for(server.url)
        items = []
        pages = ddb.get_paginator("scan").paginate(TableName="crash")
        for page in pages:
            items.extend(page["Items"])
        groups: dict[str, int] = {}
        for item in items:
            group = item["pk"]["S"].rsplit("-", 1)[0]
            groups[group] = groups.get(group, 0) + 1
        assert all(count == 10 for count in groups.values()), groups
        assert set(acknowledged) <= set(groups)
    finally:
        server.stop()


def test_item_collection_metrics_for_a_table_with_a_local_index(ddb, table_name):
    ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"},
                              {"AttributeName": "rank", "AttributeType": "N"}],
        LocalSecondaryIndexes=[{"IndexName": "by-rank", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                                     {"AttributeName": "rank", "KeyType": "RANGE"}],
                                "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        BillingMode="PAY_PER_REQUEST",
    )
    answer = ddb.transact_write_items(
        TransactItems=[{"Put": {"TableName": table_name, "Item": {"pk": {"S": p}, "sk": {"S": "s"}, "rank": {"N": "1"}}}}
                       for p in ("a", "b")],
        ReturnItemCollectionMetrics="SIZE",
    )
    collections = answer["ItemCollectionMetrics"][table_name]
    assert sorted(c["ItemCollectionKey"]["pk"]["S"] for c in collections) == ["a", "b"]
    assert all(c["SizeEstimateRangeGB"] == [0.0, 1.0] for c in collections)


def _groups(client, table: str) -> dict[str, int]:
    """How many of its ten items each transaction's group holds."""
    groups: dict[str, int] = {}
    for page in client.get_paginator("scan").paginate(TableName=table):
        for row in page["Items"]:
            group = row["pk"]["S"].rsplit("-", 1)[0]
            groups[group] = groups.get(group, 0) + 1
    return groups


def test_kill_9_of_a_follower_leaves_each_transaction_whole_there(tmp_path):
    cluster = Cluster(tmp_path / "cluster", follower_count=1).start()
    try:
        leader = client_for(cluster.leader.url)
        create_hash_table(leader, "crash")
        cluster.wait_caught_up()
        follower = cluster.followers[0]
        stop = threading.Event()
        committed: list[str] = []

        def write() -> None:
            for i in range(100_000):
                if stop.is_set():
                    return
                group = f"g{i}"
                leader.transact_write_items(TransactItems=[_put("crash", f"{group}-{n}", padding={"S": "p" * 2000})
                                                           for n in range(10)])
                committed.append(group)

        writer = threading.Thread(target=write)
        writer.start()
        deadline = time.monotonic() + 120

        def committing(count: int) -> bool:
            assert writer.is_alive() and time.monotonic() < deadline, f"{len(committed)} transactions committed"
            return len(committed) < count

        try:
            while committing(50):
                threading.Event().wait(0.01)
            follower.kill()
            while committing(100):
                threading.Event().wait(0.01)
            follower.start()
            reader = client_for(follower.url)
            while committing(150):
                assert all(count == 10 for count in _groups(reader, "crash").values())
        finally:
            stop.set()
            writer.join()
        cluster.wait_caught_up()
        on_follower = _groups(client_for(follower.url), "crash")
        assert all(count == 10 for count in on_follower.values()), on_follower
        assert set(on_follower) == set(committed) == set(_groups(leader, "crash"))
    finally:
        cluster.stop()


def test_a_client_token_is_forgotten_after_ten_minutes(tmp_path):
    store = Store(tmp_path / "data")
    table = store.put_table({
        "TableName": "t", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    })
    store.write([ItemChange(table, b"k", b"\x00\x00\x00\x02{}")], commit_time_us=1_000_000,
                token=ClientToken(b"token", b"digest"))
    assert store.client_token(b"token", now=1_000_000 + CLIENT_TOKEN_TTL_US - 1) == b"digest"
    assert store.client_token(b"token", now=1_000_000 + CLIENT_TOKEN_TTL_US) is None
    store.close()
