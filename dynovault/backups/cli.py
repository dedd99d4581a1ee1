"""The ``dynovault serve`` options saying where backups, exports and imports live."""

from __future__ import annotations

import argparse
from pathlib import Path

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
