"""Restoring into a new table: its definition from the source's with DynamoDB's
overrides, and its items written a chunk at a time through the store's normal commit path
(indexes derived, log records shipped to followers), yielding to requests between chunks.

The table exists, CREATING, from the moment the restore is accepted (its RestoreSummary
says RestoreInProgress) and becomes ACTIVE when the last item is in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from dynovault.backups import jobs
from dynovault.errors import TableAlreadyExistsException
from dynovault.indexes import GLOBAL, LOCAL, VECTOR, key_names
from dynovault.node import FILLING_MEMBER, Node, is_being_filled
from dynovault.storage.engine import ItemChange
from dynovault.tables import new_table_description

# Items per commit while filling a table.
FILL_CHUNK_ITEMS = 500
log = logging.getLogger(__name__)
_OVERRIDES = {GLOBAL: "GlobalSecondaryIndexOverride", LOCAL: "LocalSecondaryIndexOverride"}

Chunk = list[tuple[bytes, bytes]]


def restored_description(node: Node, source: dict, request: dict, summary: dict, restored_to: float) -> dict:
    """The catalog description of the table a restore creates from the catalog
    description ``source``: the request's overrides applied, DynamoDB's checks passed,
    ``summary`` (the source's ARNs) and the time the source is restored to (a backup's
    creation, or the point in time) in its RestoreSummary."""
    name = request["TargetTableName"]
    if name in node.store.tables:
        raise TableAlreadyExistsException(f"Table already exists: {name}")
    description = new_table_description(node, restore_definition(source, request))
    description["RestoreSummary"] = {**summary, "RestoreDateTime": restored_to, "RestoreInProgress": True}
    sse = request.get("SSESpecificationOverride")
    if sse and sse.get("Enabled"):
        description["SSEDescription"] = {"Status": "ENABLED", "SSEType": sse.get("SSEType", "KMS")}
        if "KMSMasterKeyId" in sse:
            description["SSEDescription"]["KMSMasterKeyArn"] = sse["KMSMasterKeyId"]
    return description


def restore_definition(source: dict, request: dict) -> dict:
    """A CreateTable request for the restored table. Indexes are the source's unless an
    override lists the ones to have (often a subset); attribute definitions are the
    source's that key the table or a kept index."""
    billing_mode = request.get("BillingModeOverride") or source["BillingModeSummary"]["BillingMode"]
    throughput = request.get("ProvisionedThroughputOverride")
    if throughput is None and billing_mode == "PROVISIONED":
        throughput = _capacity(source["ProvisionedThroughput"]) or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    definition: dict = {"TableName": request["TargetTableName"], "KeySchema": source["KeySchema"],
                        "BillingMode": billing_mode}
    if throughput is not None:
        definition["ProvisionedThroughput"] = throughput
    for member, override in _OVERRIDES.items():
        chosen = request.get(override)
        indexes = chosen if chosen is not None else [_index_definition(index) for index in source.get(member, ())]
        if member == GLOBAL:
            indexes = [_with_index_throughput(index, billing_mode, throughput) for index in indexes]
        if indexes:
            definition[member] = indexes
    vectors = request.get("VectorIndexOverride")
    if vectors is None:
        vectors = [_vector_index_definition(index) for index in source.get(VECTOR, ())]
    if vectors:
        definition[VECTOR] = vectors
    used = set(key_names(source["KeySchema"]))
    for member in _OVERRIDES:
        used |= {name for index in definition.get(member, ()) for name in key_names(index["KeySchema"])}
    used |= {name for index in vectors for name in key_names(index.get("SearchSchema", []))}
    definition["AttributeDefinitions"] = [d for d in source["AttributeDefinitions"] if d["AttributeName"] in used]
    if "TableClassSummary" in source:
        definition["TableClass"] = source["TableClassSummary"]["TableClass"]
    return definition


def _vector_index_definition(index: dict) -> dict:
    """A vector index of the source as CreateTable declares it (the catalog's description
    less its status)."""
    return {name: value for name, value in index.items() if name != "IndexStatus"}


def _index_definition(index: dict) -> dict:
    definition = {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"], "Projection": index["Projection"]}
    capacity = _capacity(index.get("ProvisionedThroughput"))
    if capacity:
        definition["ProvisionedThroughput"] = capacity
    return definition


def _with_index_throughput(index: dict, billing_mode: str, table_throughput: dict | None) -> dict:
    """A GSI keeps its own capacity when provisioned (the table's when it had none), and
    has none on demand."""
    index = {k: v for k, v in index.items() if billing_mode == "PROVISIONED" or k != "ProvisionedThroughput"}
    if billing_mode == "PROVISIONED" and "ProvisionedThroughput" not in index and table_throughput:
        index["ProvisionedThroughput"] = table_throughput
    return index


def _capacity(throughput: dict | None) -> dict | None:
    if not throughput or not throughput.get("ReadCapacityUnits"):
        return None
    return {key: throughput[key] for key in ("ReadCapacityUnits", "WriteCapacityUnits")}


async def fill_table(node: Node, description: dict, chunks: AsyncIterator[Chunk], job: str) -> int:
    """Write the items ``chunks`` yields into the table ``description`` created, then make
    it ACTIVE; return how many. If that fails (the source vanished, the table was dropped
    meanwhile) the half-filled table is deleted: it never turns ACTIVE incomplete."""
    try:
        return await _fill(node, description, chunks, job)
    except BaseException:
        table = node.store.tables.get(description["TableName"])
        if table is not None and table.description["TableId"] == description["TableId"]:
            log.error("deleting a table whose filling failed", extra={"table": table.name})
            node.store.delete_table(table.name)
        raise


async def _fill(node: Node, description: dict, chunks: AsyncIterator[Chunk], job: str) -> int:
    name, table_id = description["TableName"], description["TableId"]
    written = 0
    async for chunk in chunks:
        for start in range(0, len(chunk), FILL_CHUNK_ITEMS):
            table = node.store.tables.get(name)
            if table is None or table.description["TableId"] != table_id:
                raise RuntimeError(f"table {name} was deleted while it was being filled")
            part = chunk[start : start + FILL_CHUNK_ITEMS]
            node.store.write([ItemChange(table, key, value) for key, value in part])
            written += len(part)
            jobs.progress(job, name, len(part))
            await asyncio.sleep(0)
    table = node.store.tables.get(name)
    if table is not None and table.description["TableId"] == table_id:
        node.store.put_table(finished(table.description))
    return written


def finished(description: dict) -> dict:
    """A filled table's description: no longer CREATING."""
    done = {key: value for key, value in description.items() if key != FILLING_MEMBER}
    if "RestoreSummary" in done:
        done["RestoreSummary"] = {**done["RestoreSummary"], "RestoreInProgress": False}
    return done


def drop_unfinished_fills(node: Node) -> None:
    """Delete the tables a restore or an import was filling when the process stopped: they
    would never become complete."""
    for table in list(node.store.tables.values()):
        if is_being_filled(table.description):
            log.warning("deleting a table left half filled by a restore or an import", extra={"table": table.name})
            node.store.delete_table(table.name)
