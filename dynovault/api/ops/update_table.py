"""UpdateTable: billing mode, provisioned throughput, deletion protection, table class."""

from __future__ import annotations

from dynovault.errors import ValidationException
from dynovault.node import Node
from dynovault.tables import billing_summary, describe, throughput_of

_UNSUPPORTED = ("AttributeDefinitions", "GlobalSecondaryIndexUpdates", "StreamSpecification",
                "SSESpecification", "ReplicaUpdates")
_CHANGES = frozenset({"BillingMode", "ProvisionedThroughput", "DeletionProtectionEnabled", "TableClass"})


async def handle(request: dict, node: Node) -> dict:
    table = node.table(request["TableName"])
    for feature in _UNSUPPORTED:
        if request.get(feature):
            raise ValidationException(f"{feature} is not supported by this server")
    if not _CHANGES.intersection(request):
        raise ValidationException(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates "
            "or SSESpecification or ReplicaUpdates is required"
        )
    description = dict(table.description)
    current_mode = description["BillingModeSummary"]["BillingMode"]
    billing_mode = request.get("BillingMode", current_mode)
    if "BillingMode" in request or "ProvisionedThroughput" in request:
        throughput = throughput_of(request, billing_mode, description["ProvisionedThroughput"])
        if billing_mode == current_mode and throughput == description["ProvisionedThroughput"] and (
            "ProvisionedThroughput" in request
        ):
            raise ValidationException(
                "The provisioned throughput for the table will not change. The requested value equals "
                "the current value. Current ReadCapacityUnits provisioned for the table: "
                f"{throughput['ReadCapacityUnits']}. Requested ReadCapacityUnits: "
                f"{throughput['ReadCapacityUnits']}. Current WriteCapacityUnits provisioned for the table: "
                f"{throughput['WriteCapacityUnits']}. Requested WriteCapacityUnits: "
                f"{throughput['WriteCapacityUnits']}. Refer to the Amazon DynamoDB Developer Guide for "
                "current limits and how to request higher limits."
            )
        description["ProvisionedThroughput"] = throughput
        if billing_mode != current_mode:
            description["BillingModeSummary"] = billing_summary(billing_mode)
    if "DeletionProtectionEnabled" in request:
        description["DeletionProtectionEnabled"] = request["DeletionProtectionEnabled"]
    if "TableClass" in request:
        description["TableClassSummary"] = {"TableClass": request["TableClass"]}
    table = node.store.put_table(description)
    return {"TableDescription": describe(node, table)}
