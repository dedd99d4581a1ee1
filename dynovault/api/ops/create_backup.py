"""CreateBackup: the backup holds the table as of this call; it is CREATING until its
snapshot file is written in the background, then AVAILABLE (see ``backups.ondemand``)."""

from __future__ import annotations

from dynovault.backups.ondemand import create_backup
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    return {"BackupDetails": create_backup(node, request["TableName"], request["BackupName"])}
