"""Exports and imports through boto3: DynamoDB's export layout in a local directory and
in a real S3-compatible server (moto's, as a process), full and incremental exports in
DynamoDB JSON and Ion, imports in every format and compression with bad lines counted,
the export → import round trip for every attribute type, and kill -9 mid-export."""

from __future__ import annotations

import base64
import gzip
import hashlib
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import boto3
import orjson
import pytest
import zstandard

from dynovault.testing.processes import CommandServer, ServerProcess
from tests.backup_helpers import (
    by_key,
    create_keyed_table,
    every_type_item,
    from_wire,
    put_items,
    scan_all,
    wait_for,
    wait_table_active,
)
from tests.conftest import client_for
from tests.test_conformance import refusal

ITEMS = [every_type_item(i) for i in range(45)]
KEYED = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                             {"AttributeName": "sk", "AttributeType": "N"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


@pytest.fixture(scope="module")
def export_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("export-root")


@pytest.fixture(scope="module")
def node(tmp_path_factory, export_root):
    server = ServerProcess(tmp_path_factory.mktemp("exporting") / "data",
                           ["--pitr-snapshot-interval", "0.3", "--export-dir", str(export_root)]).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(node):
    return client_for(node.url)


def recoverable(client, name: str, items: list[dict] = ITEMS) -> str:
    """A keyed table with point-in-time recovery holding ``items``; its ARN."""
    create_keyed_table(client, name)
    client.update_continuous_backups(TableName=name,
                                     PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    wait_for(lambda: "EarliestRestorableDateTime" in client.describe_continuous_backups(TableName=name)[
        "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"], "first snapshot")
    put_items(client, name, items)
    return client.describe_table(TableName=name)["Table"]["TableArn"]


def finished_export(client, arn: str) -> dict:
    def done():
        description = client.describe_export(ExportArn=arn)["ExportDescription"]
        return description if description["ExportStatus"] != "IN_PROGRESS" else None

    return wait_for(done, f"export {arn}")


def finished_import(client, arn: str) -> dict:
    def done():
        description = client.describe_import(ImportArn=arn)["ImportTableDescription"]
        return description if description["ImportStatus"] != "IN_PROGRESS" else None

    return wait_for(done, f"import {arn}")


def import_into(client, name: str, bucket: str, prefix: str, input_format: str, compression: str = "GZIP",
                **extra) -> dict:
    answer = client.import_table(
        S3BucketSource={"S3Bucket": bucket, "S3KeyPrefix": prefix}, InputFormat=input_format,
        InputCompressionType=compression, TableCreationParameters={"TableName": name, **KEYED}, **extra,
    )["ImportTableDescription"]
    assert answer["ImportStatus"] == "IN_PROGRESS"
    return finished_import(client, answer["ImportArn"])


def data_lines(root: Path, manifest_key: str) -> list[bytes]:
    """Every data line an export's files manifest lists, checking each file's MD5."""
    lines = []
    for entry in (root / manifest_key).read_bytes().splitlines():
        listed = orjson.loads(entry)
        data = (root / listed["dataFileS3Key"]).read_bytes()
        assert base64.b64decode(listed["md5Checksum"]) == hashlib.md5(data).digest()
        content = gzip.decompress(data).splitlines()
        assert len(content) == listed["itemCount"]
        lines += content
    return lines


@pytest.mark.parametrize("output_format", ["DYNAMODB_JSON", "ION"])
def test_full_export_writes_dynamodbs_layout_and_imports_back_equal(client, export_root, table_name, output_format):
    arn = recoverable(client, table_name)
    answer = client.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports", S3Prefix="nightly/run",
                                                  ExportFormat=output_format)["ExportDescription"]
    assert answer["ExportStatus"] == "IN_PROGRESS" and answer["ExportArn"].startswith(arn + "/export/")
    export = finished_export(client, answer["ExportArn"])
    assert export["ExportStatus"] == "COMPLETED" and export["ItemCount"] == len(ITEMS)
    assert export["ExportFormat"] == output_format and export["ExportType"] == "FULL_EXPORT"
    bucket = export_root / "exports"
    directory = export["ExportManifest"].rsplit("/", 1)[0]
    assert directory == "nightly/run/AWSDynamoDB/" + export["ExportArn"].rsplit("/", 1)[1]
    assert (bucket / directory / "_started").exists()
    summary = orjson.loads((bucket / export["ExportManifest"]).read_bytes())
    assert summary["version"] == "2020-06-30" and summary["exportArn"] == export["ExportArn"]
    assert summary["itemCount"] == len(ITEMS) and summary["outputFormat"] == output_format
    assert summary["s3Bucket"] == "exports" and summary["s3Prefix"] == "nightly/run"
    assert (bucket / directory / "manifest-summary.checksum").read_text() == hashlib.md5(
        (bucket / export["ExportManifest"]).read_bytes()).hexdigest()
    lines = data_lines(bucket, summary["manifestFilesS3Key"])
    assert len(lines) == len(ITEMS)
    if output_format == "DYNAMODB_JSON":
        assert by_key([from_wire(orjson.loads(line)["Item"]) for line in lines]) == by_key(ITEMS)
    else:
        assert all(line.startswith(b"$ion_1_0 {Item:") for line in lines)
        assert b"$dynamodb_SS::" in lines[0] and b"{{" in lines[0]
    imported = import_into(client, table_name + "-imported", "exports", directory, output_format)
    assert imported["ImportStatus"] == "COMPLETED", imported
    assert (imported["ErrorCount"], imported["ImportedItemCount"], imported["ProcessedItemCount"]) \
        == (0, len(ITEMS), len(ITEMS))
    assert wait_table_active(client, table_name + "-imported")["ItemCount"] == len(ITEMS)
    assert by_key(scan_all(client, table_name + "-imported")) == by_key(ITEMS)


def test_export_at_a_past_time_and_an_incremental_export(client, export_root, table_name):
    arn = recoverable(client, table_name)
    time.sleep(0.01)
    middle = time.time()
    time.sleep(0.01)
    changed = every_type_item(3) | {"s": {"S": "changed"}}
    client.put_item(TableName=table_name, Item=changed)
    client.put_item(TableName=table_name, Item=every_type_item(100))
    client.delete_item(TableName=table_name, Key={"pk": ITEMS[4]["pk"], "sk": ITEMS[4]["sk"]})
    client.put_item(TableName=table_name, Item=every_type_item(101))
    client.delete_item(TableName=table_name, Key={"pk": {"S": "p3"}, "sk": {"N": "101"}})
    end = time.time()

    past = finished_export(client, client.export_table_to_point_in_time(
        TableArn=arn, S3Bucket="exports", ExportTime=at(middle))["ExportDescription"]["ExportArn"])
    assert past["ItemCount"] == len(ITEMS)
    summary = orjson.loads((export_root / "exports" / past["ExportManifest"]).read_bytes())
    items = [from_wire(orjson.loads(line)["Item"])
             for line in data_lines(export_root / "exports", summary["manifestFilesS3Key"])]
    assert by_key(items) == by_key(ITEMS)

    incremental = finished_export(client, client.export_table_to_point_in_time(
        TableArn=arn, S3Bucket="exports", ExportType="INCREMENTAL_EXPORT",
        IncrementalExportSpecification={"ExportFromTime": at(middle), "ExportToTime": at(end)},
    )["ExportDescription"]["ExportArn"])
    assert incremental["ExportStatus"] == "COMPLETED" and incremental["ItemCount"] == 3
    assert incremental["IncrementalExportSpecification"]["ExportViewType"] == "NEW_AND_OLD_IMAGES"
    summary = orjson.loads((export_root / "exports" / incremental["ExportManifest"]).read_bytes())
    assert summary["exportType"] == "INCREMENTAL_EXPORT"
    lines = [orjson.loads(line) for line in data_lines(export_root / "exports", summary["manifestFilesS3Key"])]
    by_sk = {line["Keys"]["sk"]["N"]: line for line in lines}
    assert set(by_sk) == {"3", "4", "100"}
    assert by_sk["3"]["NewImage"]["s"] == {"S": "changed"} and by_sk["3"]["OldImage"]["s"] == ITEMS[3]["s"]
    assert "NewImage" not in by_sk["4"] and by_key([from_wire(by_sk["4"]["OldImage"])]) == by_key([ITEMS[4]])
    assert "OldImage" not in by_sk["100"]
    assert all(middle * 1e6 < int(line["Metadata"]["WriteTimestampMicros"]["N"]) <= end * 1e6 for line in lines)


def test_export_refusals_idempotency_and_listing(client, table_name):
    create_keyed_table(client, table_name, with_indexes=False)
    plain_arn = client.describe_table(TableName=table_name)["Table"]["TableArn"]
    assert refusal(client.export_table_to_point_in_time, TableArn=plain_arn, S3Bucket="exports")[0] \
        == "PointInTimeRecoveryUnavailableException"
    arn = recoverable(client, table_name + "-r", ITEMS[:3])
    assert refusal(client.export_table_to_point_in_time, TableArn=arn, S3Bucket="exports",
                   ExportTime=at(time.time() - 3600))[0] == "InvalidExportTimeException"
    assert refusal(client.export_table_to_point_in_time, TableArn=arn, S3Bucket="exports",
                   ExportType="INCREMENTAL_EXPORT")[0] == "ValidationException"
    missing = arn + "/export/01700000000000-0badf00d"
    assert refusal(client.describe_export, ExportArn=missing) == (
        "ExportNotFoundException", f"Export not found: {missing}")
    first = client.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports", ClientToken="same-token")
    again = client.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports", ClientToken="same-token")
    assert first["ExportDescription"]["ExportArn"] == again["ExportDescription"]["ExportArn"]
    assert refusal(client.export_table_to_point_in_time, TableArn=arn, S3Bucket="elsewhere",
                   ClientToken="same-token")[0] == "ExportConflictException"
    second = client.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports")["ExportDescription"]
    for export in (first["ExportDescription"], second):
        finished_export(client, export["ExportArn"])
    pages, token = [], {}
    while True:
        page = client.list_exports(TableArn=arn, MaxResults=1, **token)
        pages += page["ExportSummaries"]
        if "NextToken" not in page:
            break
        token = {"NextToken": page["NextToken"]}
    assert [summary["ExportArn"] for summary in pages] == [first["ExportDescription"]["ExportArn"],
                                                           second["ExportArn"]]
    assert pages[0] == {"ExportArn": pages[0]["ExportArn"], "ExportStatus": "COMPLETED", "ExportType": "FULL_EXPORT"}


def write_source(root: Path, bucket: str, key: str, data: bytes) -> None:
    path = root / bucket / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_imports_count_bad_lines_and_read_every_format_and_compression(client, export_root, table_name):
    good = [every_type_item(i) for i in range(5)]
    lines = [orjson.dumps({"Item": item}, default=lambda raw: base64.b64encode(raw).decode()) for item in good]
    lines[2:2] = [b"not json", orjson.dumps({"NoItem": {}}), orjson.dumps({"Item": {"pk": {"S": "missing-sk"}}})]
    write_source(export_root, "sources", "json/part-1.json.zst", zstandard.ZstdCompressor().compress(b"\n".join(lines)))
    imported = import_into(client, table_name + "-json", "sources", "json/", "DYNAMODB_JSON", "ZSTD")
    assert imported["ImportStatus"] == "COMPLETED"
    assert (imported["ErrorCount"], imported["ImportedItemCount"], imported["ProcessedItemCount"]) == (3, 5, 8)
    assert by_key(scan_all(client, table_name + "-json")) == by_key(good)

    csv = "pk,sk,colour,size\na,1,red,\nb,2,,10\nc,not-a-number,blue,1\nd,3,green,2,extra\n"
    write_source(export_root, "sources", "csv/rows.csv", csv.encode())
    imported = import_into(client, table_name + "-csv", "sources", "csv/", "CSV", "NONE")
    assert (imported["ErrorCount"], imported["ImportedItemCount"]) == (2, 2)
    rows = {item["pk"]["S"]: item for item in scan_all(client, table_name + "-csv")}
    assert rows["a"] == {"pk": {"S": "a"}, "sk": {"N": "1"}, "colour": {"S": "red"}}
    assert rows["b"] == {"pk": {"S": "b"}, "sk": {"N": "2"}, "size": {"S": "10"}}

    write_source(export_root, "sources", "tsv/rows.tsv.gz", gzip.compress(b"x\t5\tone\ny\t6\ttwo\n"))
    imported = import_into(client, table_name + "-tsv", "sources", "tsv", "CSV", "GZIP",
                           InputFormatOptions={"Csv": {"Delimiter": "\t", "HeaderList": ["pk", "sk", "word"]}})
    assert (imported["ErrorCount"], imported["ImportedItemCount"]) == (0, 2)
    assert {item["word"]["S"] for item in scan_all(client, table_name + "-tsv")} == {"one", "two"}


def test_imports_that_cannot_go_on_fail_and_leave_no_table(client, export_root, table_name):
    failed = import_into(client, table_name + "-none", "sources", "nothing-here/", "DYNAMODB_JSON")
    assert failed["ImportStatus"] == "FAILED" and "No objects found" in failed["FailureMessage"]
    write_source(export_root, "sources", "broken/x.json.gz", b"plainly not gzip")
    failed = import_into(client, table_name + "-broken", "sources", "broken/", "DYNAMODB_JSON")
    assert failed["ImportStatus"] == "FAILED"
    names = client.list_tables()["TableNames"]
    assert table_name + "-none" not in names and table_name + "-broken" not in names
    create_keyed_table(client, table_name, with_indexes=False)
    assert refusal(client.import_table, S3BucketSource={"S3Bucket": "sources"}, InputFormat="CSV",
                   TableCreationParameters={"TableName": table_name, **KEYED}) == (
        "ResourceInUseException", f"Table already exists: {table_name}")
    missing = client.describe_table(TableName=table_name)["Table"]["TableArn"] + "/import/01700000000000-0badf00d"
    assert refusal(client.describe_import, ImportArn=missing)[0] == "ImportNotFoundException"
    listed = client.list_imports(PageSize=1)
    assert len(listed["ImportSummaryList"]) == 1 and "NextToken" in listed
    rest = client.list_imports(PageSize=25, NextToken=listed["NextToken"])["ImportSummaryList"]
    assert listed["ImportSummaryList"][0]["ImportArn"] not in [s["ImportArn"] for s in rest]


def test_export_and_import_through_a_real_s3_server(tmp_path):
    s3 = CommandServer(name="moto-s3", args=[sys.executable, "-m", "moto.server", "-p", "{port}"],
                       log_dir=tmp_path).start()
    node = ServerProcess(tmp_path / "data", ["--pitr-snapshot-interval", "0.3", "--s3-endpoint-url", s3.url]).start()
    try:
        objects = boto3.client("s3", endpoint_url=s3.url, region_name="us-east-1")
        objects.create_bucket(Bucket="lake")
        client = client_for(node.url)
        arn = recoverable(client, "orders")
        export = finished_export(client, client.export_table_to_point_in_time(
            TableArn=arn, S3Bucket="lake", S3Prefix="dynamo", ExportFormat="ION")["ExportDescription"]["ExportArn"])
        assert export["ExportStatus"] == "COMPLETED", export
        keys = [entry["Key"] for entry in objects.list_objects_v2(Bucket="lake")["Contents"]]
        directory = export["ExportManifest"].rsplit("/", 1)[0]
        assert f"{directory}/manifest-summary.json" in keys and f"{directory}/manifest-files.json" in keys
        assert any(key.startswith(f"{directory}/data/") and key.endswith(".ion.gz") for key in keys)
        imported = import_into(client, "orders-copy", "lake", directory, "ION")
        assert imported["ImportStatus"] == "COMPLETED" and imported["ErrorCount"] == 0
        assert by_key(scan_all(client, "orders-copy")) == by_key(ITEMS)
    finally:
        node.stop()
        s3.stop()


def test_kill_9_during_an_export_leaves_no_completed_incomplete_export(tmp_path):
    data, root = tmp_path / "data", tmp_path / "root"
    args = ["--pitr-snapshot-interval", "0.3", "--export-dir", str(root)]
    server = ServerProcess(data, args).start()
    client = client_for(server.url)
    many = [{**every_type_item(i), "pad": {"S": "p" * 1500}} for i in range(4000)]
    arn = recoverable(client, "big", many)
    started = [client.export_table_to_point_in_time(TableArn=arn, S3Bucket="bkt", ExportFormat="ION")[
        "ExportDescription"]["ExportArn"] for _ in range(2)]
    server.kill()
    server = ServerProcess(data, args).start()
    try:
        client = client_for(server.url)
        for export_arn in started:
            export = client.describe_export(ExportArn=export_arn)["ExportDescription"]
            assert export["ExportStatus"] in ("COMPLETED", "FAILED")
            directory = root / "bkt" / "AWSDynamoDB" / export_arn.rsplit("/", 1)[1]
            if export["ExportStatus"] == "COMPLETED":
                summary = orjson.loads((directory / "manifest-summary.json").read_bytes())
                assert summary["itemCount"] == len(data_lines(root / "bkt", summary["manifestFilesS3Key"])) == 4000
            else:
                assert export["FailureCode"] == "ExportInterrupted"
                assert not (directory / "manifest-summary.json").exists()
    finally:
        server.stop()


def run_command(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "dynovault", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_backup_and_export_commands(node, client, export_root, table_name):
    arn = recoverable(client, table_name, ITEMS[:10])
    backup_arn, status = run_command("backup", table_name, "--endpoint", node.url, "--name", "from-cli",
                                     "--wait").split()
    assert status == "AVAILABLE" and backup_arn.startswith(arn + "/backup/")
    assert client.describe_backup(BackupArn=backup_arn)["BackupDescription"]["BackupDetails"]["BackupName"] \
        == "from-cli"
    export_arn, status, manifest = run_command("export", table_name, "--endpoint", node.url, "--bucket", "cli",
                                               "--prefix", "runs", "--format", "ION", "--wait").split()
    assert status == "COMPLETED" and export_arn.startswith(arn + "/export/")
    assert manifest.startswith("runs/AWSDynamoDB/") and (export_root / "cli" / manifest).exists()


def test_unreadable_times_and_keys_leaving_the_bucket_are_refused(raw, hash_table):
    def answer(operation: str, body: dict) -> tuple[int, str]:
        reply = raw.post(orjson.dumps(body), target="DynamoDB_20120810." + operation)
        return reply.status, reply.error_code if reply.status != 200 else ""

    refused = ("SerializationException", "ValidationException")
    restore = {"SourceTableName": hash_table, "TargetTableName": hash_table + "-x", "RestoreDateTime": "soon"}
    assert answer("RestoreTableToPointInTime", restore) == (400, "SerializationException")
    assert answer("ListBackups", {"TimeRangeLowerBound": "later"}) == (400, "SerializationException")
    assert answer("ExportTableToPointInTime", {"TableArn": hash_table, "S3Bucket": "exports",
                                               "ExportTime": "yesterday"}) == (400, "SerializationException")
    status, code = answer("ExportTableToPointInTime", {"TableArn": hash_table, "S3Bucket": "exports",
                                                       "S3Prefix": "../../outside"})
    assert status == 400 and code in refused
    creation = {"TableName": hash_table + "-imported", **KEYED}
    assert answer("ImportTable", {"S3BucketSource": {"S3Bucket": "sources", "S3KeyPrefix": "../up"},
                                  "InputFormat": "CSV", "TableCreationParameters": creation}) \
        == (400, "ValidationException")
    assert answer("ListBackups", {"TimeRangeLowerBound": "2026-01-01T00:00:00Z"})[0] == 200
