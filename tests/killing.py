"""Writes from several threads until a server is killed with ``kill -9`` mid-stream."""

from __future__ import annotations

import threading
from collections.abc import Callable

from dynovault.testing.processes import ServerProcess
from tests.conftest import client_for


def kill_during_writes(server: ServerProcess, write: Callable[[object, int, int], object],
                       workers: int = 3, acknowledged_before_kill: int = 300) -> list:
    """Run ``write(client, worker, i)`` for i = 0, 1, ... in ``workers`` threads, kill the
    server once ``acknowledged_before_kill`` writes got a reply, and return what each
    acknowledged write returned (a write that fails ends its thread)."""
    acknowledged: list = []
    stop = threading.Event()

    def writer(worker: int) -> None:
        ddb = client_for(server.url)
        for i in range(100_000):
            if stop.is_set():
                return
            try:
                acknowledged.append(write(ddb, worker, i))
            except Exception:
                return

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    while len(acknowledged) < acknowledged_before_kill:
        threading.Event().wait(0.01)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join()
    return acknowledged
