"""Leader-follower replication with real processes: a leader, two followers, boto3."""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.error

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dynovault.testing.cluster import Cluster, get_json, post_json, replication_status
from tests.conftest import client_for

HASH_TABLE = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def create_table(client, name: str) -> None:
    client.create_table(TableName=name, **HASH_TABLE)


def item(pk: str, value: int, padding: int = 0) -> dict:
    return {"pk": {"S": pk}, "v": {"N": str(value)}, "pad": {"S": "x" * padding}}


def contents(client, tracked: dict[str, set[str]], scan: bool) -> dict:
    """Everything a node holds: its tables, their item counts, and every item (by Scan
    when every node has it, else by BatchGetItem over every key ever written)."""
    tables = sorted(client.list_tables()["TableNames"])
    return {
        name: (_item_count(client, name), _items(client, name, tracked.get(name, set()), scan))
        for name in tables
    }


def _item_count(client, name: str) -> int:
    return client.describe_table(TableName=name)["Table"]["ItemCount"]


def _items(client, name: str, keys: set[str], scan: bool = False) -> list:
    if scan:
        found = [row for page in client.get_paginator("scan").paginate(TableName=name) for row in page["Items"]]
    else:
        found = _batch_get(client, name, sorted(keys))
    return sorted(found, key=lambda row: row["pk"]["S"])


def _scans(client) -> bool:
    try:
        client.scan(TableName="no-such-table")
    except ClientError as error:
        return error.response["Error"]["Code"] != "UnknownOperationException"
    return True


def _batch_get(client, name: str, keys: list[str]) -> list:
    found = []
    for start in range(0, len(keys), 100):
        request = {name: {"Keys": [{"pk": {"S": k}} for k in keys[start : start + 100]]}}
        while request:
            reply = client.batch_get_item(RequestItems=request)
            found.extend(reply["Responses"].get(name, []))
            request = reply.get("UnprocessedKeys") or None
    return found


def assert_replicas_equal(cluster: Cluster, tracked: dict[str, set[str]]) -> None:
    cluster.wait_caught_up()
    clients = [client_for(node.url) for node in cluster.nodes]
    scan = all(_scans(client) for client in clients)
    expected = contents(clients[0], tracked, scan)
    for follower, client in zip(cluster.followers, clients[1:]):
        assert contents(client, tracked, scan) == expected, follower.url


def assert_nodes_hold(cluster: Cluster, model: dict[str, dict[str, dict]], prefix: str = "") -> None:
    """Every node holds exactly what was acknowledged: the model's tables (of those named
    ``prefix``...), each with the model's items (by full Scan) and item count. Comparing
    nodes with each other alone would pass a leader that acknowledged a write it never
    stored."""
    cluster.wait_caught_up()
    for node in cluster.nodes:
        client = client_for(node.url)
        tables = [name for name in client.list_tables()["TableNames"] if name.startswith(prefix)]
        assert sorted(tables) == sorted(model), node.url
        for name, items in model.items():
            assert _items(client, name, set(), scan=True) == sorted(items.values(), key=lambda row: row["pk"]["S"]), (
                node.url, name)
            assert _item_count(client, name) == len(items), (node.url, name)


def batch_write(client, table: str, rows: list[dict]) -> None:
    for start in range(0, len(rows), 25):
        request = {table: [{"PutRequest": {"Item": row}} for row in rows[start : start + 25]]}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = Cluster(tmp_path_factory.mktemp("replication")).start()
    yield running
    running.stop()


@pytest.fixture
def tracked() -> dict[str, set[str]]:
    return {}


