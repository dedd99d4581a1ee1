"""The table service: creating tables from a definition, table descriptions as DynamoDB
returns them, and the key-schema and billing rules CreateTable and UpdateTable share.
The DynamoDB operations and the feature layer both create tables through here."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from dynovault.errors import (
    ResourceInUseException,
    ResourceNotFoundException,
    ValidationException,
    invalid,
)
from dynovault.indexes import GLOBAL, LOCAL, VECTOR, all_indexes, created_indexes, with_index_status
from dynovault.node import FILLING_MEMBER, Node, is_being_filled, table_name
from dynovault.storage.engine import Table
from dynovault.storage.expiry import TTL_MEMBER
from dynovault.storage.recovery import PITR_MEMBER
from dynovault.storage.streams import SHARD_GENERATION_MEMBER, STREAM_ID_MEMBER
from dynovault.streams import LABEL_MEMBER, created_stream
from dynovault.vectors import created_vector_indexes, with_vector_index_status

# A partition key and at most one sort key (botocore's model no longer says so).
MAX_KEY_ELEMENTS = 2
# Kept in the catalog but not part of a TableDescription.
_INTERNAL_FIELDS = ("Tags", TTL_MEMBER, PITR_MEMBER, FILLING_MEMBER, STREAM_ID_MEMBER, SHARD_GENERATION_MEMBER)
_UNSUPPORTED = (
    "SSESpecification",
    "ResourcePolicy",
)


def create_table(node: Node, definition: dict) -> Table:
    """Create a table from a CreateTable-shaped definition, checked by DynamoDB's rules;
    it is ACTIVE at once (there is no CREATING phase to poll)."""
    return node.store.put_table(new_table_description(node, definition))


def new_table_description(node: Node, definition: dict) -> dict:
    """The catalog description of a table to create from a CreateTable-shaped
    definition, after DynamoDB's checks (the name must be free)."""
    name = table_name(definition["TableName"])
    for feature in _UNSUPPORTED:
        if definition.get(feature):
            raise ValidationException(f"{feature} is not supported by this server")
    indexed = any(definition.get(member) is not None for member in (GLOBAL, LOCAL, VECTOR))
    check_key_schema(definition["KeySchema"], definition["AttributeDefinitions"], indexed)
    billing_mode = definition.get("BillingMode", "PROVISIONED")
    indexes = created_indexes(definition, billing_mode)
    vectors = created_vector_indexes(definition, billing_mode, (i["IndexName"] for i in all_indexes(indexes)))
    if vectors is not None:
        indexes[VECTOR] = vectors
    throughput = throughput_of(definition, billing_mode)
    stream = created_stream(definition)
    if name in node.store.tables:
        raise ResourceInUseException(f"Table already exists: {name}")
    # One instant: a table created on demand switched to it when it was created.
    created = time.time()
    description = {
        "TableName": name,
        "TableId": str(uuid.uuid4()),
        "AttributeDefinitions": definition["AttributeDefinitions"],
        "KeySchema": definition["KeySchema"],
        "CreationDateTime": created,
        "ProvisionedThroughput": throughput,
        "BillingModeSummary": billing_summary(billing_mode, created),
        "DeletionProtectionEnabled": bool(definition.get("DeletionProtectionEnabled", False)),
        "Tags": definition.get("Tags", []),
        **indexes,
        **stream,
    }
    if "TableClass" in definition:
        description["TableClassSummary"] = {"TableClass": definition["TableClass"]}
    return description


# Index builds under way, kept referenced until they finish.
_BUILDS: set[asyncio.Task] = set()


def start_index_build(node: Node, name: str, index_name: str) -> None:
    """Build a GSI or a vector index just added to a table in the background, then make
    it ACTIVE."""
    task = asyncio.create_task(_build_index(node, name, index_name))
    _BUILDS.add(task)
    task.add_done_callback(_BUILDS.discard)


async def _build_index(node: Node, name: str, index_name: str) -> None:
    """Index the table's items a chunk at a time, yielding to requests between chunks.
    Writes meanwhile maintain the part already built (see LiveIndex.built_through). The
    table may be dropped or the index deleted midway: the build then just stops."""
    while True:
        table = node.store.tables.get(name)
        index = (table.index(index_name) or table.vector_index(index_name)) if table is not None else None
        if index is None:
            return
        if node.store.build_index(table, index):
            break
        await asyncio.sleep(0)
    activate = with_index_status if table.index(index_name) else with_vector_index_status
    node.store.put_table(activate(table.description, index_name, "ACTIVE"))


