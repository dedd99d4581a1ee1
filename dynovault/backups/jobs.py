"""What every backup, restore, export and import job shares: running in the background,
its record on disk, its metrics and its log lines."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Callable, Coroutine
from pathlib import Path

import orjson
from prometheus_client import Counter, Gauge

from dynovault.errors import TableNotFoundException
from dynovault.metrics import REGISTRY
from dynovault.node import Node, table_name
from dynovault.storage.engine import Table
from dynovault.values.timestamps import epoch_seconds

log = logging.getLogger(__name__)

RUNNING = Gauge("dynovault_archive_jobs_running", "Backup, restore, export and import jobs under way", ["job"],
                registry=REGISTRY)
ITEMS = Counter("dynovault_archive_items", "Items written by backup, restore, export and import jobs", ["job"],
                registry=REGISTRY)
FINISHED = Counter("dynovault_archive_jobs_finished", "Jobs finished, by outcome", ["job", "outcome"],
                   registry=REGISTRY)

# A request's timestamp as epoch seconds, as every job reads the times it is given.
seconds = epoch_seconds

# Jobs under way, kept referenced until they finish.
_TASKS: set[asyncio.Task] = set()


def start(job: str, name: str, work: Coroutine) -> None:
    """Run ``work`` in the background, counted as a ``job`` and logged under ``name``."""
    task = asyncio.create_task(_run(job, name, work))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


async def _run(job: str, name: str, work: Coroutine) -> None:
    RUNNING.labels(job).inc()
    started = time.monotonic()
    log.info(f"{job} started", extra={"job": name})
    try:
        await work
    except Exception:
        FINISHED.labels(job, "failed").inc()
        log.exception(f"{job} failed", extra={"job": name})
    else:
        FINISHED.labels(job, "completed").inc()
        log.info(f"{job} completed", extra={"job": name, "seconds": round(time.monotonic() - started, 3)})
    finally:
        RUNNING.labels(job).dec()


def progress(job: str, name: str, items: int) -> None:
    """Report ``items`` more items done by a job (from any thread)."""
    ITEMS.labels(job).inc(items)
    log.debug(f"{job} progress", extra={"job": name, "items": items})


def new_id() -> str:
    """An identifier as DynamoDB makes them: milliseconds since the epoch, then 8 hex digits."""
    return f"{int(time.time() * 1000):014d}-{secrets.token_hex(4)}"


def write_record(path: Path, record: dict) -> None:
    """Replace the JSON record at ``path`` all at once (never half written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as sink:
        sink.write(orjson.dumps(record))
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(partial, path)


def read_record(path: Path) -> dict | None:
    try:
        return orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None


def source_table(node: Node, name_or_arn: str) -> Table:
    """The table a backup, a recovery or an export is of, or DynamoDB's refusal naming it."""
    table = node.store.tables.get(table_name(name_or_arn))
    if table is None:
        raise TableNotFoundException(f"Table not found: {table_name(name_or_arn)}")
    return table


def record_path(directory: Path, arn: str, marker: str) -> Path | None:
    """Where the record of the job an ARN names (``.../<marker>/<id>``) is kept, or None
    when the ARN names none."""
    job_id = arn.rsplit(marker, 1)[-1]
    if marker not in arn or not job_id.replace("-", "").isalnum():
        return None
    return directory / f"{job_id}.json"


def read_records(directory: Path) -> list[dict]:
    """Every job record in ``directory``, oldest first (job ids start with their time)."""
    found = [read_record(path) for path in sorted(directory.glob("*.json"))] if directory.is_dir() else []
    return [record for record in found if record is not None]


def fail_interrupted(directory: Path, status: Callable[[dict], dict], member: str, code: str, what: str) -> None:
    """Mark the jobs a killed process left running FAILED: ``status(record)`` is the part
    of a record holding its ``member`` status."""
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else ():
        record = read_record(path)
        if record is not None and status(record)[member] == "IN_PROGRESS":
            status(record).update({member: "FAILED", "FailureCode": code,
                                   "FailureMessage": f"The node stopped before the {what} completed"})
            write_record(path, record)