def test_followers_serve_what_the_leader_wrote(cluster, table_name, tracked):
    leader = client_for(cluster.leader.url)
    create_table(leader, table_name)
    leader.put_item(TableName=table_name, Item=item("single", 1))
    batch_write(leader, table_name, [item(f"batch{i}", i, padding=100) for i in range(60)])
    leader.delete_item(TableName=table_name, Key={"pk": {"S": "batch7"}})
    tracked[table_name] = {"single", *(f"batch{i}" for i in range(60))}
    cluster.wait_caught_up()
    for follower in cluster.followers:
        reader = client_for(follower.url)
        assert reader.get_item(TableName=table_name, Key={"pk": {"S": "single"}})["Item"] == item("single", 1)
        assert "Item" not in reader.get_item(TableName=table_name, Key={"pk": {"S": "batch7"}})
        assert reader.describe_table(TableName=table_name)["Table"]["ItemCount"] == 60
    assert_replicas_equal(cluster, tracked)


def test_table_deletion_replicates(cluster, table_name):
    leader = client_for(cluster.leader.url)
    create_table(leader, table_name)
    leader.put_item(TableName=table_name, Item=item("a", 1))
    leader.delete_table(TableName=table_name)
    cluster.wait_caught_up()
    for follower in cluster.followers:
        assert table_name not in client_for(follower.url).list_tables()["TableNames"]


def test_writes_and_consistent_reads_sent_to_a_follower_go_to_the_leader(cluster, table_name):
    follower = client_for(cluster.followers[0].url)
    create_table(follower, table_name)
    follower.put_item(TableName=table_name, Item=item("via-follower", 5))
    answer = follower.get_item(TableName=table_name, Key={"pk": {"S": "via-follower"}}, ConsistentRead=True)
    assert answer["Item"] == item("via-follower", 5)
    leader_view = client_for(cluster.leader.url).get_item(TableName=table_name, Key={"pk": {"S": "via-follower"}})
    assert leader_view["Item"] == item("via-follower", 5)


def test_leader_errors_come_back_through_a_follower(cluster, table_name):
    follower = client_for(cluster.followers[1].url)
    create_table(follower, table_name)
    with pytest.raises(ClientError) as refused:
        create_table(follower, table_name)
    assert refused.value.response["Error"]["Code"] == "ResourceInUseException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_status_and_metrics_report_each_follower(cluster, table_name, tracked):
    leader = client_for(cluster.leader.url)
    create_table(leader, table_name)
    batch_write(leader, table_name, [item(f"m{i}", i) for i in range(30)])
    tracked[table_name] = {f"m{i}" for i in range(30)}
    last_lsn = cluster.wait_caught_up()
    status = replication_status(cluster.leader)
    assert status["role"] == "leader" and status["last_lsn"] == last_lsn
    names = sorted(f["name"] for f in status["followers"])
    assert names == sorted(f"127.0.0.1:{f.port}" for f in cluster.followers)
    for follower in status["followers"]:
        assert follower["applied_lsn"] == last_lsn
        assert follower["lsn_distance"] == follower["bytes_behind"] == 0
        assert follower["seconds_behind"] == 0
    leader_metrics = _text(cluster.leader.url + "/metrics")
    assert f'dynovault_replication_follower_applied_lsn{{follower="{names[0]}"}} {float(last_lsn)}' in leader_metrics
    assert f'dynovault_replication_lsn_distance{{follower="{names[0]}"}} 0.0' in leader_metrics
    assert "dynovault_replication_ack_lag_seconds_bucket" in leader_metrics
    follower_metrics = _text(cluster.followers[0].url + "/metrics")
    assert f"dynovault_replication_last_lsn {float(last_lsn)}" in follower_metrics
    assert 'dynovault_replication_role{role="follower"} 1.0' in follower_metrics
    assert "dynovault_replication_apply_lag_seconds_bucket" in follower_metrics
    assert "dynovault_replication_lag_seconds 0.0" in follower_metrics


def _text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain")
        return reply.read().decode()


def test_follower_killed_mid_stream_resumes_from_its_own_lsn(cluster, table_name, tracked):
    leader = client_for(cluster.leader.url)
    create_table(leader, table_name)
    victim = cluster.followers[0]
    writer = _BackgroundWriter(leader, table_name, tracked)
    writer.start()
    writer.wait_for(200)
    victim.kill()
    writer.wait_for(400)
    victim.start()
    writer.wait_for(600)
    writer.stop()
    assert_replicas_equal(cluster, tracked)
    assert "bootstrapping" not in victim.log_path.read_text()


