"""The whole request path of ``dynovault serve`` in one process, without sockets.

The serving application is assembled as ``dynovault serve`` assembles it (``app.serving_app``
with the defaults a user gets) and aiohttp's own connection protocol is attached to an
in-memory transport: raw HTTP request bytes go in through ``data_received``, the answer's
bytes come out of ``write``. Everything a request costs a server except the kernel's socket
work is on this path (HTTP parsing, routing, body reading, the dispatcher, the handler,
response building and writing), so its time per request is what the HTTP benchmarks divide
into, minus the noise of a second process on a loaded machine.
"""

from __future__ import annotations

import asyncio
import gc
import re
import tempfile
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from dynovault.api.auth import authenticator_for
from dynovault.app import NodeSettings, serving_app
from dynovault.replication import ReplicationConfig

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)


class MemoryTransport(asyncio.Transport):
    """Collects what the server writes and resolves ``answer`` once one whole HTTP
    answer (headers and ``Content-Length`` bytes of body) has been written."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self._written = bytearray()
        self.answer: asyncio.Future[bytes] = loop.create_future()

    def write(self, data: bytes) -> None:
        self._written += data
        head_end = self._written.find(b"\r\n\r\n")
        if head_end < 0:
            return
        length = _CONTENT_LENGTH.search(self._written, 0, head_end + 2)
        end = head_end + 4 + (int(length.group(1)) if length else 0)
        if len(self._written) >= end and not self.answer.done():
            self.answer.set_result(bytes(self._written[:end]))
            del self._written[:end]

    def writelines(self, chunks) -> None:
        self.write(b"".join(chunks))

    def next_answer(self) -> asyncio.Future[bytes]:
        self.answer = self._loop.create_future()
        return self.answer

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def get_extra_info(self, name: str, default=None):
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Connection:
    """One keep-alive connection into the application: ``send`` takes the raw bytes of
    one request and returns the raw bytes of its answer."""

    def __init__(self, app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        self._server = app._make_handler(loop=loop, access_log=None)
        self._protocol = self._server()
        self._transport = MemoryTransport(loop)
        self._protocol.connection_made(self._transport)

    async def send(self, request: bytes) -> bytes:
        answer = self._transport.next_answer()
        self._protocol.data_received(request)
        return await answer

    async def close(self) -> None:
        self._protocol.connection_lost(None)
        await self._server.shutdown(0.1)


def default_settings(data_dir: Path) -> NodeSettings:
    """What ``dynovault serve --data-dir DATA_DIR`` runs with."""
    return NodeSettings(
        data_dir=data_dir, fsync=False, region="us-east-1", address="127.0.0.1:8000",
        features=data_dir / "features.json", replication=ReplicationConfig(),
        authenticate=authenticator_for(None, frozenset({"us-east-1"})),
    )


@asynccontextmanager
async def serving(data_dir: Path | None = None) -> Iterator[Connection]:
    """A started serving application (startup hooks run) and one connection into it."""
    with tempfile.TemporaryDirectory(prefix="dynovault-inprocess-") as scratch:
        app = serving_app(default_settings(data_dir or Path(scratch) / "data"))
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        # As ``dynovault serve`` does once started: what startup built stays out of the
        # collector's full passes.
        gc.collect()
        gc.freeze()
        connection = Connection(app)
        try:
            yield connection
        finally:
            await connection.close()
            await runner.cleanup()
