"""Vector-index definitions: DynamoDB's rules for the vector indexes CreateTable declares
and UpdateTable adds or drops, the descriptions the catalog keeps, and the checks every
write of a vector or a search-schema attribute must pass.

A vector index lives only on an on-demand table. It is ACTIVE at once when CreateTable
declares it; one UpdateTable adds is CREATING (backfilling) while storage indexes the
items the table already holds, then ACTIVE.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from dynovault.errors import LimitExceededException, ResourceNotFoundException, ValidationException, invalid
from dynovault.indexes import ONE_AT_A_TIME, VECTOR, all_indexes, merged_definitions
from dynovault.storage.vectors import F32_MAX, VectorLayout

MAX_VECTOR_INDEXES = 5
MAX_DIMENSIONS = 4096
MAX_TOP_K = 100
_PROJECTION_TYPES = ("ALL", "KEYS_ONLY", "INCLUDE")


def search_schemas(description: dict) -> list[list[dict]]:
    """The search schemas of a table's vector indexes (their attributes need definitions)."""
    return [index.get("SearchSchema", []) for index in description.get(VECTOR, ())]


def _projection(index: dict) -> dict:
    projection = index["Projection"]
    projection_type = projection.get("ProjectionType")
    if projection_type not in _PROJECTION_TYPES:
        raise invalid(f"Unknown ProjectionType: {projection_type}")
    non_key = projection.get("NonKeyAttributes")
    if non_key is not None and projection_type != "INCLUDE":
        raise invalid(f"ProjectionType is {projection_type}, but NonKeyAttributes is specified")
    if projection_type == "INCLUDE" and non_key is None:
        raise invalid("ProjectionType is INCLUDE, but NonKeyAttributes is not specified")
    if non_key is None:
        return {"ProjectionType": projection_type}
    return {"ProjectionType": projection_type, "NonKeyAttributes": list(non_key)}


def _described(index: dict, defined: list[str], status: str) -> dict:
    """The catalog's description of one vector index, after DynamoDB's checks of it alone."""
    dimensions = index["Dimensions"]
    if not 1 <= dimensions <= MAX_DIMENSIONS:
        raise invalid(f"Number of dimensions must be between 1 and {MAX_DIMENSIONS} inclusive.")
    schema = index.get("SearchSchema")
    if schema is not None and any(element["AttributeName"] not in defined for element in schema):
        raise invalid("One element in SearchSchema is not defined in attribute definitions")
    description = {
        "IndexName": index["IndexName"],
        "VectorAttribute": {"AttributeName": index["VectorAttribute"]["AttributeName"]},
        "Projection": _projection(index),
        "Dimensions": dimensions,
        "DistanceFunction": index["DistanceFunction"],
        "IndexStatus": status,
    }
    if schema is not None:
        description["SearchSchema"] = [
            {"AttributeName": e["AttributeName"], "SearchSchemaElementType": e["SearchSchemaElementType"]}
            for e in schema
        ]
    return description


def _check_together(indexes: list[dict], other_names: Iterable[str]) -> None:
    """What a table's vector indexes must satisfy together: distinct names (from its
    secondary indexes' too), at most five, one dimension count per vector attribute."""
    seen = set(other_names)
    for index in indexes:
        if index["IndexName"] in seen:
            raise invalid(f"Duplicate index name: {index['IndexName']}")
        seen.add(index["IndexName"])
    if len(indexes) > MAX_VECTOR_INDEXES:
        raise invalid(f"VectorIndex count exceeds the per-table limit of {MAX_VECTOR_INDEXES}")
    dimensions: dict[str, int] = {}
    for index in indexes:
        attribute = index["VectorAttribute"]["AttributeName"]
        if dimensions.setdefault(attribute, index["Dimensions"]) != index["Dimensions"]:
            raise invalid(
                f"Conflicting attribute definition for '{attribute}'. All VectorIndexes on the same vector "
                "attribute must use the same dimensions."
            )


def check_billing(description: dict, billing_mode: str) -> None:
    if description.get(VECTOR) and billing_mode != "PAY_PER_REQUEST":
        raise invalid("Vector indexes are only supported for PAY_PER_REQUEST tables")


def created_vector_indexes(request: dict, billing_mode: str, other_names: Iterable[str]) -> list[dict] | None:
    """The vector index descriptions of a CreateTable request (None when it declares
    none), each ACTIVE, after DynamoDB's checks."""
    indexes = request.get(VECTOR)
    if indexes is None:
        return None
    check_billing(request, billing_mode)
    defined = [d["AttributeName"] for d in request["AttributeDefinitions"]]
    described = [_described(index, defined, "ACTIVE") for index in indexes]
    _check_together(described, other_names)
    return described


