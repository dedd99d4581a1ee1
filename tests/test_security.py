"""A cluster started with ``--credentials-file`` on every node, attacked the way someone
on the same network would: every endpoint but ``/health`` refuses unsigned requests, a
follower trusts only a leader that proves it holds the cluster's credentials, and peers'
claims count only when signed. Beside each attack, the same request signed succeeds; and
the cluster itself replicates, bootstraps and fails over with authentication on."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import aiohttp
import boto3
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from dynovault.signing import PeerCredentials
from dynovault.testing.cluster import Cluster, get_json, post_json, replication_status
from tests.test_auth import client as signed_client
from tests.test_replication_trust import (
    HASH_TABLE,
    BackgroundLoop,
    FakeFollower,
    FakeLeader,
    encode_checkpoint,
    wait_for,
)

CLUSTER_KEY, CLUSTER_SECRET = "AKIDCLUSTER", "cluster/secret"
OTHER_KEY, OTHER_SECRET = "AKIDOTHER", "other+secret"
CLUSTER = PeerCredentials(CLUSTER_KEY, CLUSTER_SECRET)
OTHER = PeerCredentials(OTHER_KEY, OTHER_SECRET)
OUTSIDER = PeerCredentials("AKIDOUTSIDER", "not-in-the-file")


@pytest.fixture(scope="module")
def credentials_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("credentials") / "credentials"
    path.write_text(f"{CLUSTER_KEY} {CLUSTER_SECRET}\n{OTHER_KEY} {OTHER_SECRET}\n")
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, credentials_file):
    """A leader and one follower, both verifying signatures with the same file."""
    secured = Cluster(
        tmp_path_factory.mktemp("secured"), follower_count=1, credentials=CLUSTER,
        leader_args=["--credentials-file", str(credentials_file)],
        follower_args=["--credentials-file", str(credentials_file)],
    ).start()
    client = ddb(secured.leader.url)
    client.create_table(TableName="kept", **HASH_TABLE)
    client.put_item(TableName="kept", Item={"pk": {"S": "precious"}})
    secured.wait_caught_up()
    yield secured
    secured.stop()


@pytest.fixture(scope="module")
def background():
    loop = BackgroundLoop()
    yield loop
    loop.close()


def ddb(url: str):
    return signed_client(url, CLUSTER_KEY, CLUSTER_SECRET)


def unsigned(method: str, url: str, body: bytes | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, orjson.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def signed_status(method: str, url: str, credentials: PeerCredentials, body: bytes = b"") -> int:
    headers = credentials.sign(method, url, body, {"Content-Type": "application/json"}).headers
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def assert_missing_token(answer: tuple[int, dict]) -> None:
    status, body = answer
    assert status == 400, body
    assert body["__type"].endswith("#MissingAuthenticationTokenException")


# ---- the cluster works with authentication on ------------------------------------------


def test_followers_replicate_and_bootstrap_with_signatures_verified(cluster):
    follower = cluster.followers[0]
    assert "Item" in ddb(follower.url).get_item(TableName="kept", Key={"pk": {"S": "precious"}})
    ddb(follower.url).put_item(TableName="kept", Item={"pk": {"S": "through-the-follower"}})
    cluster.wait_caught_up()
    assert "Item" in ddb(follower.url).get_item(TableName="kept", Key={"pk": {"S": "through-the-follower"}})
    late = cluster.start_follower(f"late-{uuid.uuid4().hex[:6]}")
    try:
        cluster.wait_caught_up(followers=[late])
        assert "bootstrapping" in late.log_path.read_text()
        assert "Item" in ddb(late.url).get_item(TableName="kept", Key={"pk": {"S": "through-the-follower"}})
    finally:
        late.stop()


def test_failover_with_signed_promote(tmp_path, credentials_file):
    pair = Cluster(tmp_path, follower_count=1, credentials=CLUSTER,
                   leader_args=["--credentials-file", str(credentials_file)],
                   follower_args=["--credentials-file", str(credentials_file)]).start()
    try:
        ddb(pair.leader.url).create_table(TableName="failover", **HASH_TABLE)
        pair.wait_caught_up()
        pair.leader.kill()
        (follower,) = pair.followers
        promote = [sys.executable, "-m", "dynovault", "promote", follower.url]
        refused = subprocess.run(promote, capture_output=True, text=True)
        assert refused.returncode == 1
        assert "MissingAuthenticationTokenException" in refused.stderr
        promoted = subprocess.run([*promote, "--credentials-file", str(credentials_file)],
                                  capture_output=True, text=True, check=True)
        assert f"{follower.url}: leader, epoch 2" in promoted.stdout
        ddb(follower.url).put_item(TableName="failover", Item={"pk": {"S": "after"}})
    finally:
        pair.stop()


# ---- nothing but /health answers unsigned requests -------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/replication/status", None),
    ("GET", "/replication/checkpoint", None),
    ("POST", "/admin/promote", b"{}"),
    ("GET", "/metrics", None),
    ("POST", "/push", b'{"push_source_name": "s", "df": {}}'),
    ("POST", "/write-to-online-store", b'{"feature_view_name": "v", "df": {}}'),
    ("POST", "/get-online-features", b'{"features": [], "entities": {}}'),
])
def test_unsigned_requests_are_refused_and_signed_ones_answered(cluster, method, path, body):
    url = cluster.leader.url + path
    assert_missing_token(unsigned(method, url, body))
    # The control: signed, the route itself answers (feature routes: no definitions here).
    expected = 503 if path in ("/push", "/write-to-online-store", "/get-online-features") else 200
    assert signed_status(method, url, CLUSTER, body or b"") == expected


def test_health_stays_open(cluster):
    assert unsigned("GET", cluster.leader.url + "/health")[0] == 200


def test_a_key_outside_the_file_is_refused(cluster):
    assert signed_status("GET", cluster.leader.url + "/replication/status", OUTSIDER) == 400
    assert signed_status("GET", cluster.leader.url + "/replication/status", OTHER) == 200


def test_unsigned_admin_follow_cannot_point_a_follower_elsewhere(cluster, background, tmp_path):
    follower = cluster.followers[0]
    fake = FakeLeader(background).start()
    try:
        body = orjson.dumps({"leader": fake.url})
        assert_missing_token(unsigned("POST", follower.url + "/admin/follow", body))
        assert replication_status(follower, CLUSTER)["leader"] == cluster.leader.url
    finally:
        fake.stop()


def test_a_follower_refuses_a_leader_that_cannot_prove_the_credentials(tmp_path, credentials_file,
                                                                      background):
    """Even pointed at it by a signed admin call, a follower neither bootstraps from nor
    forwards writes to a leader that does not hold the cluster's secret."""
    pair = Cluster(tmp_path, follower_count=1, credentials=CLUSTER,
                   leader_args=["--credentials-file", str(credentials_file)],
                   follower_args=["--credentials-file", str(credentials_file)]).start()
    fake = FakeLeader(background).start()
    try:
        ddb(pair.leader.url).create_table(TableName="kept", **HASH_TABLE)
        ddb(pair.leader.url).put_item(TableName="kept", Item={"pk": {"S": "precious"}})
        pair.wait_caught_up()
        (follower,) = pair.followers
        fake.payload = encode_checkpoint([("CURRENT", b"MANIFEST-000001\n")])
        post_json(follower.url + "/admin/follow", {"leader": fake.url}, CLUSTER)
        wait_for(lambda: "did not prove" in (replication_status(follower, CLUSTER)["last_error"] or ""))
        assert fake.checkpoints_served == 0
        assert "Item" in ddb(follower.url).get_item(TableName="kept", Key={"pk": {"S": "precious"}})
        with pytest.raises(ClientError) as refused:
            signed_client(follower.url, CLUSTER_KEY, CLUSTER_SECRET).put_item(
                TableName="kept", Item={"pk": {"S": "leaked"}})
        assert "has not proven" in refused.value.response["Error"]["Message"]
        # The control: pointed back at the real leader, it streams and forwards again.
        post_json(follower.url + "/admin/follow", {"leader": pair.leader.url}, CLUSTER)
        pair.wait_caught_up()
        ddb(follower.url).put_item(TableName="kept", Item={"pk": {"S": "forwarded"}})
    finally:
        fake.stop()
        pair.stop()