def resume_index_builds(node: Node) -> None:
    """Finish the GSIs a leader was still creating when it stopped (storage completes
    their entries on opening; what is left is building the rest and making them ACTIVE)."""
    for table in list(node.store.tables.values()):
        for index in (*table.description.get(GLOBAL, ()), *table.description.get(VECTOR, ())):
            if index.get("IndexStatus") == "CREATING":
                start_index_build(node, table.name, index["IndexName"])


def existing_table(node: Node, name_or_arn: str) -> Table:
    """The table a control-plane request names, or DynamoDB's not-found error naming it."""
    name = table_name(name_or_arn)
    table = node.store.tables.get(name)
    if table is None:
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    return table


def describe(node: Node, table: Table, status: str | None = None) -> dict:
    """The TableDescription of a live table, with its current item count and size; a
    table still being filled by a restore or an import is CREATING."""
    description = {k: v for k, v in table.description.items() if k not in _INTERNAL_FIELDS}
    description["TableStatus"] = status or ("CREATING" if is_being_filled(table.description) else "ACTIVE")
    description["ItemCount"] = table.item_count
    description["TableSizeBytes"] = table.size_bytes
    description["TableArn"] = node.table_arn(table.name)
    if LABEL_MEMBER in description:
        description["LatestStreamArn"] = node.stream_arn(table.name, description[LABEL_MEMBER])
    for member in (LOCAL, GLOBAL, VECTOR):
        if member in description:
            description[member] = [_describe_index(node, table, index) for index in description[member]]
    return description


def _describe_index(node: Node, table: Table, index: dict) -> dict:
    """An index's description with its live figures; a vector index reports Backfilling
    only while it is being created."""
    live = table.index(index["IndexName"]) or table.vector_index(index["IndexName"])
    described = {
        **index,
        "IndexSizeBytes": live.size_bytes if live else 0,
        "ItemCount": live.item_count if live else 0,
        "IndexArn": f"{node.table_arn(table.name)}/index/{index['IndexName']}",
    }
    if "VectorAttribute" in index and index["IndexStatus"] == "CREATING":
        described["Backfilling"] = True
    return described


def throughput_of(request: dict, billing_mode: str, previous: dict | None = None) -> dict:
    """ProvisionedThroughput as DynamoDB reports it for the billing mode (zeros on demand)."""
    requested = request.get("ProvisionedThroughput")
    if billing_mode == "PAY_PER_REQUEST":
        if requested is not None:
            raise invalid(
                "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"
            )
        return {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
    if requested is None:
        if previous and previous.get("ReadCapacityUnits"):
            return previous
        raise invalid(
            "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"
        )
    return {
        "NumberOfDecreasesToday": 0,
        "ReadCapacityUnits": requested["ReadCapacityUnits"],
        "WriteCapacityUnits": requested["WriteCapacityUnits"],
    }


def billing_summary(billing_mode: str, now: float | None = None) -> dict:
    summary: dict[str, Any] = {"BillingMode": billing_mode}
    if billing_mode == "PAY_PER_REQUEST":
        summary["LastUpdateToPayPerRequestDateTime"] = time.time() if now is None else now
    return summary


def check_key_schema(key_schema: list[dict], attribute_definitions: list[dict], indexed: bool = False) -> None:
    """DynamoDB's CreateTable rules tying KeySchema to AttributeDefinitions; with
    ``indexed``, definitions may also key the indexes (checked with them)."""
    if len(key_schema) > MAX_KEY_ELEMENTS:
        elements = ", ".join(
            f"KeySchemaElement(attributeName={k['AttributeName']}, keyType={k['KeyType']})" for k in key_schema
        )
        raise ValidationException(
            f"1 validation error detected: Value '[{elements}]' at 'keySchema' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_KEY_ELEMENTS}"
        )
    if key_schema[0]["KeyType"] != "HASH":
        raise ValidationException("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    if len(key_schema) == 2:
        if key_schema[1]["KeyType"] != "RANGE":
            raise ValidationException("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
        if key_schema[0]["AttributeName"] == key_schema[1]["AttributeName"]:
            raise ValidationException(
                "Invalid KeySchema: Both the Hash Key and the Range Key element in the KeySchema have the same name"
            )
    defined = [d["AttributeName"] for d in attribute_definitions]
    if len(set(defined)) != len(defined):
        raise invalid("Cannot have two attributes with the same name")
    keys = [k["AttributeName"] for k in key_schema]
    missing = [k for k in keys if k not in defined]
    if missing:
        raise invalid(
            "Some index key attributes are not defined in AttributeDefinitions. "
            f"Keys: [{', '.join(missing)}], AttributeDefinitions: [{', '.join(defined)}]"
        )
    if len(defined) != len(keys) and not indexed:
        raise invalid(
            "Number of attributes in KeySchema does not exactly match number of attributes defined in "
            "AttributeDefinitions"
        )
