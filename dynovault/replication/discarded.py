"""Records a re-bootstrap had to give up, kept where an operator finds them.

A node whose log forked (it led while another node led, or followed a leader that was
replaced) takes the leader's checkpoint and so loses the records only it held. Some of
them may have been acknowledged to a client. They are written, one JSON object per line,
to ``discarded-records/`` inside the data directory (carried over every later bootstrap),
logged at error level and counted in ``dynovault_replication_discarded_records_total``.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import orjson

from dynovault.replication.lag_metrics import DISCARDED_RECORDS
from dynovault.storage.replog import LogRecord, RecordKind
from dynovault.storage.stored import stored_json

log = logging.getLogger(__name__)

DIRECTORY = "discarded-records"


def carry_over(old_data: Path, new_data: Path) -> None:
    """Move what earlier bootstraps discarded into the directory about to replace the data."""
    previous = old_data / DIRECTORY
    if previous.is_dir():
        shutil.move(str(previous), str(new_data / DIRECTORY))


def keep(new_data: Path, records: list[tuple[int, LogRecord]], shown_under: Path, leader_url: str) -> Path | None:
    """Write ``records`` to a new file in the directory about to become the data directory
    ``shown_under`` (so the swap that follows keeps it) and say so at error level; return
    the file's path as it will be once the swap is done."""
    if not records:
        return None
    directory = new_data / DIRECTORY
    directory.mkdir(exist_ok=True)
    first, last = records[0][0], records[-1][0]
    path = directory / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-lsn{first}-{last}.jsonl"
    with open(path, "wb") as sink:
        for lsn, record in records:
            sink.write(orjson.dumps(_entry(lsn, record)) + b"\n")
    kept_in = shown_under / DIRECTORY / path.name
    DISCARDED_RECORDS.inc(len(records))
    log.error(
        "records discarded by a re-bootstrap: this node's log forked from its leader's",
        extra={"records": len(records), "first_lsn": first, "last_lsn": last, "file": str(kept_in), "leader": leader_url},
    )
    return kept_in


def _entry(lsn: int, record: LogRecord) -> dict:
    entry = {"lsn": lsn, "kind": record.kind.name.lower(), "commit_time_us": record.commit_time_us,
             "table": record.table, "key": record.key.hex()}
    if record.kind is RecordKind.PUT_ITEM:
        entry["item"] = orjson.loads(stored_json(record.value))
    elif record.kind is RecordKind.PUT_TABLE:
        entry["table_description"] = orjson.loads(record.value)
    return entry