# ---- the replication stream --------------------------------------------------------------


class SignedFakeFollower(FakeFollower):
    """A fake follower whose WebSocket upgrade is signed with ``credentials`` (or not)."""

    def __init__(self, background: BackgroundLoop, leader_url: str, credentials: PeerCredentials | None):
        super().__init__(background, leader_url)
        self.credentials = credentials

    async def _connect(self, hello: dict):
        self.session = aiohttp.ClientSession()
        url = self.leader_url + "/replication/stream"
        headers = self.credentials.sign("GET", url).headers if self.credentials else {}
        self.ws = await self.session.ws_connect(url, headers=headers)
        await self.ws.send_str(orjson.dumps(hello).decode())
        return await self.ws.receive(timeout=10)


def _hello(cluster: Cluster, **overrides) -> dict:
    status = replication_status(cluster.leader, CLUSTER)
    return {"type": "hello", "name": f"fake-{uuid.uuid4().hex[:6]}", "cluster": status["cluster"],
            "epoch": status["epoch"], "lsn": status["last_lsn"], **overrides}


def test_an_unsigned_stream_upgrade_is_refused(cluster, background):
    fake = SignedFakeFollower(background, cluster.leader.url, None)
    try:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            fake.connect(_hello(cluster))
        assert refused.value.status == 400
    finally:
        fake.close()
    signed = SignedFakeFollower(background, cluster.leader.url, CLUSTER)
    try:
        # Signed, it is a follower like any other: one with nothing applied is told to bootstrap.
        hello = _hello(cluster, lsn=0)
        expected = "bootstrap" if replication_status(cluster.leader, CLUSTER)["last_lsn"] else "stream"
        assert orjson.loads(signed.connect(hello).data)["type"] == expected
    finally:
        signed.close()