def test_followers_resume_after_the_leader_is_killed_and_restarted(cluster, table_name, tracked):
    leader = client_for(cluster.leader.url)
    create_table(leader, table_name)
    batch_write(leader, table_name, [item(f"before{i}", i) for i in range(50)])
    cluster.leader.kill()
    cluster.leader.start()
    leader = client_for(cluster.leader.url)
    batch_write(leader, table_name, [item(f"after{i}", i) for i in range(50)])
    tracked[table_name] = {f"{when}{i}" for when in ("before", "after") for i in range(50)}
    assert_replicas_equal(cluster, tracked)
    for follower in cluster.followers:
        assert "bootstrapping" not in follower.log_path.read_text()


class _BackgroundWriter:
    """Puts items as fast as one client can until stopped or refused, recording each
    key the server acknowledged."""

    def __init__(self, client, table: str, tracked: dict[str, set[str]]) -> None:
        self.client, self.table = client, table
        self.keys = tracked.setdefault(table, set())
        self.count = 0
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            pk = f"w{self.count}"
            try:
                self.client.put_item(TableName=self.table, Item=item(pk, self.count, padding=200))
            except (ClientError, BotoCoreError):
                return
            self.keys.add(pk)
            with self._progress:
                self.count += 1
                self._progress.notify_all()

    def wait_for(self, count: int) -> None:
        with self._progress:
            assert self._progress.wait_for(lambda: self.count >= count, timeout=60)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def wait_refused(self) -> None:
        self._thread.join(timeout=60)
        assert not self._thread.is_alive()


def test_sync_mode_refuses_clearly_when_replicas_do_not_acknowledge(tmp_path):
    lonely = Cluster(tmp_path, follower_count=0, leader_args=["--sync-replicas", "1", "--sync-timeout", "0.3"])
    lonely.start()
    try:
        client = _client_without_retries(lonely.leader.url)
        with pytest.raises(ClientError) as refused:
            create_table(client, "sync-table")
        error = refused.value.response["Error"]
        assert error["Code"] == "ServiceUnavailable"
        assert "fewer than 1 replicas acknowledged it within 0.3 seconds" in error["Message"]
        follower = lonely.start_follower("late-follower")
        lonely.followers.append(follower)
        lonely.wait_caught_up()
        client.put_item(TableName="sync-table", Item=item("acked", 1))
        assert client_for(follower.url).get_item(TableName="sync-table", Key={"pk": {"S": "acked"}})["Item"]
    finally:
        lonely.stop()


def _client_without_retries(url: str):
    """botocore retries ServiceUnavailable by itself; these tests must see the first answer."""
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                        config=Config(retries={"total_max_attempts": 1}))


def test_promotion_after_leader_kill_loses_no_acknowledged_write(tmp_path, tracked):
    sync = Cluster(tmp_path, leader_args=["--sync-replicas", "2"]).start()
    try:
        old_leader = sync.leader
        client = client_for(old_leader.url)
        create_table(client, "promoted")
        writer = _BackgroundWriter(client, "promoted", tracked)
        writer.start()
        writer.wait_for(150)
        old_leader.kill()
        writer.wait_refused()
        acknowledged = set(tracked["promoted"])
        new_leader, other = sync.followers
        _leaderless_follower_reads_but_refuses_writes(other, sorted(acknowledged)[0])
        promoted = subprocess.run(
            [sys.executable, "-m", "dynovault", "promote", new_leader.url, "--followers", other.url],
            capture_output=True, text=True, check=True,
        )
        assert f"{new_leader.url}: leader, epoch 2" in promoted.stdout
        new_client = client_for(new_leader.url)
        held = {row["pk"]["S"] for row in _items(new_client, "promoted", acknowledged)}
        assert acknowledged <= held
        new_client.put_item(TableName="promoted", Item=item("after-promotion", 1))
        tracked["promoted"].add("after-promotion")
        sync.leader, sync.followers = new_leader, [other]
        assert replication_status(new_leader)["epoch"] == 2
        assert_replicas_equal(sync, tracked)
        _old_leader_is_fenced(sync, old_leader)
        _old_leader_rejoins_as_follower(sync, old_leader, tracked)
    finally:
        sync.stop()


