"""Exports to S3 (or a local directory standing for it) in DynamoDB's layout.

A full export writes the table as of ExportTime; an incremental one writes, for each item
changed between ExportFromTime and ExportToTime, one line with its keys, its image at the
end of the window (NewImage, absent when it was deleted) and, with NEW_AND_OLD_IMAGES,
its image at the start (OldImage). Both read the table through point-in-time recovery
(``continuous``), so they need it enabled, as DynamoDB does.

Objects, under ``<S3Prefix>/AWSDynamoDB/<export id>/``: ``_started`` first, the gzipped
data files ``data/<name>.json.gz`` (``.ion.gz`` for Ion), then ``manifest-files.json``
(one JSON line per data file) and last ``manifest-summary.json`` with their ``.checksum``
files (MD5, hex). An export is COMPLETED only once its summary is written, so a process
killed midway leaves no summary, and its record says FAILED after the restart.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import orjson

from dynovault.backups import jobs
from dynovault.backups.continuous import (
    PointInTime,
    checked_time,
    history_after,
    item_value,
    items_at,
    point_in_time,
)
from dynovault.backups.destinations import Bucket, bucket, checked_key, joined
from dynovault.backups.formats import DYNAMODB_JSON, ION, change_line, export_line
from dynovault.backups.ondemand import snapshot_chunks
from dynovault.errors import (
    ExportConflictException,
    ExportNotFoundException,
    InvalidExportTimeException,
    ValidationException,
)
from dynovault.node import Node, table_name
from dynovault.storage.engine import Table
from dynovault.storage.stored import stored_json

# Items per data file.
FILE_ITEMS = 20_000
MAX_LIST_RESULTS = 25
_ID_IN_ARN = "/export/"


def _records_dir(node: Node) -> Path:
    return node.backup_dir / "exports"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---- ExportTableToPointInTime ------------------------------------------------------------


def export_table(node: Node, request: dict) -> dict:
    """Check the request, record the export IN_PROGRESS and run it in the background;
    answer its ExportDescription."""
    source = jobs.source_table(node, request["TableArn"])
    earlier = _same_token(node, request)
    if earlier is not None:
        return earlier
    checked_key(joined(request.get("S3Prefix"), "AWSDynamoDB"))
    export_type = request.get("ExportType", "FULL_EXPORT")
    output_format = request.get("ExportFormat", DYNAMODB_JSON)
    export_id = jobs.new_id()
    description = {
        "ExportArn": f"{node.table_arn(source.name)}/export/{export_id}",
        "ExportStatus": "IN_PROGRESS",
        "StartTime": time.time(),
        "TableArn": node.table_arn(source.name),
        "TableId": source.description["TableId"],
        "S3Bucket": request["S3Bucket"],
        "S3SseAlgorithm": request.get("S3SseAlgorithm", "AES256"),
        "ExportFormat": output_format,
        "ExportType": export_type,
        **{key: request[key] for key in ("ClientToken", "S3BucketOwner", "S3Prefix", "S3SseKmsKeyId")
           if key in request},
    }
    if export_type == "INCREMENTAL_EXPORT":
        window = _incremental_window(node, source, request)
        description["IncrementalExportSpecification"] = window
        start = point_in_time(node, source, window["ExportFromTime"])
        work = _incremental(node, start, window, output_format)
    else:
        if "IncrementalExportSpecification" in request:
            raise ValidationException("IncrementalExportSpecification can only be given with INCREMENTAL_EXPORT")
        requested = jobs.seconds(request["ExportTime"]) if "ExportTime" in request else None
        when = checked_time(node, source, requested, InvalidExportTimeException, "ExportTime")
        description["ExportTime"] = when
        point = point_in_time(node, source, when)
        work = _full_lines(node, point, output_format)
    jobs.write_record(_records_dir(node) / f"{export_id}.json", {"Request": request, "Description": description})
    jobs.start("export", description["ExportArn"], _run(node, description, request, work))
    return description


def _incremental_window(node: Node, source: Table, request: dict) -> dict:
    specification = request.get("IncrementalExportSpecification") or {}
    if "ExportTime" in request:
        raise ValidationException("ExportTime can not be given with INCREMENTAL_EXPORT")
    if "ExportFromTime" not in specification or "ExportToTime" not in specification:
        raise ValidationException("INCREMENTAL_EXPORT needs ExportFromTime and ExportToTime")
    start = checked_time(node, source, jobs.seconds(specification["ExportFromTime"]), InvalidExportTimeException,
                         "ExportFromTime")
    end = checked_time(node, source, jobs.seconds(specification["ExportToTime"]), InvalidExportTimeException,
                       "ExportToTime")
    if start >= end:
        raise InvalidExportTimeException("ExportFromTime must be earlier than ExportToTime")
    view_type = specification.get("ExportViewType", "NEW_AND_OLD_IMAGES")
    return {"ExportFromTime": start, "ExportToTime": end, "ExportViewType": view_type}


def _same_token(node: Node, request: dict) -> dict | None:
    """The export an earlier request with the same ClientToken started (the same request
    again), or the refusal of a different request reusing the token."""
    token = request.get("ClientToken")
    if token is None:
        return None
    for record in _records(node):
        if record["Description"].get("ClientToken") == token:
            if record["Request"] != request:
                raise ExportConflictException(
                    f"Export with ClientToken {token} already exists with different parameters")
            return record["Description"]
    return None


async def _full_lines(node: Node, point: PointInTime, output_format: str) -> AsyncIterator[list[bytes]]:
    async for chunk in items_at(node, point):
        if chunk:
            yield await asyncio.to_thread(lambda part=chunk: [export_line(output_format, v) for _, v in part])


async def _incremental(node: Node, start: PointInTime, window: dict, output_format: str
                       ) -> AsyncIterator[list[bytes]]:
    """One line per item whose value at the end of the window differs from its value at
    its start (an item created and deleted within it is left out)."""
    start_us, end_us = start.when_us, int(window["ExportToTime"] * 1e6)
    before: dict[bytes, bytes | None] = {}
    during: dict[bytes, tuple[bytes | None, int]] = {}
    with start.reader:
        async for records in history_after(start, node):
            for _, record in records:
                if record.commit_time_us <= start_us:
                    before[record.key] = item_value(record)
                elif record.commit_time_us <= end_us:
                    during[record.key] = (item_value(record), record.commit_time_us)
        old = {key: before[key] for key in during if key in before}
        wanted = set(during) - set(old)
        async for chunk in snapshot_chunks(start.reader):
            old.update((key, value) for key, value in chunk if key in wanted)
    with_old = window["ExportViewType"] == "NEW_AND_OLD_IMAGES"
    changed = [(key, new, old.get(key), micros) for key, (new, micros) in during.items() if old.get(key) != new]
    for first in range(0, len(changed), FILE_ITEMS):
        part = changed[first : first + FILE_ITEMS]
        yield await asyncio.to_thread(
            lambda part=part: [_change(output_format, start.source, *change, with_old) for change in part])


def _change(output_format: str, source: Table, _key: bytes, new: bytes | None, old: bytes | None, micros: int,
            with_old: bool) -> bytes:
    images = {"NewImage": new, "OldImage": old if with_old else None}
    fields: dict = {name: orjson.loads(stored_json(value)) for name, value in images.items() if value is not None}
    either = orjson.loads(stored_json(new if new is not None else old))
    return change_line(output_format, {"Metadata": micros,
                                       "Keys": {name: either[name] for name in source.schema.names}, **fields})


# ---- writing the objects -----------------------------------------------------------------


@dataclass
class _DataFiles:
    """Data files filled line by line; each is compressed and put once it holds
    FILE_ITEMS lines (or at the end: at least one file, maybe empty, as DynamoDB does)."""

    target: Bucket
    directory: str
    suffix: str
    entries: list[dict] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    item_count: int = 0
    billed_bytes: int = 0

    async def add(self, lines: list[bytes]) -> None:
        self.lines += lines
        while len(self.lines) >= FILE_ITEMS:
            await self._put(self.lines[:FILE_ITEMS])
            del self.lines[:FILE_ITEMS]

    async def finish(self) -> None:
        if self.lines or not self.entries:
            await self._put(self.lines)
            self.lines = []

    async def _put(self, lines: list[bytes]) -> None:
        key = f"{self.directory}/data/{base64.b32encode(secrets.token_bytes(15)).decode().lower()}{self.suffix}"
        data = await asyncio.to_thread(gzip.compress, b"".join(lines), 6)
        await asyncio.to_thread(self.target.put, key, data)
        digest = hashlib.md5(data)
        self.entries.append({"itemCount": len(lines), "md5Checksum": base64.b64encode(digest.digest()).decode(),
                             "etag": digest.hexdigest(), "dataFileS3Key": key})
        self.item_count += len(lines)
        self.billed_bytes += sum(map(len, lines))
        jobs.progress("export", self.directory, len(lines))


async def _run(node: Node, description: dict, request: dict, lines: AsyncIterator[list[bytes]]) -> None:
    record_path = _records_dir(node) / f"{description['ExportArn'].rsplit(_ID_IN_ARN, 1)[1]}.json"
    try:
        await _write(node, description, lines)
    except Exception as error:
        description.update(ExportStatus="FAILED", EndTime=time.time(), FailureCode=type(error).__name__,
                           FailureMessage=str(error)[:1000])
        await asyncio.to_thread(jobs.write_record, record_path, {"Request": request, "Description": description})
        raise
    await asyncio.to_thread(jobs.write_record, record_path, {"Request": request, "Description": description})


async def _write(node: Node, description: dict, lines: AsyncIterator[list[bytes]]) -> None:
    target = await asyncio.to_thread(bucket, node, description["S3Bucket"])
    export_id = description["ExportArn"].rsplit(_ID_IN_ARN, 1)[1]
    directory = joined(description.get("S3Prefix"), "AWSDynamoDB", export_id)
    await asyncio.to_thread(target.put, f"{directory}/_started", b"")
    files = _DataFiles(target, directory, ".ion.gz" if description["ExportFormat"] == ION else ".json.gz")
    async for part in lines:
        await files.add(part)
    await files.finish()
    manifest_files = b"".join(orjson.dumps(entry) + b"\n" for entry in files.entries)
    summary_key = f"{directory}/manifest-summary.json"
    end = time.time()
    summary = _summary(description, files, f"{directory}/manifest-files.json", end)
    for key, data in ((f"{directory}/manifest-files.json", manifest_files), (summary_key, summary)):
        await asyncio.to_thread(target.put, key.removesuffix(".json") + ".checksum",
                                hashlib.md5(data).hexdigest().encode())
        await asyncio.to_thread(target.put, key, data)
    description.update(ExportStatus="COMPLETED", EndTime=end, ExportManifest=summary_key,
                       ItemCount=files.item_count, BilledSizeBytes=files.billed_bytes)


def _summary(description: dict, files: _DataFiles, manifest_files_key: str, end: float) -> bytes:
    summary = {
        "version": "2020-06-30",
        "exportArn": description["ExportArn"],
        "startTime": _iso(description["StartTime"]),
        "endTime": _iso(end),
        "tableArn": description["TableArn"],
        "tableId": description["TableId"],
        "s3Bucket": description["S3Bucket"],
        "s3Prefix": description.get("S3Prefix"),
        "s3SseAlgorithm": description["S3SseAlgorithm"],
        "s3SseKmsKeyId": description.get("S3SseKmsKeyId"),
        "manifestFilesS3Key": manifest_files_key,
        "billedSizeBytes": files.billed_bytes,
        "itemCount": files.item_count,
        "outputFormat": description["ExportFormat"],
    }
    if "ExportTime" in description:
        summary["exportTime"] = _iso(description["ExportTime"])
    else:
        window = description["IncrementalExportSpecification"]
        summary.update(exportType="INCREMENTAL_EXPORT", exportFromTime=_iso(window["ExportFromTime"]),
                       exportToTime=_iso(window["ExportToTime"]), exportViewType=window["ExportViewType"])
    return orjson.dumps(summary)


# ---- DescribeExport / ListExports --------------------------------------------------------


def _records(node: Node) -> list[dict]:
    return jobs.read_records(_records_dir(node))


def describe_export(node: Node, arn: str) -> dict:
    path = jobs.record_path(_records_dir(node), arn, _ID_IN_ARN)
    record = jobs.read_record(path) if path is not None else None
    if record is None or record["Description"]["ExportArn"] != arn:
        raise ExportNotFoundException(f"Export not found: {arn}")
    return record["Description"]


def list_exports(node: Node, request: dict) -> dict:
    """Oldest first; NextToken is the ARN of the last export of the page."""
    wanted = table_name(request["TableArn"]) if "TableArn" in request else None
    descriptions = [record["Description"] for record in _records(node)]
    if wanted is not None:
        descriptions = [d for d in descriptions if table_name(d["TableArn"]) == wanted]
    if "NextToken" in request:
        descriptions = [d for d in descriptions if d["ExportArn"].rsplit(_ID_IN_ARN, 1)[1]
                        > request["NextToken"].rsplit(_ID_IN_ARN, 1)[-1]]
    limit = request.get("MaxResults", MAX_LIST_RESULTS)
    page = descriptions[:limit]
    answer: dict = {"ExportSummaries": [{key: d[key] for key in ("ExportArn", "ExportStatus", "ExportType")}
                                        for d in page]}
    if len(descriptions) > limit:
        answer["NextToken"] = page[-1]["ExportArn"]
    return answer


def fail_unfinished(node: Node) -> None:
    """Exports a killed process left IN_PROGRESS never finished: they are FAILED."""
    jobs.fail_interrupted(_records_dir(node), lambda record: record["Description"], "ExportStatus",
                          "ExportInterrupted", "export")
