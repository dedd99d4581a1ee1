"""RestoreTableFromBackup: a new table, CREATING while the backup's items are written
into it in the background, with the billing, throughput and index overrides applied."""

from __future__ import annotations

from dynovault.backups.ondemand import restore_from_backup
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    return {"TableDescription": restore_from_backup(node, request)}
