"""Failover that cannot lose or fork data, with real processes: a data directory keeps its
role and lineage across restarts, a node whose history forked never streams on, and what a
re-bootstrap has to discard is kept, logged and counted."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from botocore.exceptions import ClientError

from dynovault.testing.cluster import Cluster, post_json, replication_status
from dynovault.testing.processes import ServerProcess
from tests.conftest import client_for
from tests.test_replication import _client_without_retries, assert_nodes_hold, assert_replicas_equal, create_table, item


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def refused_write(url: str, table: str, pk: str) -> dict:
    with pytest.raises(ClientError) as refused:
        _client_without_retries(url).put_item(TableName=table, Item=item(pk, 1))
    return refused.value.response["Error"]


def start_refused(data_dir: Path, args: list[str]) -> subprocess.CompletedProcess:
    """Run ``dynovault serve`` expecting it to refuse to start."""
    argv = [sys.executable, "-m", "dynovault", "serve", "--data-dir", str(data_dir), "--port", "1", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def discarded_files(server: ServerProcess) -> list[Path]:
    return sorted((server.data_dir / "discarded-records").glob("*.jsonl"))


def discarded_keys(server: ServerProcess) -> set[str]:
    keys = set()
    for path in discarded_files(server):
        for line in path.read_text().splitlines():
            record = orjson.loads(line)
            if record.get("item"):
                keys.add(record["item"]["pk"]["S"])
    return keys


def metric(server: ServerProcess, name: str) -> float:
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


@pytest.fixture
def pair(tmp_path):
    running = Cluster(tmp_path, follower_count=1).start()
    yield running
    running.stop()


def restart_follower(pair: Cluster, table: str, first_key: str, args: list[str]) -> ServerProcess:
    """Write to a new table, then restart the caught-up follower with ``args`` instead of
    its original command line."""
    leader = client_for(pair.leader.url)
    create_table(leader, table)
    leader.put_item(TableName=table, Item=item(first_key, 1))
    follower = pair.followers[0]
    pair.wait_caught_up()
    follower.stop()
    follower.extra_args = args
    return follower.start()


def test_a_follower_restarted_without_its_role_stays_a_follower(pair, tracked):
    leader = client_for(pair.leader.url)
    follower = restart_follower(pair, "kept", "first", [])
    status = replication_status(follower)
    assert status["role"] == "follower" and status["leader"] == pair.leader.url
    client_for(follower.url).put_item(TableName="kept", Item=item("through-follower", 2))
    leader.put_item(TableName="kept", Item=item("on-leader", 3))
    tracked["kept"] = {"first", "through-follower", "on-leader"}
    assert_replicas_equal(pair, tracked)


def test_a_follower_started_as_leader_is_refused_in_one_line(pair):
    follower = pair.followers[0]
    pair.wait_caught_up()
    follower.stop()
    refused = start_refused(follower.data_dir, ["--role", "leader"])
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "was a follower" in refused.stderr and "--force-role" in refused.stderr


def test_a_forced_leader_refuses_writes_until_promoted(pair, tracked):
    leader = client_for(pair.leader.url)
    follower = restart_follower(pair, "forced", "shared", ["--role", "leader", "--force-role"])
    assert "until it is promoted" in refused_write(follower.url, "forced", "too-early")["Message"]
    follower.stop()
    follower.start()
    assert "until it is promoted" in refused_write(follower.url, "forced", "still-too-early")["Message"]
    post_json(follower.url + "/admin/follow", {"leader": pair.leader.url})
    leader.put_item(TableName="forced", Item=item("later", 2))
    tracked["forced"] = {"shared", "later"}
    assert_replicas_equal(pair, tracked)
    assert discarded_files(follower) == []


def test_two_nodes_promoted_at_the_same_epoch_and_lsn_are_told_apart(tmp_path, tracked):
    """Both followers promoted by mistake: same epoch, same first LSN, different records.
    Comparing epochs alone would let one stream on from the other."""
    trio = Cluster(tmp_path).start()
    try:
        leader = client_for(trio.leader.url)
        create_table(leader, "twins")
        leader.put_item(TableName="twins", Item=item("shared", 1))
        trio.wait_caught_up()
        trio.leader.kill()
        first, second = trio.followers
        for node, key in ((first, "from-first"), (second, "from-second")):
            assert replication_status(node)["epoch"] == 1
            post_json(node.url + "/admin/promote", {})
            client_for(node.url).put_item(TableName="twins", Item=item(key, 2))
        assert replication_status(first)["epoch"] == replication_status(second)["epoch"] == 2
        assert replication_status(first)["last_lsn"] == replication_status(second)["last_lsn"]
        post_json(second.url + "/admin/follow", {"leader": first.url})
        trio.leader, trio.followers = first, [second]
        tracked["twins"] = {"shared", "from-first", "from-second"}
        assert_replicas_equal(trio, tracked)
        assert discarded_keys(second) == {"from-second"}
    finally:
        trio.stop()


def test_an_old_leader_restarted_with_its_command_loses_nothing_silently(tmp_path, tracked):
    trio = Cluster(tmp_path).start()
    try:
        old_leader = trio.leader
        leader = client_for(old_leader.url)
        create_table(leader, "story")
        leader.put_item(TableName="story", Item=item("before", 1))
        trio.wait_caught_up()
        old_leader.kill()
        new_leader, other = trio.followers
        subprocess.run([sys.executable, "-m", "dynovault", "promote", new_leader.url, "--followers", other.url],
                       capture_output=True, text=True, check=True)
        client_for(new_leader.url).put_item(TableName="story", Item=item("after", 2))
        old_leader.start()
        # Alone, the old leader cannot know it was replaced: what it acknowledges now is
        # kept when it rejoins.
        client_for(old_leader.url).put_item(TableName="story", Item=item("orphan", 3))
        post_json(other.url + "/admin/follow", {"leader": old_leader.url})
        wait_for(lambda: replication_status(old_leader)["fenced_by_epoch"] == 2)
        post_json(other.url + "/admin/follow", {"leader": new_leader.url})
        old_leader.stop()
        old_leader.start()
        assert replication_status(old_leader)["fenced_by_epoch"] == 2
        assert "no longer the leader" in refused_write(old_leader.url, "story", "after-restart")["Message"]
        post_json(old_leader.url + "/admin/follow", {"leader": new_leader.url})
        trio.leader, trio.followers = new_leader, [other, old_leader]
        tracked["story"] = {"before", "after", "orphan"}
        assert_replicas_equal(trio, tracked)
        assert discarded_keys(old_leader) == {"orphan"}
        assert metric(old_leader, "dynovault_replication_discarded_records_total") >= 1
    finally:
        trio.stop()


@pytest.fixture
def tracked() -> dict[str, set[str]]:
    return {}


def test_a_follower_killed_during_its_bootstrap_catches_up_while_writes_go_on(tmp_path):
    solo = Cluster(tmp_path, follower_count=0).start()
    try:
        leader = client_for(solo.leader.url)
        create_table(leader, "bulk")
        model = {"bulk": {}}
        for start in range(0, 2000, 25):
            rows = [item(f"bulk{i}", i, padding=8000) for i in range(start, start + 25)]
            leader.batch_write_item(RequestItems={"bulk": [{"PutRequest": {"Item": row}} for row in rows]})
            model["bulk"].update((row["pk"]["S"], row) for row in rows)
        stop = threading.Event()
        writer = threading.Thread(target=_write_into, args=(solo.leader.url, model["bulk"], stop))
        writer.start()
        try:
            follower = solo.start_follower("late")
            solo.followers.append(follower)
            wait_for(lambda: "bootstrapping" in follower.log_path.read_text(), timeout=30)
            follower.kill()
            follower.start()
        finally:
            stop.set()
            writer.join(timeout=60)
        assert_nodes_hold(solo, model)
        # A download cut short by the kill is removed by the next bootstrap.
        assert list(tmp_path.glob(".late.bootstrap-*")) == []
    finally:
        solo.stop()


def _write_into(url: str, items: dict, stop: threading.Event) -> None:
    """Put and overwrite keys on the leader until stopped, keeping ``items`` as acknowledged."""
    client = client_for(url)
    count = 0
    while not stop.is_set():
        row = item(f"live{count % 50}", count)
        client.put_item(TableName="bulk", Item=row)
        items[row["pk"]["S"]] = row
        count += 1


def test_a_leader_restarted_with_the_wrong_flags_is_refused_or_harmless(pair, tracked):
    leader = client_for(pair.leader.url)
    create_table(leader, "leader-flags")
    leader.put_item(TableName="leader-flags", Item=item("kept", 1))
    pair.wait_caught_up()
    pair.leader.stop()
    follower_url = pair.followers[0].url
    for args in (["--role", "follower", "--leader", follower_url], ["--role", "follower"], ["--leader", follower_url]):
        refused = start_refused(pair.leader.data_dir, args)
        assert refused.returncode == 2, (args, refused.stderr)
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    pair.leader.extra_args = []
    pair.leader.start()
    assert replication_status(pair.leader)["role"] == "leader"
    client_for(pair.leader.url).put_item(TableName="leader-flags", Item=item("after", 2))
    tracked["leader-flags"] = {"kept", "after"}
    assert_replicas_equal(pair, tracked)
