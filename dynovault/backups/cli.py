"""The ``dynovault serve`` options saying where backups, exports and imports live, and
the ``dynovault backup`` and ``dynovault export`` commands."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import boto3

from dynovault.node import Archives


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group("backups, exports and imports")
    group.add_argument("--backup-dir", type=Path, metavar="DIR",
                       help="where backups and point-in-time recovery snapshots are kept "
                            "(default: backups/ inside --data-dir)")
    group.add_argument("--export-dir", type=Path, default=Path("exports"), metavar="DIR",
                       help="the local root S3Bucket/S3Prefix of exports and imports name directories under "
                            "(default ./exports)")
    group.add_argument("--s3-endpoint-url", metavar="URL",
                       help="send exports to and read imports from this S3-compatible service instead")
    group.add_argument("--pitr-snapshot-interval", type=float, default=3600.0, metavar="SECONDS",
                       help="seconds between the snapshots of tables with point-in-time recovery (default 3600)")


def archives_from(args: argparse.Namespace) -> Archives:
    return Archives(backup_dir=args.backup_dir, export_dir=args.export_dir, s3_endpoint_url=args.s3_endpoint_url)


def register(commands: argparse._SubParsersAction) -> None:
    """``dynovault backup`` and ``dynovault export``: the operator's shortcuts to
    CreateBackup and ExportTableToPointInTime on a running server."""
    backup = commands.add_parser("backup", help="back up a table of a running server (CreateBackup)")
    backup.add_argument("table")
    backup.add_argument("--name", help="the backup's name (default: the table's name and the time)")
    _client_options(backup)
    backup.set_defaults(run=backup_command)
    export = commands.add_parser("export", help="export a table of a running server (ExportTableToPointInTime)")
    export.add_argument("table")
    export.add_argument("--bucket", required=True, help="S3Bucket: a directory under the server's --export-dir, "
                                                        "or a bucket of its --s3-endpoint-url")
    export.add_argument("--prefix", help="S3Prefix")
    export.add_argument("--format", choices=["DYNAMODB_JSON", "ION"], default="DYNAMODB_JSON")
    _client_options(export)
    export.set_defaults(run=export_command)


def _client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", default="http://127.0.0.1:8000", help="the server (default %(default)s)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--wait", action="store_true", help="wait until the backup or export is complete")


def _client(args: argparse.Namespace):
    """A DynamoDB client of the server, signing with the usual AWS credentials (a server
    without --credentials-file accepts any, so placeholders stand in when there are none)."""
    session = boto3.session.Session()
    credentials = {} if session.get_credentials() else {"aws_access_key_id": "dynovault",
                                                        "aws_secret_access_key": "dynovault"}
    return session.client("dynamodb", endpoint_url=args.endpoint, region_name=args.region, **credentials)


def backup_command(args: argparse.Namespace) -> int:
    client = _client(args)
    name = args.name or f"{args.table}-{time.strftime('%Y%m%dT%H%M%S')}"
    details = client.create_backup(TableName=args.table, BackupName=name)["BackupDetails"]
    while args.wait and details["BackupStatus"] == "CREATING":
        time.sleep(0.2)
        details = client.describe_backup(BackupArn=details["BackupArn"])["BackupDescription"]["BackupDetails"]
    print(f"{details['BackupArn']} {details['BackupStatus']}")
    return 0


def export_command(args: argparse.Namespace) -> int:
    client = _client(args)
    table_arn = client.describe_table(TableName=args.table)["Table"]["TableArn"]
    request = {"TableArn": table_arn, "S3Bucket": args.bucket, "ExportFormat": args.format}
    if args.prefix:
        request["S3Prefix"] = args.prefix
    export = client.export_table_to_point_in_time(**request)["ExportDescription"]
    while args.wait and export["ExportStatus"] == "IN_PROGRESS":
        time.sleep(0.2)
        export = client.describe_export(ExportArn=export["ExportArn"])["ExportDescription"]
    print(f"{export['ExportArn']} {export['ExportStatus']} {export.get('ExportManifest', '')}".rstrip())
    return 0 if export["ExportStatus"] != "FAILED" else 1
