"""UpdateContinuousBackups: point-in-time recovery on or off, and its recovery period
(1 to 35 days, 35 when not given); see ``backups.continuous``."""

from __future__ import annotations

from dynovault.backups.continuous import update
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict:
    description = update(node, request["TableName"], request["PointInTimeRecoverySpecification"])
    return {"ContinuousBackupsDescription": description}
