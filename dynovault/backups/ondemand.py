"""On-demand backups: a table and the definition of its indexes as of one commit, kept
as files of their own, so a backup outlives its table.

A backup is a directory ``<backup dir>/on-demand/<backup id>/`` holding ``backup.json``
(what DescribeBackup answers, and the source's catalog description) and ``items.snap``
(a table snapshot file, see ``storage/snapshots``). CreateBackup checkpoints the table at
once, records the backup as CREATING and writes the snapshot file in a thread; only once
that file is complete does the record say AVAILABLE. A node restarted with a backup still
CREATING (its process was killed midway) deletes it: it never was AVAILABLE.

Index entries are derived from items, so a backup keeps the index definitions and a
restore rebuilds the entries of the indexes the restored table keeps.
"""

from __future__ import annotations

import asyncio
import copy
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from dynovault.backups import jobs
from dynovault.backups.restore import Chunk, fill_table, restored_description
from dynovault.errors import BackupInUseException, BackupNotFoundException
from dynovault.indexes import GLOBAL, LOCAL
from dynovault.node import Node, table_name
from dynovault.storage.engine import Table
from dynovault.storage.expiry import TTL_MEMBER
from dynovault.storage.snapshots import PendingSnapshot, SnapshotReader, checkpoint_table
from dynovault.tables import describe

RECORD = "backup.json"
ITEMS = "items.snap"
_ARN = re.compile(r"arn:aws:dynamodb:[^:]*:[^:]*:table/[^/]+/backup/(\d{14}-[0-9a-f]{8})")
# Items read from a snapshot file per step of a restore.
READ_CHUNK_ITEMS = 2000


def backups_dir(node: Node) -> Path:
    return node.backup_dir / "on-demand"


def scratch_dir(node: Node) -> Path:
    """Where checkpoints wait to become snapshot files (emptied on start)."""
    return node.backup_dir / "scratch"


def create_backup(node: Node, name_or_arn: str, backup_name: str) -> dict:
    """Take a backup of a table as of now; answer its BackupDetails (CREATING)."""
    table = jobs.source_table(node, name_or_arn)
    backup_id = jobs.new_id()
    arn = f"{node.table_arn(table.name)}/backup/{backup_id}"
    pending = checkpoint_table(node.store, table, scratch_dir(node))
    details = {
        "BackupArn": arn,
        "BackupName": backup_name,
        "BackupSizeBytes": table.size_bytes,
        "BackupStatus": "CREATING",
        "BackupType": "USER",
        "BackupCreationDateTime": pending.taken_at,
    }
    record = {
        "BackupDetails": details,
        "SourceTableDetails": _source_details(node, table),
        "SourceTableFeatureDetails": _feature_details(table.description),
        "Table": copy.deepcopy(table.description),
    }
    directory = backups_dir(node) / backup_id
    try:
        jobs.write_record(directory / RECORD, record)
    except OSError:
        pending.discard()
        raise
    jobs.start("backup", arn, _complete(directory, record, pending))
    return dict(details)


async def _complete(directory: Path, record: dict, pending: PendingSnapshot) -> None:
    arn = record["BackupDetails"]["BackupArn"]
    try:
        totals = await asyncio.to_thread(
            pending.write, directory / ITEMS, lambda items: jobs.progress("backup", arn, items)
        )
        record["BackupDetails"].update(BackupStatus="AVAILABLE", BackupSizeBytes=totals.size_bytes)
        record["SourceTableDetails"].update(ItemCount=totals.items, TableSizeBytes=totals.size_bytes)
        await asyncio.to_thread(jobs.write_record, directory / RECORD, record)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _source_details(node: Node, table: Table) -> dict:
    description = describe(node, table)
    return {
        "TableName": table.name,
        "TableId": description["TableId"],
        "TableArn": description["TableArn"],
        "TableSizeBytes": table.size_bytes,
        "KeySchema": description["KeySchema"],
        "TableCreationDateTime": description["CreationDateTime"],
        "ProvisionedThroughput": {
            "ReadCapacityUnits": description["ProvisionedThroughput"]["ReadCapacityUnits"],
            "WriteCapacityUnits": description["ProvisionedThroughput"]["WriteCapacityUnits"],
        },
        "ItemCount": table.item_count,
        "BillingMode": description["BillingModeSummary"]["BillingMode"],
    }


def _feature_details(description: dict) -> dict:
    features: dict = {}
    for member in (LOCAL, GLOBAL):
        if description.get(member):
            features[member] = [
                {key: index[key] for key in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
                 if key in index}
                for index in description[member]
            ]
    for index in features.get(GLOBAL, ()):
        index["ProvisionedThroughput"] = {
            "ReadCapacityUnits": index["ProvisionedThroughput"]["ReadCapacityUnits"],
            "WriteCapacityUnits": index["ProvisionedThroughput"]["WriteCapacityUnits"],
        }
    if description.get(TTL_MEMBER):
        features["TimeToLiveDescription"] = description[TTL_MEMBER]
    if description.get("SSEDescription"):
        features["SSEDescription"] = description["SSEDescription"]
    return features


