"""DescribeExport."""

from __future__ import annotations

from dynovault.backups.exports import describe_export
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    return {"ExportDescription": describe_export(node, request["ExportArn"])}
