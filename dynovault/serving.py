"""Running a node's application on a socket: bound before anything says it listens,
stopped on SIGTERM or SIGINT after the requests in flight are answered.

The port is bound first, so a busy port is refused before the data directory is
opened; "listening" is printed only once the socket accepts connections.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvloop
from aiohttp import web

from dynovault.api.connections import ConnectionLimits, LimitedAppRunner
from dynovault.errors import StartupError

# Connections the kernel queues while the node is busy, before it refuses more.
LISTEN_BACKLOG = 1024


@dataclass(frozen=True)
class Serving:
    """How the application is served."""

    limits: ConnectionLimits = ConnectionLimits()
    ssl_context: ssl.SSLContext | None = None
    # Seconds SIGTERM waits for requests in flight before it cuts them off.
    shutdown_timeout: float = 30.0
    # A Unix socket served beside the port (the writer of several worker processes).
    unix_path: Path | None = None


def bind(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """The listening socket, or the one-line reason there is none; ``reuse_port`` lets
    the node's other worker processes listen on the same port."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise StartupError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError as error:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.setblocking(False)
    return sock


def run(app: web.Application, sock: socket.socket, serving: Serving, announce: Callable[[], None]) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM or SIGINT; ``announce`` runs once the
    application started and the socket accepts connections."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(app, sock, serving, announce))


async def _serve(app: web.Application, sock: socket.socket, serving: Serving, announce: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = LimitedAppRunner(app, limits=serving.limits, shutdown_timeout=serving.shutdown_timeout, access_log=None)
    try:
        await runner.setup()
    except StartupError:
        raise
    except Exception as error:
        raise StartupError(f"cannot start: {type(error).__name__}: {error}") from error
    try:
        await web.SockSite(runner, sock, ssl_context=serving.ssl_context, backlog=LISTEN_BACKLOG).start()
        if serving.unix_path is not None:
            await web.UnixSite(runner, str(serving.unix_path)).start()
        announce()
        await stop.wait()
    finally:
        # Stops listening, lets the requests in flight finish (their answers close their
        # connections), runs the shutdown hooks and closes the store.
        await runner.cleanup()


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
