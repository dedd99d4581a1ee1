"""A node: its store and its identity (region, account, address), which every layer
above storage (the DynamoDB operations, replication, the feature layer) works with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dynovault.errors import ResourceNotFoundException
from dynovault.storage.engine import Store, Table

# Marks, in the catalog, a table an import is still writing (a restore marks its table in
# its RestoreSummary).
FILLING_MEMBER = "ImportInProgress"


def is_being_filled(description: dict) -> bool:
    """Whether a restore or an import is still writing the table's items (it is CREATING)."""
    return bool((description.get("RestoreSummary") or {}).get("RestoreInProgress") or description.get(FILLING_MEMBER))


@dataclass(frozen=True)
class Archives:
    """Where a node keeps what outlives its tables, and where exports and imports go.

    ``backup_dir`` holds on-demand backups and continuous-backup snapshots (None: a
    ``backups`` directory inside the data directory). An export's or import's S3Bucket
    and S3Prefix name a directory under ``export_dir``, or, with ``s3_endpoint_url``, a
    bucket and prefix of that S3-compatible service."""

    backup_dir: Path | None = None
    export_dir: Path = Path("exports")
    s3_endpoint_url: str | None = None


@dataclass
class Node:
    store: Store
    region: str = "us-east-1"
    account_id: str = "000000000000"
    address: str = "localhost:8000"
    archives: Archives = field(default_factory=Archives)

    @property
    def backup_dir(self) -> Path:
        return self.archives.backup_dir or self.store.path / "backups"

    def table_arn(self, name: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account_id}:table/{name}"

    def stream_arn(self, table: str, label: str) -> str:
        return f"{self.table_arn(table)}/stream/{label}"

    def table(self, name_or_arn: str) -> Table:
        """The live table a request names (by name or ARN), or DynamoDB's not-found error,
        which is also its answer while a restore or an import is still filling the table."""
        table = self.store.tables.get(table_name(name_or_arn))
        if table is None or is_being_filled(table.description):
            raise ResourceNotFoundException("Requested resource not found")
        return table


def table_name(name_or_arn: str) -> str:
    marker = ":table/"
    if name_or_arn.startswith("arn:") and marker in name_or_arn:
        return name_or_arn.split(marker, 1)[1].split("/", 1)[0]
    return name_or_arn
