"""DescribeBackup."""

from __future__ import annotations

from dynovault.backups.ondemand import describe_backup
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    return {"BackupDescription": describe_backup(node, request["BackupArn"])}
