"""UpdateTable: billing mode, provisioned throughput, deletion protection, table class,
enabling or disabling the table's stream, adding, changing or dropping global secondary
indexes, and adding or dropping vector indexes (a new index is built from the table's items
in the background, CREATING until it is complete)."""

from __future__ import annotations

from dynovault.errors import ValidationException
from dynovault.indexes import GLOBAL, rebilled_indexes, updated_indexes
from dynovault.node import Node
from dynovault.streams import updated_stream
from dynovault.tables import billing_summary, describe, start_index_build, throughput_of
from dynovault.vectors import check_billing, updated_vector_indexes

_UNSUPPORTED = ("SSESpecification", "ReplicaUpdates", "LocalSecondaryIndexes")
_CHANGES = frozenset({
    "BillingMode", "ProvisionedThroughput", "DeletionProtectionEnabled", "TableClass", "GlobalSecondaryIndexUpdates",
    "VectorIndexUpdates",
    "StreamSpecification",
})


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
    check_billing(description, billing_mode)
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
            if GLOBAL in description:
                description[GLOBAL] = rebilled_indexes(
                    description, billing_mode, request.get("GlobalSecondaryIndexUpdates") or []
                )
    created = None
    if request.get("GlobalSecondaryIndexUpdates"):
        description, created = updated_indexes(description, request, billing_mode)
    if request.get("VectorIndexUpdates"):
        description, created = updated_vector_indexes(description, request)
        check_billing(description, billing_mode)
    if "DeletionProtectionEnabled" in request:
        description["DeletionProtectionEnabled"] = request["DeletionProtectionEnabled"]
    if "TableClass" in request:
        description["TableClassSummary"] = {"TableClass": request["TableClass"]}
    if "StreamSpecification" in request:
        description = updated_stream(description, request["StreamSpecification"])
    table = node.store.put_table(description)
    if created is not None:
        start_index_build(node, table.name, created)
    return {"TableDescription": describe(node, table)}
