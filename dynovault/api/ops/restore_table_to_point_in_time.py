"""RestoreTableToPointInTime: a new table holding exactly the source's commits made by
RestoreDateTime (or now, with UseLatestRestorableTime), CREATING while it is filled, with
the same overrides as a restore from a backup."""

from __future__ import annotations

from dynovault.backups.continuous import restore_to_point_in_time
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    return {"TableDescription": restore_to_point_in_time(node, request)}