def _check_one_online_change(description: dict, request: dict) -> None:
    """One index created or dropped at a time per table, secondary and vector alike."""
    changes = len(request.get("VectorIndexUpdates") or ())
    changes += sum(1 for u in request.get("GlobalSecondaryIndexUpdates") or () if "Create" in u or "Delete" in u)
    busy = any(i.get("IndexStatus") in ("CREATING", "DELETING") for i in description.get("GlobalSecondaryIndexes", ()))
    busy = busy or any(i["IndexStatus"] == "CREATING" for i in description.get(VECTOR, ()))
    cancels = [u["Delete"]["IndexName"] for u in request.get("VectorIndexUpdates") or () if "Delete" in u]
    creating = [i["IndexName"] for i in description.get(VECTOR, ()) if i["IndexStatus"] == "CREATING"]
    if changes > 1 or (busy and cancels != creating):
        raise LimitExceededException(ONE_AT_A_TIME)


def updated_vector_indexes(description: dict, request: dict) -> tuple[dict, str | None]:
    """The table description after an UpdateTable request's VectorIndexUpdates, and the
    name of the vector index it creates (CREATING until storage has built it) or None."""
    updates = request.get("VectorIndexUpdates") or []
    for update in updates:
        if len(update) != 1:
            raise invalid("One of VectorIndexUpdate.Create, VectorIndexUpdate.Delete must not be null")
    _check_one_online_change(description, request)
    updated = dict(description)
    vectors = [dict(index) for index in description.get(VECTOR, ())]
    created = None
    for update in updates:
        (action, body), = update.items()
        name = body["IndexName"]
        exists = any(index["IndexName"] == name for index in vectors + all_indexes(description))
        if action == "Create":
            if exists:
                raise ValidationException("Attempting to create an index which already exists")
            definitions = merged_definitions(description, request.get("AttributeDefinitions"))
            vectors.append(_described(body, [d["AttributeName"] for d in definitions], "CREATING"))
            updated["AttributeDefinitions"] = definitions
            created = name
        elif not any(index["IndexName"] == name for index in vectors):
            raise ResourceNotFoundException(f"Requested resource not found: Index: {name} not found")
        else:
            vectors = [index for index in vectors if index["IndexName"] != name]
    _check_together(vectors, (index["IndexName"] for index in all_indexes(description)))
    if vectors:
        updated[VECTOR] = vectors
    else:
        updated.pop(VECTOR, None)
    return updated, created


def with_vector_index_status(description: dict, name: str, status: str) -> dict:
    updated = dict(description)
    updated[VECTOR] = [
        {**index, "IndexStatus": status} if index["IndexName"] == name else index
        for index in description.get(VECTOR, ())
    ]
    return updated


def check_vectors(layouts: Iterable[VectorLayout], item: dict) -> None:
    """Refuse an item whose vector attribute is not a list of exactly Dimensions numbers
    that fit a 32-bit float; an item without the attribute is simply not indexed.
    DynamoDB names the alphabetically first index that refuses it."""
    for layout in sorted(layouts, key=lambda layout: layout.name):
        value = item.get(layout.attribute)
        if value is None:
            continue
        attribute, name = layout.attribute, layout.name
        elements = value.get("L")
        if elements is None:
            raise ValidationException(
                "One or more parameter values were invalid. Invalid type for parameter "
                f"{attribute}, Expected: 32-bit floating point number list IndexName: {name}"
            )
        if len(elements) != layout.dimensions:
            raise ValidationException(
                f"One or more parameter values were invalid. Invalid size for parameter {attribute}, "
                f"Expected: {layout.dimensions}, Actual: {len(elements)} IndexName: {name}"
            )
        numbers = [element.get("N") for element in elements]
        if None in numbers:
            position = numbers.index(None)
            raise ValidationException(
                f"One or more parameter values were invalid. Invalid type for parameter {attribute}[{position}], "
                f"Expected: 32-bit floating point number, Actual: {next(iter(elements[position]))}. IndexName: {name}"
            )
        too_large = np.flatnonzero(np.abs(np.array(numbers, dtype=np.float64)) > F32_MAX)
        if len(too_large):
            position = int(too_large[0])
            raise ValidationException(
                f"One or more parameter values were invalid. Invalid value for parameter {attribute}[{position}], "
                f"Expected: 32-bit floating point number, Actual: {numbers[position]}. IndexName: {name}"
            )
