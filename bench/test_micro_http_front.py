"""Per-request cost of the HTTP front (``pytest bench/test_micro_http_front.py``): GetItem
over a loopback keep-alive connection, served in-process by aiohttp's own connection
protocol and by Dynovault's (api/connections.py: timeouts, connection cap, DynamoDB-shaped
refusals, lingering closes). Both serve the same application; the client is the same
minimal one, so the gap between them is what the protocol costs a request. Each round is
a burst of ``BURST`` requests; compare the minimums."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest
import uvloop
from aiohttp import web

from dynovault.api.connections import ConnectionLimits, LimitedAppRunner
from dynovault.api.server import build_app
from dynovault.node import Node
from dynovault.storage.engine import Store

BURST = 1000
TABLE = "bench.front"


def _request(operation: str, payload: dict) -> bytes:
    body = orjson.dumps(payload)
    head = (
        f"POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"X-Amz-Target: DynamoDB_20120810.{operation}\r\nAuthorization: AWS4-HMAC-SHA256 "
        f"Credential=bench/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Front:
    """An application served on a loopback socket by ``runner``, and one client connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, runner: web.AppRunner) -> None:
        self.loop = loop
        self.runner = runner
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        await self.runner.setup()
        sock = socket.create_server(("127.0.0.1", 0))
        await web.SockSite(self.runner, sock).start()
        self.reader, self.writer = await asyncio.open_connection(*sock.getsockname())

    async def call(self, raw: bytes) -> bytes:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        return head + await self.reader.readexactly(length)

    async def burst(self, raw: bytes, count: int) -> None:
        for _ in range(count):
            await self.call(raw)

    async def stop(self) -> None:
        self.writer.close()
        await self.runner.cleanup()


RUNNERS = {
    "aiohttp protocol": lambda app: web.AppRunner(app, access_log=None),
    "dynovault protocol": lambda app: LimitedAppRunner(app, limits=ConnectionLimits(), access_log=None),
}


@pytest.fixture(params=sorted(RUNNERS))
def front(request, tmp_path):
    loop = uvloop.new_event_loop()
    node = Node(Store(tmp_path / "data"), region="us-east-1", address="127.0.0.1:0")
    front = Front(loop, RUNNERS[request.param](build_app(node)))
    loop.run_until_complete(front.start())
    loop.run_until_complete(front.call(_request("CreateTable", {
        "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    })))
    loop.run_until_complete(front.call(_request("PutItem", {
        "TableName": TABLE, "Item": {"pk": {"S": "k"}, "v": {"S": "x" * 1000}},
    })))
    yield front
    loop.run_until_complete(front.stop())
    loop.close()


def test_get_item_burst(benchmark, front) -> None:
    raw = _request("GetItem", {"TableName": TABLE, "Key": {"pk": {"S": "k"}}})
    assert b'"Item"' in front.loop.run_until_complete(front.call(raw))
    benchmark.pedantic(lambda: front.loop.run_until_complete(front.burst(raw, BURST)), rounds=25, warmup_rounds=2)
