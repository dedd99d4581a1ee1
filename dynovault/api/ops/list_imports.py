"""ListImports: by table, a page of at most PageSize (25)."""

from __future__ import annotations

from dynovault.backups.imports import list_imports
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    return list_imports(node, request)
