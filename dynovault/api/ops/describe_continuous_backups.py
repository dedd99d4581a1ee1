"""DescribeContinuousBackups: the recovery period and the restorable window of the node
answering (every node keeps its own snapshots)."""

from __future__ import annotations

from dynovault.backups.continuous import describe_recovery
from dynovault.backups.jobs import source_table
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    return {"ContinuousBackupsDescription": describe_recovery(node, source_table(node, request["TableName"]))}
