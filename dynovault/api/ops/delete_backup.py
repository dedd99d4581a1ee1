"""DeleteBackup: refused while the backup is still being created."""

from __future__ import annotations

from dynovault.backups.ondemand import delete_backup
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    return {"BackupDescription": delete_backup(node, request["BackupArn"])}