def _leaderless_follower_reads_but_refuses_writes(follower, key: str) -> None:
    client = _client_without_retries(follower.url)
    assert client.get_item(TableName="promoted", Key={"pk": {"S": key}})["Item"]["pk"]["S"] == key
    with pytest.raises(ClientError) as refused:
        client.put_item(TableName="promoted", Item=item("no-leader", 1))
    assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert "could not reach its leader" in refused.value.response["Error"]["Message"]


def _old_leader_is_fenced(sync: Cluster, old_leader) -> None:
    """The old leader comes back believing it leads; a follower that knows the new epoch
    refuses its history, and the old leader stops taking writes."""
    old_leader.start()
    follower = sync.followers[0]
    post_json(follower.url + "/admin/follow", {"leader": old_leader.url})
    _wait(lambda: replication_status(old_leader)["fenced_by_epoch"] == 2)
    assert replication_status(follower)["connected"] == 0
    with pytest.raises(ClientError) as refused:
        _client_without_retries(old_leader.url).put_item(TableName="promoted", Item=item("diverging", 1))
    assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
    post_json(follower.url + "/admin/follow", {"leader": sync.leader.url})


def _old_leader_rejoins_as_follower(sync: Cluster, old_leader, tracked) -> None:
    post_json(old_leader.url + "/admin/follow", {"leader": sync.leader.url})
    sync.followers.append(old_leader)
    assert_replicas_equal(sync, tracked)
    assert replication_status(old_leader)["epoch"] == 2


def test_follower_down_past_retention_bootstraps_again(tmp_path, tracked):
    small_log = Cluster(tmp_path, follower_count=1, leader_args=["--log-retention-bytes", "4096"]).start()
    try:
        client = client_for(small_log.leader.url)
        create_table(client, "retained")
        small_log.wait_caught_up()
        follower = small_log.followers[0]
        follower.kill()
        batch_write(client, "retained", [item(f"r{i}", i, padding=300) for i in range(100)])
        tracked["retained"] = {f"r{i}" for i in range(100)}
        _wait(lambda: replication_status(small_log.leader)["oldest_lsn"] > 2)
        follower.start()
        assert_replicas_equal(small_log, tracked)
        assert "bootstrapping" in follower.log_path.read_text()
    finally:
        small_log.stop()


def test_followers_pointed_at_each_other_refuse_instead_of_looping(tmp_path):
    pair = Cluster(tmp_path, follower_count=0).start()
    try:
        first = pair.start_follower("first")
        second = pair.start_follower("second")
        pair.followers = [first, second]
        post_json(first.url + "/admin/follow", {"leader": second.url})
        post_json(second.url + "/admin/follow", {"leader": first.url})
        with pytest.raises(ClientError) as refused:
            create_table(_client_without_retries(first.url), "looped")
        error = refused.value.response["Error"]
        assert error["Code"] == "ServiceUnavailable"
        assert f"forwarded by 127.0.0.1:{first.port}, which also is not the leader" in error["Message"]
    finally:
        pair.stop()


def test_admin_follow_rejects_a_malformed_body(cluster):
    with pytest.raises(urllib.error.HTTPError) as refused:
        post_json(cluster.followers[0].url + "/admin/follow", {"leader": 5})
    assert refused.value.code == 400


def _wait(condition, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_status_endpoint_is_json(cluster):
    assert get_json(cluster.followers[0].url + "/replication/status")["role"] == "follower"
