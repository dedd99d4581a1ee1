"""CreateTable: the table is ACTIVE as soon as this returns (no CREATING phase to poll)."""

from __future__ import annotations

import time

from dynovault.api.node import Node, table_name
from dynovault.api.tables import billing_summary, check_key_schema, describe, throughput_of
from dynovault.errors import ResourceInUseException, ValidationException

_UNSUPPORTED = (
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "SSESpecification",
    "ResourcePolicy",
)


async def handle(request: dict, node: Node) -> dict:
    name = table_name(request["TableName"])
    for feature in _UNSUPPORTED:
        if request.get(feature):
            raise ValidationException(f"{feature} is not supported by this server")
    check_key_schema(request["KeySchema"], request["AttributeDefinitions"])
    billing_mode = request.get("BillingMode", "PROVISIONED")
    throughput = throughput_of(request, billing_mode)
    if name in node.store.tables:
        raise ResourceInUseException(f"Table already exists: {name}")
    description = {
        "TableName": name,
        "AttributeDefinitions": request["AttributeDefinitions"],
        "KeySchema": request["KeySchema"],
        "CreationDateTime": time.time(),
        "ProvisionedThroughput": throughput,
        "BillingModeSummary": billing_summary(billing_mode),
        "DeletionProtectionEnabled": bool(request.get("DeletionProtectionEnabled", False)),
        "Tags": request.get("Tags", []),
    }
    if "TableClass" in request:
        description["TableClassSummary"] = {"TableClass": request["TableClass"]}
    table = node.store.put_table(description)
    return {"TableDescription": describe(node, table)}
