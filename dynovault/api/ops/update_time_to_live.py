"""UpdateTimeToLive: enabling makes the table ENABLING until its items are ordered by
expiry, disabling makes it DISABLING until the deleter stops for it (see
``dynovault.expiry``); either answers with the specification it was given. DynamoDB's
refusals: enabling twice, disabling twice, naming another attribute than the active one,
and changing the setting again while a change is still being processed."""

from __future__ import annotations

from dynovault.errors import ValidationException
from dynovault.expiry import ttl_status, with_ttl
from dynovault.node import Node
from dynovault.storage.expiry import TTL_MEMBER
from dynovault.tables import existing_table


async def handle(request: dict, node: Node) -> dict:
    specification = request["TimeToLiveSpecification"]
    enabled, attribute = specification["Enabled"], specification["AttributeName"]
    table = existing_table(node, request["TableName"])
    status = ttl_status(table)
    current = (table.description.get(TTL_MEMBER) or {}).get("AttributeName")
    if status in ("ENABLING", "DISABLING"):
        raise ValidationException("Time to live has been modified multiple times within a fixed interval")
    if status == "DISABLED" and not enabled:
        raise ValidationException("TimeToLive is already disabled")
    if status == "ENABLED" and current != attribute:
        raise ValidationException(f"TimeToLive is active on a different AttributeName: current AttributeName is {current}")
    if status == "ENABLED" and enabled:
        raise ValidationException("TimeToLive is already enabled")
    node.store.put_table(with_ttl(table.description, "ENABLING" if enabled else "DISABLING", attribute))
    return {"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attribute}}
