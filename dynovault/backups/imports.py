"""ImportTable: a new table filled from the objects under an S3 prefix (or the local
directory standing for it) in DynamoDB JSON, Ion or CSV, gzipped, zstd-compressed or not.

The table is created at once, CREATING, and its items are written through the normal
commit path a chunk at a time. A line that holds no valid item for the table is counted
in ErrorCount and logged (object, line number, reason), and the import goes on; an import
that cannot go on (no objects, an object that does not decompress, a process stopped
midway) is FAILED and its table deleted, so no half-filled table is ever left ACTIVE.

Objects an export writes beside its data (``manifest-*``, ``*.checksum``, ``_started``)
are skipped, so the prefix of an export can be imported as it is.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import zstandard

from dynovault.backups import jobs
from dynovault.backups.destinations import Bucket, bucket, checked_key
from dynovault.backups.formats import CSV, ION, BadLine, Item, csv_items, dynamodb_json_item, ion_item
from dynovault.backups.restore import Chunk, fill_table
from dynovault.errors import DynamoError, ImportConflictException, ImportNotFoundException
from dynovault.items import store_form, validated_item
from dynovault.node import FILLING_MEMBER, Node, table_name
from dynovault.storage.engine import Table
from dynovault.tables import new_table_description

log = logging.getLogger(__name__)

# Lines checked per step in a thread; bad lines logged per import at most.
CHECK_CHUNK = 2000
LOGGED_ERRORS = 100
MAX_LIST_RESULTS = 25
_ID_IN_ARN = "/import/"
_CREATION_MEMBERS = ("TableName", "AttributeDefinitions", "KeySchema", "BillingMode", "ProvisionedThroughput",
                     "OnDemandThroughput", "GlobalSecondaryIndexes")


class ImportSourceError(Exception):
    """The source of an import cannot be read."""


def _records_dir(node: Node) -> Path:
    return node.backup_dir / "imports"


def import_table(node: Node, request: dict) -> dict:
    """Create the table (CREATING) and fill it in the background; answer the
    ImportTableDescription."""
    earlier = _same_token(node, request)
    if earlier is not None:
        return earlier
    checked_key(request["S3BucketSource"].get("S3KeyPrefix") or "x")
    parameters = request["TableCreationParameters"]
    definition = {key: parameters[key] for key in _CREATION_MEMBERS if key in parameters}
    description = {**new_table_description(node, definition), FILLING_MEMBER: True}
    import_id = jobs.new_id()
    record = {
        "ImportArn": f"{node.table_arn(description['TableName'])}/import/{import_id}",
        "ImportStatus": "IN_PROGRESS",
        "TableArn": node.table_arn(description["TableName"]),
        "TableId": description["TableId"],
        "S3BucketSource": request["S3BucketSource"],
        "ErrorCount": 0,
        "InputFormat": request["InputFormat"],
        "InputCompressionType": request.get("InputCompressionType", "NONE"),
        "TableCreationParameters": parameters,
        "StartTime": time.time(),
        "ProcessedSizeBytes": 0,
        "ProcessedItemCount": 0,
        "ImportedItemCount": 0,
        **{key: request[key] for key in ("ClientToken", "InputFormatOptions") if key in request},
    }
    path = _records_dir(node) / f"{import_id}.json"
    jobs.write_record(path, record)
    node.store.put_table(description)
    jobs.start("import", record["ImportArn"], _run(node, description, record, path))
    return record


def _same_token(node: Node, request: dict) -> dict | None:
    token = request.get("ClientToken")
    if token is None:
        return None
    for record in _records(node):
        if record.get("ClientToken") == token:
            if (record["S3BucketSource"], record["TableCreationParameters"]) != (
                    request["S3BucketSource"], request["TableCreationParameters"]):
                raise ImportConflictException(
                    f"Import with ClientToken {token} already exists with different parameters")
            return record
    return None


@dataclass
class _Progress:
    """What an import has read so far, as its record reports it."""

    record: dict
    path: Path
    logged: int = 0
    errors: list[str] = field(default_factory=list)

    def count(self, processed: int, imported: int, size: int, errors: list[str]) -> None:
        self.record["ProcessedItemCount"] += processed
        self.record["ImportedItemCount"] += imported
        self.record["ProcessedSizeBytes"] += size
        self.record["ErrorCount"] += len(errors)
        for error in errors[: max(LOGGED_ERRORS - self.logged, 0)]:
            log.warning("import line refused", extra={"job": self.record["ImportArn"], "reason": error})
        self.logged += len(errors)

    async def save(self) -> None:
        await asyncio.to_thread(jobs.write_record, self.path, self.record)


async def _run(node: Node, description: dict, record: dict, path: Path) -> None:
    progress = _Progress(record, path)
    try:
        await fill_table(node, description, _items(node, description, progress), "import")
    except Exception as error:
        record.update(ImportStatus="FAILED", EndTime=time.time(), FailureCode=type(error).__name__,
                      FailureMessage=str(error)[:1000])
        await progress.save()
        raise
    record.update(ImportStatus="COMPLETED", EndTime=time.time())
    await progress.save()


async def _items(node: Node, description: dict, progress: _Progress) -> AsyncIterator[Chunk]:
    record = progress.record
    source = record["S3BucketSource"]
    target = await asyncio.to_thread(bucket, node, source["S3Bucket"])
    keys = [key for key in await asyncio.to_thread(target.keys, source.get("S3KeyPrefix", "")) if _is_data(key)]
    if not keys:
        raise ImportSourceError(f"No objects found under s3://{source['S3Bucket']}/{source.get('S3KeyPrefix', '')}")
    table = node.store.tables[description["TableName"]]
    for key in keys:
        lines, size = await asyncio.to_thread(_read, target, key, record)
        for first in range(0, len(lines), CHECK_CHUNK):
            part = lines[first : first + CHECK_CHUNK]
            chunk, errors = await asyncio.to_thread(_checked, table, key, first, part)
            progress.count(len(part), len(chunk), size if first == 0 else 0, errors)
            yield chunk
        await progress.save()


def _is_data(key: str) -> bool:
    name = PurePosixPath(key).name
    return not (name.startswith("manifest-") or name.endswith(".checksum") or name == "_started")


def _read(target: Bucket, key: str, record: dict) -> tuple[list[Item | BadLine], int]:
    """The items (or the reasons a line holds none) of one object, and its size."""
    data = target.get(key)
    text = _decompressed(data, record["InputCompressionType"], key)
    input_format = record["InputFormat"]
    if input_format == CSV:
        options = (record.get("InputFormatOptions") or {}).get("Csv") or {}
        parameters = record["TableCreationParameters"]
        types = {d["AttributeName"]: d["AttributeType"] for d in parameters["AttributeDefinitions"]}
        return list(csv_items(text.decode("utf-8-sig"), options.get("Delimiter", ","), options.get("HeaderList"),
                              types)), len(data)
    parse = ion_item if input_format == ION else dynamodb_json_item
    items: list[Item | BadLine] = []
    for line in text.splitlines():
        if line.strip():
            try:
                items.append(parse(line))
            except BadLine as refused:
                items.append(refused)
    return items, len(data)


def _decompressed(data: bytes, compression: str, key: str) -> bytes:
    try:
        if compression == "GZIP":
            return gzip.decompress(data)
        if compression == "ZSTD":
            return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    except (OSError, EOFError, zstandard.ZstdError) as error:
        raise ImportSourceError(f"{key} is not {compression}-compressed: {error}") from None
    return data


def _checked(table: Table, key: str, first: int, items: Iterable[Item | BadLine]) -> tuple[Chunk, list[str]]:
    """The (storage key, stored value) of each valid item, and why each other line was refused."""
    chunk: Chunk = []
    errors = []
    for number, item in enumerate(items, first + 1):
        try:
            if isinstance(item, BadLine):
                raise item
            canonical, size, storage_key = validated_item(table, item)
        except (BadLine, DynamoError) as refused:
            errors.append(f"{key} line {number}: {getattr(refused, 'message', refused)}")
            continue
        chunk.append((storage_key, store_form(canonical, size)))
    return chunk, errors


# ---- DescribeImport / ListImports --------------------------------------------------------


def _records(node: Node) -> list[dict]:
    return jobs.read_records(_records_dir(node))


def describe_import(node: Node, arn: str) -> dict:
    path = jobs.record_path(_records_dir(node), arn, _ID_IN_ARN)
    record = jobs.read_record(path) if path is not None else None
    if record is None or record["ImportArn"] != arn:
        raise ImportNotFoundException(f"Import not found: {arn}")
    return record


def list_imports(node: Node, request: dict) -> dict:
    """Oldest first; NextToken is the hex form of the last import's id (the model asks for
    hex digits, in groups of 16)."""
    records = _records(node)
    if "TableArn" in request:
        records = [r for r in records if table_name(r["TableArn"]) == table_name(request["TableArn"])]
    if "NextToken" in request:
        after = bytes.fromhex(request["NextToken"]).rstrip(b"\0").decode(errors="replace")
        records = [r for r in records if r["ImportArn"].rsplit(_ID_IN_ARN, 1)[1] > after]
    limit = request.get("PageSize", MAX_LIST_RESULTS)
    page = records[:limit]
    summaries = [{key: r[key] for key in ("ImportArn", "ImportStatus", "TableArn", "S3BucketSource", "InputFormat",
                                           "StartTime", "EndTime") if key in r} for r in page]
    answer: dict = {"ImportSummaryList": summaries}
    if len(records) > limit:
        token = page[-1]["ImportArn"].rsplit(_ID_IN_ARN, 1)[1].encode().hex()
        answer["NextToken"] = token.ljust(max(112, -(-len(token) // 16) * 16), "0")
    return answer


def fail_unfinished_imports(node: Node) -> None:
    """Imports a killed process left IN_PROGRESS never finished: they are FAILED (their
    tables are dropped by the leader as it starts, see ``restore.drop_unfinished_fills``)."""
    jobs.fail_interrupted(_records_dir(node), lambda record: record, "ImportStatus", "ImportInterrupted", "import")