def test_an_unsigned_higher_epoch_cannot_fence_the_leader(cluster, background):
    fake = SignedFakeFollower(background, cluster.leader.url, None)
    try:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            fake.connect(_hello(cluster, epoch=99, lsn=0))
    finally:
        fake.close()
    assert replication_status(cluster.leader, CLUSTER)["fenced_by_epoch"] is None
    ddb(cluster.leader.url).put_item(TableName="kept", Item={"pk": {"S": "still-leading"}})


def test_a_follower_name_is_bound_to_its_key(cluster, background):
    real_name = replication_status(cluster.leader, CLUSTER)["followers"][0]["name"]
    impostor = SignedFakeFollower(background, cluster.leader.url, OTHER)
    try:
        answer = orjson.loads(impostor.connect(_hello(cluster, name=real_name)).data)
        assert answer["type"] == "refused"
        assert "under another key" in answer["reason"]
    finally:
        impostor.close()
    (link,) = [f for f in replication_status(cluster.leader, CLUSTER)["followers"] if f["name"] == real_name]
    assert link["state"] == "streaming"


def test_a_signed_forged_ack_is_capped(tmp_path, credentials_file, background):
    lonely = Cluster(tmp_path, follower_count=0, credentials=CLUSTER, leader_args=[
        "--credentials-file", str(credentials_file), "--sync-replicas", "1", "--sync-timeout", "1"]).start()
    fake = SignedFakeFollower(background, lonely.leader.url, OTHER)
    try:
        status = replication_status(lonely.leader, CLUSTER)
        answer = fake.connect({"type": "hello", "name": "forger", "cluster": status["cluster"],
                               "epoch": status["epoch"], "lsn": status["last_lsn"]})
        assert orjson.loads(answer.data)["type"] == "stream"
        fake.send({"type": "ack", "lsn": 10**15})
        once = boto3.client("dynamodb", endpoint_url=lonely.leader.url, region_name="us-east-1",
                            aws_access_key_id=CLUSTER_KEY, aws_secret_access_key=CLUSTER_SECRET,
                            config=Config(retries={"total_max_attempts": 1}))
        with pytest.raises(ClientError) as refused:
            once.create_table(TableName="unreplicated", **HASH_TABLE)
        assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
    finally:
        fake.close()
        lonely.stop()


# ---- bodies ------------------------------------------------------------------------------


def test_an_unsigned_large_upload_is_refused_before_its_body_is_sent(cluster):
    """The refusal arrives while the client still holds all 15 MB it announced."""
    host, port = cluster.leader.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\n"
            f"Content-Type: application/x-amz-json-1.0\r\nContent-Length: {15 * 1024 * 1024}\r\n\r\n".encode()
        )
        answer = connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"MissingAuthenticationTokenException" in answer
    assert get_json(cluster.leader.url + "/health")["status"] == "ok"
