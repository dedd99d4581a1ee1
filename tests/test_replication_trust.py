"""Replication peers are trusted only as far as their messages are checked: a fake leader
(a small aiohttp app in this process) offering path traversal, absolute paths, oversized
or truncated checkpoints, and a fake follower forging acknowledgements or sending
oversized messages. Beside each attack, the honest version of the same exchange works."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import aiohttp
import boto3
import orjson
import pytest
from aiohttp import web
from botocore.config import Config
from botocore.exceptions import ClientError

from dynovault.testing.cluster import Cluster, post_json, replication_status
from dynovault.testing.processes import ServerProcess, free_port
from tests.conftest import client_for

HASH_TABLE = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def wait_for(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def create_table_with(url: str, table: str, key: str) -> None:
    client = client_for(url)
    client.create_table(TableName=table, **HASH_TABLE)
    client.put_item(TableName=table, Item={"pk": {"S": key}})


class BackgroundLoop:
    """An event loop in a thread, so a test can hold connections open while boto3 and
    server processes do their part."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


# ---- a fake leader -----------------------------------------------------------------------


class FakeLeader:
    """Tells every follower hello to bootstrap and serves ``payload`` as the checkpoint;
    after the first checkpoint it refuses hellos, so a follower that took it keeps it."""

    def __init__(self, background: BackgroundLoop) -> None:
        self.background = background
        self.port = free_port()
        self.payload = b""
        self.checkpoints_served = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/replication/stream", self._stream)
        app.router.add_get("/replication/checkpoint", self._checkpoint)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()
        if self.checkpoints_served:
            await ws.send_json({"type": "refused", "reason": "fake leader is done"})
        else:
            await ws.send_json({"type": "bootstrap"})
        await ws.close()
        return ws

    async def _checkpoint(self, request: web.Request) -> web.Response:
        self.checkpoints_served += 1
        return web.Response(body=self.payload, content_type="application/octet-stream")

    def start(self) -> FakeLeader:
        self.background.run(self._start())
        return self

    def stop(self) -> None:
        if self._runner is not None:
            self.background.run(self._runner.cleanup())


def encode_checkpoint(files: list[tuple[str, bytes]], sizes: dict[str, int] | None = None) -> bytes:
    """The leader's checkpoint wire format: manifest length, manifest, file bytes."""
    manifest = orjson.dumps({"files": [[name, (sizes or {}).get(name, len(data))] for name, data in files]})
    return struct.pack(">I", len(manifest)) + manifest + b"".join(data for _, data in files)


def fetch_checkpoint(url: str) -> list[tuple[str, bytes]]:
    async def fetch() -> bytes:
        async with aiohttp.ClientSession() as session, session.get(url + "/replication/checkpoint") as reply:
            assert reply.status == 200
            return await reply.read()

    raw = asyncio.run(fetch())
    (length,) = struct.unpack_from(">I", raw)
    manifest = orjson.loads(raw[4 : 4 + length])
    files, position = [], 4 + length
    for name, size in manifest["files"]:
        files.append((name, raw[position : position + size]))
        position += size
    assert position == len(raw)
    return files


@pytest.fixture(scope="module")
def background():
    loop = BackgroundLoop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """The real leader the follower under attack replicates from."""
    cluster = Cluster(tmp_path_factory.mktemp("home"), follower_count=0).start()
    create_table_with(cluster.leader.url, "kept", "precious")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def genuine_checkpoint(tmp_path_factory):
    """A real checkpoint of another cluster, holding the table ``from-checkpoint``."""
    source = ServerProcess(tmp_path_factory.mktemp("source") / "data").start()
    try:
        create_table_with(source.url, "from-checkpoint", "delivered")
        return fetch_checkpoint(source.url)
    finally:
        source.stop()


@pytest.fixture
def follower(home, tmp_path):
    node = home.start_follower(f"follower-{uuid.uuid4().hex[:8]}")
    home.wait_caught_up(followers=[node])
    yield node
    node.stop()


@pytest.fixture
def fake_leader(background):
    fake = FakeLeader(background).start()
    yield fake
    fake.stop()


def holds(url: str, table: str, key: str) -> bool:
    try:
        reply = client_for(url).get_item(TableName=table, Key={"pk": {"S": key}})
    except ClientError:
        return False
    return "Item" in reply


def attacked(follower: ServerProcess, fake: FakeLeader, payload: bytes) -> str:
    """Point the follower at the fake leader, let it fetch ``payload``, and return the
    error it reports once it refused it."""
    fake.payload = payload
    post_json(follower.url + "/admin/follow", {"leader": fake.url})
    wait_for(lambda: fake.checkpoints_served and replication_status(follower)["last_error"])
    wait_for(lambda: "CheckpointRefused" in (replication_status(follower)["last_error"] or ""))
    return replication_status(follower)["last_error"]


