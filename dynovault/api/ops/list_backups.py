"""ListBackups: by table, creation time range and type, a page of at most Limit."""

from __future__ import annotations

from dynovault.backups.ondemand import list_backups
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    return list_backups(node, request)
