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
import shutil
import tempfile
from pathlib import Path

import orjson
import uvloop
from aiohttp import web
from rocksdict import AccessType, Options, Rdict

from dynovault import logs, metrics
from dynovault.node import Node
from dynovault.storage.engine import CATALOG_CF, STATS_CF, Table, open_table

log = logging.getLogger(__name__)
KEEP_UP_KEY = web.AppKey("keep_up", asyncio.Task)


class SecondaryStore:
    """The part of ``Store`` serving reads (``tables``, ``get_many``), over a secondary
    instance. New tables mean new column families, which a secondary only sees when
    reopened, so a refresh that finds one reopens."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.scratch = Path(tempfile.mkdtemp(prefix="dynovault-reader-"))
        self.tables: dict[str, Table] = {}
        self._open()

    def _open(self) -> None:
        options = Options(raw_mode=True)
        names = [name for name in Rdict.list_cf(str(self.data_dir), options) if name != "default"]
        self.db = Rdict(
            str(self.data_dir),
            options=options,
            column_families={name: Options(raw_mode=True) for name in names},
            access_type=AccessType.secondary(str(self.scratch)),
        )
        self._load_catalog()

    def _load_catalog(self) -> bool:
        """Read the table catalog; False when a table's column family is not open yet."""
        tables = {}
        stats = self.db.get_column_family(STATS_CF)
        for name, raw in self.db.get_column_family(CATALOG_CF).items():
            table = open_table(self.db, orjson.loads(raw), stats)
            if table is None:
                return False
            tables[name.decode()] = table
        self.tables = tables
        return True

    def refresh(self) -> None:
        self.db.try_catch_up_with_primary()
        if not self._load_catalog():
            self.db.close()
            self._open()

    def get_many(self, table: Table, keys: list[bytes]) -> list[bytes | None]:
        return table.data.get(keys)

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


async def _keep_up(store: SecondaryStore, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            store.refresh()
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