def test_a_genuine_checkpoint_from_the_fake_leader_is_taken(follower, fake_leader, genuine_checkpoint):
    """The control for every attack below: the same harness delivering a well-formed
    checkpoint replaces the follower's data with it."""
    fake_leader.payload = encode_checkpoint(genuine_checkpoint)
    post_json(follower.url + "/admin/follow", {"leader": fake_leader.url})
    wait_for(lambda: holds(follower.url, "from-checkpoint", "delivered"))
    assert not holds(follower.url, "kept", "precious")


def test_traversal_and_absolute_names_are_refused(follower, fake_leader, genuine_checkpoint, tmp_path):
    escaped = f"escaped-{uuid.uuid4().hex}.txt"
    absolute = tmp_path / "absolute.txt"
    for evil in (f"../../{escaped}", str(absolute)):
        error = attacked(follower, fake_leader, encode_checkpoint([(evil, b"owned"), *genuine_checkpoint]))
        assert "is not a plain file name" in error
        fake_leader.checkpoints_served = 0
    assert not absolute.exists()
    assert not any(Path(root, escaped).exists() for root in (follower.data_dir.parent, *follower.data_dir.parents))
    assert holds(follower.url, "kept", "precious")
    assert not list(follower.data_dir.parent.glob(".*bootstrap-*"))


def test_a_checkpoint_larger_than_the_disk_is_refused_before_writing(follower, fake_leader, genuine_checkpoint):
    name, _ = genuine_checkpoint[0]
    error = attacked(follower, fake_leader, encode_checkpoint(genuine_checkpoint, sizes={name: 1 << 60}))
    assert "does not fit" in error
    assert holds(follower.url, "kept", "precious")


def test_a_manifest_of_too_many_files_is_refused(follower, fake_leader):
    files = [(f"f{i}", b"") for i in range(100_001)]
    error = attacked(follower, fake_leader, encode_checkpoint(files))
    assert "manifest" in error
    assert holds(follower.url, "kept", "precious")


@pytest.mark.parametrize(("cut", "wording"), [
    (lambda payload: payload[: len(payload) - 100], "ended early"),
    (lambda payload: payload + b"more", "continues past its manifest"),
])
def test_a_truncated_or_overlong_checkpoint_is_refused(follower, fake_leader, genuine_checkpoint, cut, wording):
    error = attacked(follower, fake_leader, cut(encode_checkpoint(genuine_checkpoint)))
    assert wording in error
    assert holds(follower.url, "kept", "precious")
    assert not list(follower.data_dir.parent.glob(".*bootstrap-*"))


def test_a_checkpoint_that_is_not_a_store_is_refused(follower, fake_leader, genuine_checkpoint):
    incomplete = [(name, data) for name, data in genuine_checkpoint if name != "CURRENT"]
    error = attacked(follower, fake_leader, encode_checkpoint(incomplete))
    assert "not a replicated store" in error
    assert holds(follower.url, "kept", "precious")


# ---- a fake follower ---------------------------------------------------------------------


class FakeFollower:
    """A WebSocket peer speaking the follower's side: records the highest LSN it was
    sent and acknowledges it only while ``honest``."""

    def __init__(self, background: BackgroundLoop, leader_url: str) -> None:
        self.background = background
        self.leader_url = leader_url
        self.honest = True
        self.received_lsn = 0
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task | None = None

    def connect(self, hello: dict) -> aiohttp.WSMessage:
        return self.background.run(self._connect(hello))

    async def _connect(self, hello: dict) -> aiohttp.WSMessage:
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(self.leader_url + "/replication/stream", max_msg_size=0)
        await self.ws.send_str(orjson.dumps(hello).decode())
        answer = await self.ws.receive(timeout=10)
        if answer.type is aiohttp.WSMsgType.TEXT and orjson.loads(answer.data)["type"] == "stream":
            self._reader = asyncio.create_task(self._read())
        return answer

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type is aiohttp.WSMsgType.BINARY:
                self.received_lsn = max(self.received_lsn, _last_lsn_of(message.data))
                if self.honest:
                    await self.ws.send_str(orjson.dumps({"type": "ack", "lsn": self.received_lsn}).decode())

    def send(self, message: dict) -> None:
        self.background.run(self.ws.send_str(orjson.dumps(message).decode()))

    def close(self) -> None:
        async def close() -> None:
            if self._reader is not None:
                self._reader.cancel()
            if self.session is not None:
                await self.session.close()

        self.background.run(close())


def _last_lsn_of(frame: bytes) -> int:
    position, last = 8, 0
    while position < len(frame):
        last, length = struct.unpack_from(">QI", frame, position)
        position += 12 + length
    return last


def hello_for(leader: ServerProcess, name: str = "fake", **overrides) -> dict:
    status = replication_status(leader)
    return {"type": "hello", "name": name, "cluster": status["cluster"], "epoch": status["epoch"],
            "lsn": status["last_lsn"], **overrides}


