"""A node served by several processes on one port: one writer, the rest readers.

RocksDB has one writer, so one process (the writer) owns the node's data: every write,
every strongly consistent read, the control plane, replication and the feature write
lanes. Reader processes open the same data directory as RocksDB secondary instances and
answer eventually consistent data reads (GetItem, BatchGetItem, Query, Scan, index reads,
``/get-online-features``) themselves; everything else they pass to the writer over a Unix
socket as it arrived (the same HTTP request, body unparsed), and pass its answer back.

The writer announces each commit's LSN on a shared page (``CommitBoard``); a reader that
sees a newer LSN there catches up with the writer (at most every ``CATCH_UP_INTERVAL``,
because a catch-up costs RocksDB a fixed few hundred microseconds, spent on a thread so the
reader's event loop keeps serving), and records how long the commits it made visible had
been waiting: the staleness of its reads. Only the writer
writes, so transactions stay serializable exactly as in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mmap
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import WSMsgType, web
from prometheus_client import Counter, Histogram

from dynovault.errors import ServiceUnavailable
from dynovault.guard import Forwardable, LeaderAnswer, Passthrough
from dynovault.metrics import REGISTRY
from dynovault.replication.routing import wants_consistency
from dynovault.storage.secondary import SecondaryStore

log = logging.getLogger(__name__)
T = TypeVar("T")

# Eventually consistent data reads; a reader passes every other operation to the writer.
READER_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})
# A catch-up costs RocksDB a fixed few hundred microseconds whatever it finds, so a reader
# catches up at most this often while the writer commits, and never while it is idle.
CATCH_UP_INTERVAL = 0.002
# Headers of a hop, not of the request.
_HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "expect", "upgrade"})
# The writer's address inside the Unix socket's HTTP; only the path travels.
_WRITER_ORIGIN = "http://writer"

STALENESS = Histogram(
    "dynovault_reader_staleness_seconds",
    "Time from a commit on the writer to its visibility on a reader worker (the oldest commit of each catch-up)",
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0, 5.0),
    registry=REGISTRY,
)
PASSED_TO_WRITER = Counter(
    "dynovault_reader_passed_to_writer", "Requests a reader worker passed to its node's writer", registry=REGISTRY
)
_LSN = struct.Struct("=Q")


class CommitBoard:
    """The writer's last committed LSN on a page of shared memory (a file the writer owns
    and the readers map): readers learn of commits without asking."""

    def __init__(self, path: Path, create: bool = False) -> None:
        if create:
            path.write_bytes(bytes(_LSN.size))
        with open(path, "r+b" if create else "rb") as file:
            self._page = mmap.mmap(
                file.fileno(), _LSN.size, access=mmap.ACCESS_WRITE if create else mmap.ACCESS_READ
            )

    def publish(self, lsn: int) -> None:
        _LSN.pack_into(self._page, 0, lsn)

    def last_lsn(self) -> int:
        return _LSN.unpack_from(self._page, 0)[0]


async def follow_writer(store: SecondaryStore, board: CommitBoard) -> None:
    """A reader's catch-up loop: runs for the life of the process."""
    while True:
        await asyncio.sleep(CATCH_UP_INTERVAL)
        if board.last_lsn() == store.last_lsn:
            continue
        try:
            if store.replaced():
                staleness = store.catch_up()
            else:
                # RocksDB's work runs off the event loop, so reads and passed-on requests go on.
                await asyncio.to_thread(store.follow_primary)
                staleness = store.refresh()
        except Exception:  # retried on the next tick; the writer may be mid-restart
            log.exception("catching up with the writer failed")
            continue
        if staleness is not None:
            STALENESS.observe(staleness)


def served_by_reader(operation: str, payload: dict[str, Any]) -> bool:
    return operation in READER_OPERATIONS and not wants_consistency(payload)


