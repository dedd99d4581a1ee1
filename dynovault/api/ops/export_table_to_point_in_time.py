"""ExportTableToPointInTime: a full export as of ExportTime (now when not given) or an
incremental one between two times, in DynamoDB's layout, to a local directory or an
S3-compatible service (see ``backups.exports``); IN_PROGRESS until it is written."""

from __future__ import annotations

from dynovault.backups.exports import export_table
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    return {"ExportDescription": export_table(node, request)}
