"""Backups, restores, point-in-time restores, exports and imports of a table of ~1 KB items.

Starts one ``dynovault serve`` process on a free port, loads ``--items`` items of about
1 KB (BatchWriteItem over a few connections), enables point-in-time recovery and then
measures, with unmodified boto3 polling the Describe calls every 50 ms, the wall time of:

* CreateBackup until AVAILABLE, and RestoreTableFromBackup until the new table is ACTIVE;
* RestoreTableToPointInTime (latest time) with 0 and with ``--changes`` item changes made
  since the last recovery snapshot (the history a restore replays on top of it);
* ExportTableToPointInTime (DYNAMODB_JSON and ION, to a local directory) until COMPLETED,
  and ImportTable of each export until COMPLETED.

Each restored or imported table is deleted once measured, so the next operation does not
pay for compacting its writes. Prints a markdown table and writes ``archives.json`` into
``--out``. Every number is items/s of the whole operation as a client sees it, from
request to completion.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.config import Config

from bench.progress import done, status
from bench.report import add_out_argument, write_json
from bench.workloads import BATCH_WRITE_ITEMS, create_table_request, item, preload_requests, raw_request, write_all
from dynovault.testing.processes import ServerProcess

TABLE = "archived"
POLL_SECONDS = 0.05


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=int, default=200_000, help="items in the table (default 200,000)")
    parser.add_argument("--changes", type=int, default=50_000,
                        help="item changes since the last snapshot for the second point-in-time restore")
    add_out_argument(parser)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="dynovault-archives-") as workdir:
        root = Path(workdir)
        server = ServerProcess(root / "data", ["--export-dir", str(root / "exports"),
                                               "--pitr-snapshot-interval", "100000"]).start(timeout=60)
        try:
            rows = _measure(server, root, args)
        finally:
            server.stop()
    table = _markdown(rows, args)
    print(table)
    write_json(args.out / "archives.json", {
        "items": args.items, "changes": args.changes, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "rows": rows,
    })
    return 0


def _client(url: str):
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                        aws_secret_access_key="bench", config=Config(retries={"max_attempts": 1}, read_timeout=120))


def _until(check: Callable[[], bool]) -> None:
    while not check():
        time.sleep(POLL_SECONDS)


def _timed(what: str, items: int, start: Callable[[], object], finished: Callable[[object], bool]) -> dict:
    status(f"{what}...")
    began = time.perf_counter()
    started = start()
    _until(lambda: finished(started))
    seconds = time.perf_counter() - began
    done(f"{what}: {seconds:.2f} s ({items / seconds:,.0f} items/s)")
    return {"operation": what, "items": items, "seconds": round(seconds, 3), "items_per_second": round(items / seconds)}


def _measure(server: ServerProcess, root: Path, args: argparse.Namespace) -> list[dict]:
    client = _client(server.url)
    _load(server, client, args.items)
    client.update_continuous_backups(TableName=TABLE,
                                     PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    _until(lambda: "EarliestRestorableDateTime" in client.describe_continuous_backups(TableName=TABLE)[
        "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"])
    rows = []
    backup_arn: list[str] = []

    def backup_done(details: dict) -> bool:
        backup_arn[:] = [details["BackupArn"]]
        answer = client.describe_backup(BackupArn=details["BackupArn"])["BackupDescription"]
        return answer["BackupDetails"]["BackupStatus"] == "AVAILABLE"

    rows.append(_timed("CreateBackup → AVAILABLE", args.items,
                       lambda: client.create_backup(TableName=TABLE, BackupName="bench")["BackupDetails"], backup_done))
    rows.append(_timed("RestoreTableFromBackup → ACTIVE", args.items,
                       lambda: client.restore_table_from_backup(TargetTableName="from-backup", BackupArn=backup_arn[0]),
                       lambda _: _active(client, "from-backup")))
    client.delete_table(TableName="from-backup")
    rows.append(_timed("RestoreTableToPointInTime, 0 changes since the snapshot → ACTIVE", args.items,
                       lambda: _restore_latest(client, "pitr-0"), lambda _: _active(client, "pitr-0")))
    client.delete_table(TableName="pitr-0")
    _change(server, args.changes)
    rows.append(_timed(f"RestoreTableToPointInTime, {args.changes:,} changes since the snapshot → ACTIVE", args.items,
                       lambda: _restore_latest(client, "pitr-changed"), lambda _: _active(client, "pitr-changed")))
    client.delete_table(TableName="pitr-changed")
    arn = client.describe_table(TableName=TABLE)["Table"]["TableArn"]
    for output_format in ("DYNAMODB_JSON", "ION"):
        exported: list[dict] = []

        def export_done(answer: dict) -> bool:
            description = client.describe_export(ExportArn=answer["ExportDescription"]["ExportArn"])[
                "ExportDescription"]
            exported[:] = [description]
            return description["ExportStatus"] != "IN_PROGRESS"

        rows.append(_timed(f"ExportTableToPointInTime {output_format} → COMPLETED", args.items,
                           lambda fmt=output_format: client.export_table_to_point_in_time(
                               TableArn=arn, S3Bucket="bench", ExportFormat=fmt), export_done))
        prefix = exported[0]["ExportManifest"].rsplit("/", 1)[0]
        rows.append(_timed(f"ImportTable {output_format} → COMPLETED", args.items,
                           lambda fmt=output_format, p=prefix: client.import_table(
                               S3BucketSource={"S3Bucket": "bench", "S3KeyPrefix": p}, InputFormat=fmt,
                               InputCompressionType="GZIP",
                               TableCreationParameters={**_creation(), "TableName": f"imported-{fmt.lower()}"}),
                           lambda answer: _imported(client, answer)))
        client.delete_table(TableName=f"imported-{output_format.lower()}")
    return rows


def _creation() -> dict:
    request = create_table_request(TABLE)
    return {key: request[key] for key in ("KeySchema", "AttributeDefinitions", "BillingMode")}


def _active(client, name: str) -> bool:
    return client.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"


def _restore_latest(client, target: str) -> object:
    return client.restore_table_to_point_in_time(SourceTableName=TABLE, TargetTableName=target,
                                                 UseLatestRestorableTime=True)


def _imported(client, answer: dict) -> bool:
    description = client.describe_import(ImportArn=answer["ImportTableDescription"]["ImportArn"])[
        "ImportTableDescription"]
    if description["ImportStatus"] == "FAILED":
        raise RuntimeError(f"import failed: {description.get('FailureMessage')}")
    return description["ImportStatus"] == "COMPLETED"


def _load(server: ServerProcess, client, items: int) -> None:
    client.create_table(**create_table_request(TABLE))
    started = time.perf_counter()

    def progress(answers: int) -> None:
        status(f"loading: {min(answers * BATCH_WRITE_ITEMS, items):,}/{items:,} items")

    asyncio.run(write_all("dynovault", server.port, server.process.pid, preload_requests(TABLE, items), progress))
    done(f"loaded {items:,} items in {time.perf_counter() - started:.1f} s")


def _change(server: ServerProcess, changes: int) -> None:
    """Rewrite ``changes`` items (a new value each) after the recovery snapshot."""
    requests = [
        raw_request("BatchWriteItem", {"RequestItems": {TABLE: [
            {"PutRequest": {"Item": {**item(i), "clicks": {"N": "-1"}}}}
            for i in range(start, min(start + BATCH_WRITE_ITEMS, changes))
        ]}})
        for start in range(0, changes, BATCH_WRITE_ITEMS)
    ]
    asyncio.run(write_all("dynovault", server.port, server.process.pid, requests,
                          lambda answers: status(f"changing: {answers * BATCH_WRITE_ITEMS:,}/{changes:,} items")))
    done(f"changed {changes:,} items since the recovery snapshot")


def _markdown(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [f"{args.items:,} items of ~1 KB, one server, wall time from request to completion", "",
             "| operation | seconds | items/s |", "|---|---:|---:|"]
    lines += [f"| {row['operation']} | {row['seconds']:.2f} | {row['items_per_second']:,} |" for row in rows]
    return "\n".join(lines)