def _records(node: Node) -> list[tuple[Path, dict]]:
    directory = backups_dir(node)
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        record = jobs.read_record(entry / RECORD)
        if record is not None:
            found.append((entry, record))
    return found


def _find(node: Node, arn: str) -> tuple[Path, dict]:
    match = _ARN.fullmatch(arn)
    record = jobs.read_record(backups_dir(node) / match.group(1) / RECORD) if match else None
    if record is None or record["BackupDetails"]["BackupArn"] != arn:
        raise BackupNotFoundException(f"Backup not found: {arn}")
    return backups_dir(node) / match.group(1), record


def _description(record: dict) -> dict:
    return {key: record[key] for key in ("BackupDetails", "SourceTableDetails", "SourceTableFeatureDetails")}


def describe_backup(node: Node, arn: str) -> dict:
    return _description(_find(node, arn)[1])


def delete_backup(node: Node, arn: str) -> dict:
    directory, record = _find(node, arn)
    if record["BackupDetails"]["BackupStatus"] == "CREATING":
        raise BackupInUseException(f"Backup is being created: {arn}")
    shutil.rmtree(directory)
    description = _description(record)
    description["BackupDetails"]["BackupStatus"] = "DELETED"
    return description


def list_backups(node: Node, request: dict) -> dict:
    """ListBackups: oldest first; the time range includes its lower bound and excludes its
    upper bound; every backup here is USER."""
    wanted_table = table_name(request["TableName"]) if "TableName" in request else None
    lower, upper = (jobs.seconds(request[bound]) if bound in request else None
                    for bound in ("TimeRangeLowerBound", "TimeRangeUpperBound"))
    summaries = []
    if request.get("BackupType", "USER") in ("USER", "ALL"):
        for _, record in _records(node):
            details, source = record["BackupDetails"], record["SourceTableDetails"]
            created = details["BackupCreationDateTime"]
            if wanted_table not in (None, source["TableName"]):
                continue
            if (lower is not None and created < lower) or (upper is not None and created >= upper):
                continue
            summaries.append({
                "TableName": source["TableName"], "TableId": source["TableId"], "TableArn": source["TableArn"],
                **{key: details[key] for key in details if key != "BackupExpiryDateTime"},
            })
    summaries.sort(key=lambda summary: (summary["BackupCreationDateTime"], summary["BackupArn"]))
    start = request.get("ExclusiveStartBackupArn")
    if start is not None:
        summaries = [summary for summary in summaries if (summary["BackupCreationDateTime"], summary["BackupArn"])
                     > _position(summaries, start)]
    limit = request.get("Limit")
    answer: dict = {"BackupSummaries": summaries[:limit] if limit else summaries}
    if limit and len(summaries) > limit:
        answer["LastEvaluatedBackupArn"] = summaries[limit - 1]["BackupArn"]
    return answer


def _position(summaries: list[dict], arn: str) -> tuple[float, str]:
    """Where a page ended: the backup's own place, or the place its id's time gives it
    (it may have been deleted since)."""
    for summary in summaries:
        if summary["BackupArn"] == arn:
            return summary["BackupCreationDateTime"], arn
    match = _ARN.fullmatch(arn)
    return (int(match.group(1)[:14]) / 1000 if match else 0.0), arn


def restore_from_backup(node: Node, request: dict) -> dict:
    """RestoreTableFromBackup: create the target table (CREATING) and fill it from the
    backup in the background; answer the new table's description."""
    directory, record = _find(node, request["BackupArn"])
    if record["BackupDetails"]["BackupStatus"] != "AVAILABLE":
        raise BackupInUseException(f"Backup is being created: {request['BackupArn']}")
    summary = {"SourceBackupArn": request["BackupArn"], "SourceTableArn": record["SourceTableDetails"]["TableArn"]}
    restored_to = record["BackupDetails"]["BackupCreationDateTime"]
    description = restored_description(node, record["Table"], request, summary, restored_to)
    reader = SnapshotReader(directory / ITEMS)
    table = node.store.put_table(description)
    jobs.start("restore", table.name, _restore(node, description, reader))
    return describe(node, table)


async def _restore(node: Node, description: dict, reader: SnapshotReader) -> None:
    with reader:
        await fill_table(node, description, snapshot_chunks(reader), "restore")


async def snapshot_chunks(reader: SnapshotReader) -> AsyncIterator[Chunk]:
    """A snapshot file's items, read a chunk at a time in a thread."""
    while chunk := await asyncio.to_thread(reader.chunk, READ_CHUNK_ITEMS):
        yield chunk


def discard_unfinished(node: Node) -> None:
    """Delete what a process killed midway left: backups still CREATING, checkpoints."""
    shutil.rmtree(scratch_dir(node), ignore_errors=True)
    for directory, record in _records(node):
        if record["BackupDetails"]["BackupStatus"] == "CREATING":
            shutil.rmtree(directory, ignore_errors=True)
