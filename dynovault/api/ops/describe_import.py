"""DescribeImport: the import's status and counts so far."""

from __future__ import annotations

from dynovault.backups.imports import describe_import
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    return {"ImportTableDescription": describe_import(node, request["ImportArn"])}
