"""Background tasks that repeat a pass for as long as the application runs, started and
stopped by its startup and shutdown hooks (wired in ``app.py``)."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


class Periodic:
    """Runs ``run_pass`` every ``interval`` seconds. A pass that fails is logged and the
    next one runs as usual: what fails one pass (a table dropped, a store swapped by a
    bootstrap) is gone by the next."""

    # What the log calls a failed pass ("TTL pass failed").
    name = "background"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._task: asyncio.Task | None = None

    async def start(self, _app: object = None) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self, _app: object = None) -> None:
        if self._task is not None:
            self._task.cancel()

    async def run_pass(self) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        while True:
            try:
                await self.run_pass()
            except Exception:
                log.exception(f"{self.name} pass failed")
            await asyncio.sleep(self.interval)