@pytest.fixture
def sync_leader(tmp_path):
    cluster = Cluster(tmp_path, follower_count=0, leader_args=["--sync-replicas", "1", "--sync-timeout", "1"])
    cluster.start()
    yield cluster.leader
    cluster.stop()


def strict_client(url: str):
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=30))


def test_forged_acknowledgement_does_not_release_later_writes(sync_leader, background):
    fake = FakeFollower(background, sync_leader.url)
    try:
        assert orjson.loads(fake.connect(hello_for(sync_leader)).data)["type"] == "stream"
        client = strict_client(sync_leader.url)
        client.create_table(TableName="acked", **HASH_TABLE)  # control: an honest ack releases the write
        fake.honest = False
        fake.send({"type": "ack", "lsn": 10**15})
        with pytest.raises(ClientError) as refused:
            client.put_item(TableName="acked", Item={"pk": {"S": "unreplicated"}})
        assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
        (link,) = replication_status(sync_leader)["followers"]
        assert link["applied_lsn"] <= replication_status(sync_leader)["last_lsn"]
        fake.honest = True
        fake.send({"type": "ack", "lsn": fake.received_lsn})
        client.put_item(TableName="acked", Item={"pk": {"S": "replicated"}})
    finally:
        fake.close()


def test_an_oversized_hello_is_cut_off(sync_leader, background):
    oversized = FakeFollower(background, sync_leader.url)
    honest = FakeFollower(background, sync_leader.url)
    try:
        answer = oversized.connect(hello_for(sync_leader, name="x" * 300_000))
        assert answer.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert orjson.loads(honest.connect(hello_for(sync_leader)).data)["type"] == "stream"
    finally:
        oversized.close()
        honest.close()


@pytest.mark.parametrize("hello", [
    {"type": "hello", "name": "n", "cluster": None, "epoch": "1", "lsn": 0},
    {"type": "hello", "name": "n", "cluster": None, "epoch": 1, "lsn": -5},
    {"type": "ack", "lsn": 1},
    ["not", "an", "object"],
])
def test_a_malformed_hello_is_refused(sync_leader, background, hello):
    fake = FakeFollower(background, sync_leader.url)
    try:
        answer = fake.connect(hello)
        assert orjson.loads(answer.data)["type"] == "refused"
        assert "not a replication hello" in orjson.loads(answer.data)["reason"]
        assert replication_status(sync_leader)["fenced_by_epoch"] is None
    finally:
        fake.close()


def _stalled_checkpoint_reader(url: str) -> socket.socket:
    """A connection that asks for a checkpoint and never reads a byte of it."""
    host, port = url.removeprefix("http://").split(":")
    reader = socket.socket()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.connect((host, int(port)))
    reader.sendall(f"GET /replication/checkpoint HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    return reader


def test_checkpoints_at_once_are_capped_and_released(tmp_path):
    leader = ServerProcess(tmp_path / "data").start()
    try:
        client = client_for(leader.url)
        client.create_table(TableName="bulk", **HASH_TABLE)
        for batch in range(2):
            client.batch_write_item(RequestItems={"bulk": [
                {"PutRequest": {"Item": {"pk": {"S": f"{batch}-{i}"}, "v": {"S": os.urandom(175_000).hex()}}}}
                for i in range(15)
            ]})
        stalled = [_stalled_checkpoint_reader(leader.url) for _ in range(2)]
        wait_for(lambda: len(list(tmp_path.glob(".data.checkpoint-*"))) == 2)
        refused = _stalled_checkpoint_reader(leader.url)
        refused.settimeout(10)
        assert refused.recv(4096).startswith(b"HTTP/1.1 503")
        refused.close()
        for reader in stalled:
            reader.close()
        wait_for(lambda: not list(tmp_path.glob(".data.checkpoint-*")))
        assert fetch_checkpoint(leader.url)
    finally:
        leader.stop()


def test_a_stalled_checkpoint_reader_is_dropped(tmp_path):
    """The write timeout removes the checkpoint while the reader still holds its
    connection open; an honest download afterwards works."""
    leader = ServerProcess(tmp_path / "data", ["--checkpoint-write-timeout", "1"]).start()
    try:
        client = client_for(leader.url)
        client.create_table(TableName="bulk", **HASH_TABLE)
        client.batch_write_item(RequestItems={"bulk": [
            {"PutRequest": {"Item": {"pk": {"S": str(i)}, "v": {"S": os.urandom(175_000).hex()}}}}
            for i in range(15)
        ]})
        stalled = _stalled_checkpoint_reader(leader.url)
        wait_for(lambda: list(tmp_path.glob(".data.checkpoint-*")))
        wait_for(lambda: not list(tmp_path.glob(".data.checkpoint-*")))
        stalled.close()
        assert fetch_checkpoint(leader.url)
    finally:
        leader.stop()