class WriterLink:
    """A reader's channel to its node's writer: HTTP over the writer's Unix socket."""

    def __init__(self, socket_path: Path, node_tables: Callable[[], dict]) -> None:
        self.socket_path = socket_path
        self._tables = node_tables
        self.session: aiohttp.ClientSession | None = None

    @property
    def passthrough(self) -> Passthrough:
        return Passthrough(READER_OPERATIONS, self.forward)

    async def start(self, _app: web.Application) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=str(self.socket_path)),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )

    async def stop(self, _app: web.Application) -> None:
        if self.session is not None:
            await self.session.close()

    async def guard(
        self, operation: str, payload: dict[str, Any], run_here: Callable[[], Awaitable[T]], request: Forwardable
    ) -> T | LeaderAnswer:
        """Eventually consistent reads run here, unless their table keeps search state in
        the writer's memory (vector indexes); the rest is the writer's."""
        if served_by_reader(operation, payload) and not self._in_writer_memory(payload):
            return await run_here()
        return await self.forward(request)

    def _in_writer_memory(self, payload: dict[str, Any]) -> bool:
        names = list(payload.get("RequestItems") or ()) if "RequestItems" in payload else [payload.get("TableName")]
        tables = self._tables()
        return any(getattr(tables.get(name), "vector_indexes", ()) for name in names)

    async def forward(self, request: Forwardable) -> LeaderAnswer:
        PASSED_TO_WRITER.inc()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        try:
            async with self.session.post(_WRITER_ORIGIN + request.path, data=request.body, headers=headers) as reply:
                return LeaderAnswer(reply.status, await reply.read())
        except (aiohttp.ClientError, OSError) as error:
            raise ServiceUnavailable(
                f"This node's writer process could not be reached ({type(error).__name__}); retry the request"
            ) from None

    async def proxy(self, request: web.Request) -> web.StreamResponse:
        """Any other route (replication, the feature write lanes, /metrics, ...): passed to
        the writer as it arrived, WebSocket upgrades included, the answer streamed back."""
        PASSED_TO_WRITER.inc()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._proxy_websocket(request, headers)
        body = await request.read()
        try:
            async with self.session.request(
                request.method, _WRITER_ORIGIN + request.path_qs, data=body, headers=headers,
                auto_decompress=False,
            ) as reply:
                answer = web.StreamResponse(status=reply.status, reason=reply.reason)
                answer.headers.update({k: v for k, v in reply.headers.items() if k.lower() not in _HOP_HEADERS})
                await answer.prepare(request)
                async for chunk in reply.content.iter_any():
                    await answer.write(chunk)
                await answer.write_eof()
                return answer
        except (aiohttp.ClientError, OSError):
            return web.Response(status=503, text="this node's writer process could not be reached")

    async def _proxy_websocket(self, request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
        for name in ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions"):
            headers.pop(name, None)
        try:
            upstream = await self.session.ws_connect(
                _WRITER_ORIGIN + request.path_qs, headers=headers, max_msg_size=0, autoping=False
            )
        except aiohttp.WSServerHandshakeError as refused:
            return web.Response(status=refused.status, text=refused.message)
        except (aiohttp.ClientError, OSError):
            return web.Response(status=503, text="this node's writer process could not be reached")
        client = web.WebSocketResponse(max_msg_size=0, autoping=False)
        await client.prepare(request)
        async with upstream:
            await asyncio.gather(_pump(client, upstream), _pump(upstream, client))
        return client


async def _pump(source, sink) -> None:
    """WebSocket messages one way until either side closes, then close the other."""
    try:
        async for message in source:
            if message.type == WSMsgType.BINARY:
                await sink.send_bytes(message.data)
            elif message.type == WSMsgType.TEXT:
                await sink.send_str(message.data)
            elif message.type == WSMsgType.PING:
                await sink.ping(message.data)
            elif message.type == WSMsgType.PONG:
                await sink.pong(message.data)
    except (aiohttp.ClientError, ConnectionError):
        pass
    finally:
        with contextlib.suppress(Exception):
            await sink.close()
