"""ListExports: by table, a page of at most MaxResults (25)."""

from __future__ import annotations

from dynovault.backups.exports import list_exports
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    return list_exports(node, request)
