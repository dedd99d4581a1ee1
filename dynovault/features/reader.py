"""``dynovault features serve``: feature serving in a process of its own.

It opens a running node's RocksDB directory as a secondary instance (read-only, no lock
taken) and serves ``/get-online-features`` from it, catching up with the node every
``refresh`` seconds. Python runs one request at a time per process; a second serving
process uses another core without any HTTP hop to the node. Writes stay with the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import uvloop
from aiohttp import web

from dynovault import logs, metrics
from dynovault.node import Node
from dynovault.storage.secondary import SecondaryStore

log = logging.getLogger(__name__)
KEEP_UP_KEY = web.AppKey("keep_up", asyncio.Task)


async def _keep_up(store: SecondaryStore, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            store.catch_up()
        except Exception:  # a failed catch-up is retried on the next tick
            log.exception("catching up with the node failed")


def serve(data_dir: Path, definitions: Path, host: str, port: int, refresh: float, log_level: str) -> int:
    from dynovault.features.http import add_routes

    logs.configure(log_level)
    store = SecondaryStore(data_dir)
    app = web.Application()
    add_routes(app, Node(store), definitions, writable=False)
    metrics.add_routes(app)
    app.router.add_get("/health", _health)

    async def start(_app: web.Application) -> None:
        app[KEEP_UP_KEY] = asyncio.get_running_loop().create_task(_keep_up(store, refresh))

    async def stop(_app: web.Application) -> None:
        app[KEEP_UP_KEY].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await app[KEEP_UP_KEY]
        store.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    print(f"dynovault feature reader on http://{host}:{port} (reading {data_dir})", flush=True)
    web.run_app(app, host=host, port=port, print=None, access_log=None, loop=uvloop.new_event_loop())
    return 0


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "role": "feature-reader"})
