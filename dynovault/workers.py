"""``dynovault serve --workers N``: N processes accepting on one port (``SO_REUSEPORT``).

The process ``dynovault serve`` starts is the node's writer: it serves everything one
process serves and listens on a private Unix socket for what its readers pass on. It starts
N-1 reader processes (the same command line, told where the writer is), restarts one that
dies, and takes them down with it: each reader dies with its writer (``PR_SET_PDEATHSIG``,
and a check of its parent besides), so no reader keeps answering from a node that is gone.
``/metrics`` on any process is the writer's, with every reader's own merged into it.
How readers and the writer share the data is ``replication/workers.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import aiohttp
import uvloop
from aiohttp import web
from prometheus_client import Counter

from dynovault import metrics
from dynovault.api.connections import ConnectionLimits, LimitedAppRunner
from dynovault.api.server import NODE_KEY, WORKER_KEY
from dynovault.app import NodeSettings, reader_app, serving_app
from dynovault.metrics import REGISTRY
from dynovault.replication.workers import CommitBoard

log = logging.getLogger(__name__)

WRITER_SOCKET = "writer.sock"
COMMIT_BOARD = "commits"
# How often the writer looks for readers that died, and readers for a writer that did.
WATCH_INTERVAL = 0.5
_PR_SET_PDEATHSIG = 1
READER_SWITCH_INTERVAL = 0.001

RESTARTS = Counter("dynovault_reader_restarts", "Reader workers restarted after they died", registry=REGISTRY)


def usable_cores() -> int:
    """The cores this process may run on (``--workers auto``)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _reader_socket(workdir: Path, index: int) -> Path:
    return workdir / f"reader-{index}.sock"


def _die_with_parent() -> None:
    """In a reader, before it runs: the kernel kills it when its writer dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ReaderPool:
    """The writer's reader processes: started with it, restarted when one dies."""

    def __init__(self, count: int, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[subprocess.Popen | None] = [None] * count
        self._watching: asyncio.Task | None = None

    def _argv(self, index: int) -> list[str]:
        return [sys.executable, "-m", "dynovault", *sys.argv[1:], "--workers", "1",
                "--reader-of", str(self.workdir), "--reader-index", str(index)]

    def _spawn(self, index: int) -> None:
        self.processes[index] = subprocess.Popen(self._argv(index), preexec_fn=_die_with_parent)

    async def start(self, _app: web.Application) -> None:
        for index in range(len(self.processes)):
            self._spawn(index)
        self._watching = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            for index, process in enumerate(self.processes):
                if process is not None and process.poll() is not None:
                    log.warning("reader worker died; restarting it",
                                extra={"worker": index, "exit_code": process.returncode})
                    RESTARTS.inc()
                    self._spawn(index)

    async def stop(self, _app: web.Application) -> None:
        if self._watching is not None:
            self._watching.cancel()
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in self.processes:
            if process is not None:
                try:
                    await asyncio.to_thread(process.wait, 10)
                except subprocess.TimeoutExpired:
                    process.kill()

    async def expositions(self) -> list[bytes]:
        """Each live reader's own /metrics, read over its private socket."""
        return [text for text in await asyncio.gather(*(
            _own_metrics(_reader_socket(self.workdir, index)) for index in range(len(self.processes))
        )) if text is not None]


async def _own_metrics(socket_path: Path) -> bytes | None:
    try:
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(socket_path)),
                                         timeout=aiohttp.ClientTimeout(total=2)) as session:
            async with session.get("http://reader/metrics") as reply:
                return await reply.read() if reply.status == 200 else None
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None  # a reader restarting: its counts come back with it


class _Announcer:
    """Publishes the writer's last LSN on the commit board at every commit, following the
    node's store when a bootstrap replaces it."""

    def __init__(self, app: web.Application, board: CommitBoard) -> None:
        self.app, self.board = app, board
        self._store = None
        self._task: asyncio.Task | None = None

    async def start(self, _app: web.Application) -> None:
        self._follow_store()
        self._task = asyncio.create_task(self._keep_following())

    def _follow_store(self) -> None:
        store = self.app[NODE_KEY].store
        if store is not self._store:
            self._store = store
            store.commit_listeners.append(self.board.publish)
            self.board.publish(store.last_lsn)

    async def _keep_following(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            self._follow_store()

    async def stop(self, _app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()


def writer_app(settings: NodeSettings, workers: int) -> tuple[web.Application, Path]:
    """The writer of a node served by ``workers`` processes, and the Unix socket it must
    also listen on for its readers."""
    # Unix socket paths are short (108 bytes): a fresh directory under the system's temp.
    workdir = Path(tempfile.mkdtemp(prefix="dynovault-workers-"))
    try:
        board = CommitBoard(workdir / COMMIT_BOARD, create=True)
        pool = ReaderPool(workers - 1, workdir)
        app = serving_app(replace(settings, other_processes=pool.expositions))
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    app[WORKER_KEY] = "writer"
    announcer = _Announcer(app, board)
    app.on_startup.append(announcer.start)
    app.on_startup.append(pool.start)
    app.on_shutdown.append(pool.stop)
    app.on_shutdown.append(announcer.stop)
    app.on_cleanup.append(lambda _app: asyncio.to_thread(shutil.rmtree, workdir, True))
    return app, workdir / WRITER_SOCKET


def serve_reader(settings: NodeSettings, host: str, port: int, workdir: Path, index: int,
                 ssl_context=None, limits: ConnectionLimits = ConnectionLimits()) -> None:
    """Run reader worker ``index`` of the writer whose private files are in ``workdir``;
    its connections are held to the same ``limits`` as the writer's."""
    uvloop.run(_run_reader(settings, host, port, workdir, index, ssl_context, limits))


async def _run_reader(settings: NodeSettings, host: str, port: int, workdir: Path, index: int, ssl_context,
                      limits: ConnectionLimits) -> None:
    writer_pid = os.getppid()
    # A catch-up's RocksDB part runs on a thread that then waits for the GIL: with Python's
    # 5 ms switch interval a busy event loop would hold every catch-up back that long.
    sys.setswitchinterval(READER_SWITCH_INTERVAL)
    app = reader_app(settings, workdir / WRITER_SOCKET, CommitBoard(workdir / COMMIT_BOARD), f"reader-{index + 1}")
    own = web.Application()
    metrics.add_routes(own)
    runners = [LimitedAppRunner(app, limits=limits, access_log=None), web.AppRunner(own, access_log=None)]
    for runner in runners:
        await runner.setup()
    gc.collect()
    gc.freeze()
    own_socket = _reader_socket(workdir, index)
    own_socket.unlink(missing_ok=True)
    await web.TCPSite(runners[0], host, port, reuse_port=True, ssl_context=ssl_context).start()
    await web.UnixSite(runners[1], str(own_socket)).start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    try:
        while not stopped.is_set() and os.getppid() == writer_pid:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), WATCH_INTERVAL)
    finally:
        for runner in runners:
            await runner.cleanup()
