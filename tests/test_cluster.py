"""Cluster mode on real etcd processes: leadership is an etcd lease, followers find the
leader in etcd, a killed or paused leader is replaced by the most up-to-date follower
without operator action, and nothing acknowledged is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dynovault.signing import PeerCredentials
from dynovault.testing.cluster import ElectedCluster, replication_status
from dynovault.testing.etcd import EtcdCluster, etcd_available
from dynovault.testing.writers import AnyNodeWriter
from tests.test_failover import start_refused
from tests.test_replication import _client_without_retries, create_table, item

pytestmark = pytest.mark.skipif(not etcd_available(), reason="etcd is not installed (Debian: etcd-server)")

SYNC = ["--sync-replicas", "1", "--sync-timeout", "10"]


def wait_for(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)
    return found


def keys_on(node, table: str, keys: set[str]) -> set[str]:
    client = _client_without_retries(node.url)
    held = set()
    ordered = sorted(keys)
    for start in range(0, len(ordered), 100):
        request = {table: {"Keys": [{"pk": {"S": k}} for k in ordered[start:start + 100]], "ConsistentRead": False}}
        while request:
            reply = client.batch_get_item(RequestItems=request)
            held |= {row["pk"]["S"] for row in reply["Responses"].get(table, [])}
            request = reply.get("UnprocessedKeys") or None
    return held


def write_until_acknowledged(url: str, table: str, pk: str, timeout: float = 60.0) -> None:
    """Retry one put until a node acknowledges it (503s while the cluster elects)."""
    client = _client_without_retries(url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.put_item(TableName=table, Item=item(pk, 1))
            return
        except (ClientError, BotoCoreError):
            assert time.monotonic() < deadline, f"{pk} never acknowledged"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    running = EtcdCluster(tmp_path_factory.mktemp("etcd")).start()
    yield running
    running.stop()


@pytest.fixture
def cluster(etcd, tmp_path, request):
    running = ElectedCluster(tmp_path, etcd.url, name=request.node.name[:40], node_args=SYNC).start()
    yield running
    running.stop()


def test_one_leader_is_elected_and_every_node_serves_writes(cluster):
    leader = cluster.wait_leader()
    statuses = cluster.statuses()
    assert {s["epoch"] for s in statuses.values()} == {statuses[leader.port]["epoch"]}
    assert sum(s["holds_leader_lease"] for s in statuses.values()) == 1
    follower = next(node for node in cluster.nodes if node is not leader)
    client = _client_without_retries(follower.url)
    create_table(client, "elected")
    client.put_item(TableName="elected", Item=item("through-follower", 1))
    assert replication_status(leader)["lease_remaining_seconds"] > 0
    assert set(keys_on(leader, "elected", {"through-follower"})) == {"through-follower"}


def test_a_killed_leader_is_replaced_and_loses_nothing(cluster):
    leader = cluster.wait_leader()
    create_table(_client_without_retries(leader.url), "killed")
    acknowledged = {f"before{i}" for i in range(20)}
    for pk in sorted(acknowledged):
        write_until_acknowledged(leader.url, "killed", pk)
    epoch = replication_status(leader)["epoch"]
    leader.kill()
    survivors = [node for node in cluster.nodes if node is not leader]
    new_leader = cluster.wait_leader(survivors)
    assert replication_status(new_leader)["epoch"] > epoch
    write_until_acknowledged(survivors[0].url, "killed", "after")
    acknowledged.add("after")
    leader.start()
    cluster.wait_leader()
    for node in cluster.nodes:
        wait_for(lambda node=node: keys_on(node, "killed", acknowledged) == acknowledged)
    assert replication_status(leader)["role"] == "follower"


def test_a_paused_leader_acknowledges_nothing_after_its_lease(cluster):
    leader = cluster.wait_leader()
    create_table(_client_without_retries(leader.url), "paused")
    write_until_acknowledged(leader.url, "paused", "before")
    leader.process.send_signal(signal.SIGSTOP)
    answers: list = []
    sent = threading.Thread(target=lambda: answers.append(_put_answer(leader.url, "paused", "sent-while-paused")))
    sent.start()
    try:
        survivors = [node for node in cluster.nodes if node is not leader]
        new_leader = cluster.wait_leader(survivors)
        elected_at = time.time()
        write_until_acknowledged(new_leader.url, "paused", "after")
    finally:
        leader.process.send_signal(signal.SIGCONT)
    sent.join(timeout=60)
    assert answers and answers[0] != "acknowledged", answers
    cluster.wait_leader()
    assert replication_status(leader)["role"] == "follower"
    old_epoch_acks = [at for epoch, _, at, index in cluster.acknowledgements()
                      if cluster.nodes[index] is leader and at > elected_at]
    assert old_epoch_acks == []


def _put_answer(url: str, table: str, pk: str) -> str:
    try:
        _client_without_retries(url).put_item(TableName=table, Item=item(pk, 1))
    except ClientError as error:
        return error.response["Error"]["Code"]
    except BotoCoreError as error:
        return type(error).__name__
    return "acknowledged"


def test_without_a_node_holding_every_acknowledged_write_the_cluster_stays_read_only(cluster):
    leader = cluster.wait_leader()
    create_table(_client_without_retries(leader.url), "guarded")
    write_until_acknowledged(leader.url, "guarded", "everywhere")
    holder, lagging = [node for node in cluster.nodes if node is not leader]
    cluster.wait_leader()
    lagging.kill()
    write_until_acknowledged(leader.url, "guarded", "only-on-holder")
    leader.kill()
    holder.kill()
    lagging.start()
    reason = wait_for(lambda: replication_status(lagging).get("read_only_reason"))
    assert "no live node holds every acknowledged write" in reason
    with pytest.raises(ClientError) as refused:
        _client_without_retries(lagging.url).put_item(TableName="guarded", Item=item("refused", 1))
    assert "no live node holds every acknowledged write" in refused.value.response["Error"]["Message"]
    assert keys_on(lagging, "guarded", {"everywhere"}) == {"everywhere"}
    status = wait_for(lambda: _said(cluster_status(cluster), "read-only: no live node holds every acknowledged write"))
    assert "no leader" in status.splitlines()[0]
    holder.start()
    new_leader = cluster.wait_leader([holder, lagging])
    assert new_leader is holder
    wait_for(lambda: keys_on(lagging, "guarded", {"everywhere", "only-on-holder"}) == {"everywhere", "only-on-holder"})


def test_a_three_member_etcd_keeps_the_cluster_through_the_loss_of_one(tmp_path):
    etcd = EtcdCluster(tmp_path / "etcd", size=3).start()
    cluster = ElectedCluster(tmp_path / "nodes", etcd.url, node_args=SYNC).start()
    try:
        leader = cluster.wait_leader()
        create_table(_client_without_retries(leader.url), "quorum")
        etcd.members[0].kill()
        for i in range(20):
            write_until_acknowledged(leader.url, "quorum", f"k{i}")
        leader.kill()
        new_leader = cluster.wait_leader([node for node in cluster.nodes if node is not leader])
        write_until_acknowledged(new_leader.url, "quorum", "after")
        assert keys_on(new_leader, "quorum", {f"k{i}" for i in range(20)} | {"after"}) == (
            {f"k{i}" for i in range(20)} | {"after"}
        )
    finally:
        cluster.stop()
        etcd.stop()


def test_cluster_status_prints_members_roles_epochs_and_lag(cluster, etcd):
    leader = cluster.wait_leader()
    create_table(_client_without_retries(leader.url), "listed")
    write_until_acknowledged(leader.url, "listed", "one")
    epoch = replication_status(leader)["epoch"]
    status = cluster_status(cluster)
    lines = status.splitlines()
    assert lines[0] == f"cluster {cluster.name}: leader 127.0.0.1:{leader.port} ({leader.url}), epoch {epoch}"
    assert "acknowledged through LSN" in status
    assert lines[2].split() == ["NAME", "URL", "ROLE", "EPOCH", "APPLIED", "LSN", "LAG", "STREAMING"]
    rows = {line.split()[0]: line.split() for line in lines[3:]}
    assert set(rows) == {f"127.0.0.1:{node.port}" for node in cluster.nodes}
    assert rows[f"127.0.0.1:{leader.port}"][2:4] == ["leader", str(epoch)]
    assert sorted(row[2] for row in rows.values()) == ["follower", "follower", "leader"]


def test_a_follower_that_lost_its_leader_reports_growing_lag(cluster):
    leader = cluster.wait_leader()
    follower = next(node for node in cluster.nodes if node is not leader)
    for node in cluster.nodes:
        if node is not follower:
            node.kill()
    first = wait_for(lambda: _status_when(follower, lambda s: not s["connected"]))
    assert first["connected"] is False and first["lag_seconds"] > 0
    later = wait_for(lambda: _status_when(follower, lambda s: s["lag_seconds"] > first["lag_seconds"] + 0.5))
    assert later["connected"] is False
    metrics = urllib.request.urlopen(follower.url + "/metrics", timeout=10).read().decode()
    assert "dynovault_replication_connected 0.0" in metrics
    assert "dynovault_replication_holds_leader_lease 0.0" in metrics
    assert "dynovault_replication_lease_remaining_seconds" in metrics


def cluster_status(cluster: ElectedCluster) -> str:
    """What ``dynovault cluster status`` prints about ``cluster``."""
    return subprocess.run([sys.executable, "-m", "dynovault", "cluster", "status", "--cluster", cluster.etcd_url,
                           "--cluster-name", cluster.name], capture_output=True, text=True, check=True).stdout


def _said(text: str, words: str) -> str | None:
    return text if words in text else None


def _status_when(node, condition) -> dict | None:
    status = replication_status(node)
    return status if condition(status) else None


# ---- the failover campaign ---------------------------------------------------------------

ROUNDS = int(os.environ.get("DYNOVAULT_FAILOVER_ROUNDS", "5"))
PAUSES = int(os.environ.get("DYNOVAULT_FAILOVER_PAUSES", "1"))
WRITERS = int(os.environ.get("DYNOVAULT_FAILOVER_WRITERS", "4"))


def _scan(node, table: str) -> list:
    client = _client_without_retries(node.url)
    return sorted((row for page in client.get_paginator("scan").paginate(TableName=table) for row in page["Items"]),
                  key=lambda row: row["pk"]["S"])


def _disrupt(cluster: ElectedCluster, pause: bool) -> None:
    """Kill -9 (or pause past its lease) the current leader, wait for the others to elect
    and follow a new one, then bring the old one back and wait until it follows too."""
    leader = cluster.wait_leader()
    others = [node for node in cluster.nodes if node is not leader]
    if pause:
        leader.process.send_signal(signal.SIGSTOP)
        try:
            cluster.wait_leader(others)
        finally:
            leader.process.send_signal(signal.SIGCONT)
    else:
        leader.kill()
        cluster.wait_leader(others)
        leader.start()
    cluster.wait_leader()


def test_failover_campaign_loses_no_acknowledged_write(cluster):
    leader = cluster.wait_leader()
    create_table(_client_without_retries(leader.url), "campaign")
    stop = threading.Event()
    writers = [AnyNodeWriter([node.url for node in cluster.nodes], "campaign", w, stop).start() for w in range(WRITERS)]
    try:
        for disruption in [False] * ROUNDS + [True] * PAUSES:
            _disrupt(cluster, pause=disruption)
            progress = sum(len(writer.acknowledged) for writer in writers)
            wait_for(lambda: sum(len(writer.acknowledged) for writer in writers) > progress + 20)
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    acknowledged = {pk for writer in writers for pk, _, _ in writer.acknowledged}
    leader = cluster.wait_leader()
    target = replication_status(leader)["last_lsn"]
    for node in cluster.nodes:
        wait_for(lambda node=node: replication_status(node)["last_lsn"] == target)
    scans = [_scan(node, "campaign") for node in cluster.nodes]
    assert acknowledged <= {row["pk"]["S"] for row in scans[0]}
    assert scans[1] == scans[0] and scans[2] == scans[0]
    _assert_no_overlapping_acknowledgements(cluster.acknowledgements())


def _assert_no_overlapping_acknowledgements(acks: list[tuple[int, int, float, int]]) -> None:
    """Each epoch was acknowledged by one node, and every acknowledgement of an epoch came
    before the first of any later epoch: no node acknowledged while another led."""
    by_epoch: dict[int, list[tuple[float, int, int]]] = {}
    for epoch, lsn, at, node in acks:
        by_epoch.setdefault(epoch, []).append((at, lsn, node))
    epochs = sorted(by_epoch)
    assert len(epochs) >= 2
    for epoch in epochs:
        assert len({node for _, _, node in by_epoch[epoch]}) == 1, epoch
    for earlier, later in zip(epochs, epochs[1:]):
        assert max(by_epoch[earlier])[0] < min(by_epoch[later])[0], (earlier, later)


def test_a_cluster_node_restarted_with_the_wrong_flags_is_refused(cluster, etcd):
    leader = cluster.wait_leader()
    create_table(_client_without_retries(leader.url), "flags")
    write_until_acknowledged(leader.url, "flags", "kept")
    leader.stop()
    for args in ([], ["--role", "leader"], ["--cluster", etcd.url, "--cluster-name", "another"],
                 ["--cluster", etcd.url, "--cluster-name", cluster.name, "--role", "leader"]):
        refused = start_refused(leader.data_dir, args)
        assert refused.returncode == 2, (args, refused.stderr)
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    leader.start()
    cluster.wait_leader()
    assert keys_on(leader, "flags", {"kept"}) == {"kept"}


def test_signed_cluster_elects_forwards_and_fails_over(etcd, tmp_path):
    """With --credentials-file on every node, followers stream from and forward to the
    elected leader only once it proves it holds the cluster's credentials."""
    credentials = PeerCredentials("AKIDCLUSTER", "cluster/secret")
    secrets = tmp_path / "credentials"
    secrets.write_text(f"{credentials.key_id} {credentials.secret}\n")
    signed = ElectedCluster(tmp_path / "nodes", etcd.url, name="signed", credentials=credentials,
                            node_args=[*SYNC, "--credentials-file", str(secrets)]).start()
    try:
        leader = signed.wait_leader()
        follower = next(node for node in signed.nodes if node is not leader)
        client = boto3.client("dynamodb", endpoint_url=follower.url, region_name="us-east-1",
                              aws_access_key_id=credentials.key_id, aws_secret_access_key=credentials.secret,
                              config=Config(retries={"total_max_attempts": 1}))
        create_table(client, "signed")
        client.put_item(TableName="signed", Item=item("through-follower", 1))
        leader.kill()
        new_leader = signed.wait_leader([node for node in signed.nodes if node is not leader])
        survivor = next(node for node in signed.nodes if node not in (leader, new_leader))
        client = boto3.client("dynamodb", endpoint_url=survivor.url, region_name="us-east-1",
                              aws_access_key_id=credentials.key_id, aws_secret_access_key=credentials.secret,
                              config=Config(retries={"total_max_attempts": 1}))
        wait_for(lambda: _signed_put(client))
        stored = client.get_item(TableName="signed", Key={"pk": {"S": "through-follower"}}, ConsistentRead=True)
        assert stored["Item"]["pk"]["S"] == "through-follower"
    finally:
        signed.stop()


def _signed_put(client) -> bool:
    try:
        client.put_item(TableName="signed", Item=item("after-failover", 2))
    except ClientError:
        return False
    return True
