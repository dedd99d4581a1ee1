"""ImportTable: a new table, CREATING while the items under the S3 prefix (or the local
directory standing for it) are written into it; bad lines are counted in ErrorCount and
logged (see ``backups.imports``)."""

from __future__ import annotations

from dynovault.backups.imports import import_table
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    return {"ImportTableDescription": import_table(node, request)}
