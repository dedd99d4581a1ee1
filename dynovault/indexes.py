"""Secondary-index definitions: DynamoDB's rules for the indexes CreateTable declares and
UpdateTable adds, changes or drops, and the index descriptions the catalog keeps.

An index description here is what DescribeTable shows less its live figures (ItemCount,
IndexSizeBytes, IndexArn), which come from storage when a table is described.
"""

from __future__ import annotations

from collections.abc import Iterable

from dynovault.errors import (
    LimitExceededException,
    ResourceNotFoundException,
    ValidationException,
    invalid,
)
from dynovault.storage.indexes import IndexLayout
from dynovault.values.keys import MAX_HASH_KEY_SIZE, MAX_RANGE_KEY_SIZE

MAX_LOCAL_INDEXES = 5
MAX_GLOBAL_INDEXES = 20
# NonKeyAttributes summed over every INCLUDE index of a table (one attribute projected
# into two indexes counts twice).
MAX_PROJECTED_ATTRIBUTES = 100
# A GSI key may be made of up to this many partition and this many sort attributes.
MAX_KEY_ATTRIBUTES_PER_ROLE = 4
PROJECTION_TYPES = ("ALL", "KEYS_ONLY", "INCLUDE")
LOCAL = "LocalSecondaryIndexes"
GLOBAL = "GlobalSecondaryIndexes"
VECTOR = "VectorIndexes"
ONE_AT_A_TIME = "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"
_ON_DEMAND_THROUGHPUT = {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0}


def key_names(key_schema: list[dict]) -> list[str]:
    return [element["AttributeName"] for element in key_schema]


def _check_index_key_schema(index: dict, is_global: bool) -> None:
    """The shape of an index key schema: partition attributes first, then sort attributes;
    one of each at most on an LSI, four of each on a GSI; no attribute twice."""
    key_schema = index["KeySchema"]
    roles = [element["KeyType"] for element in key_schema]
    if roles[0] != "HASH":
        raise ValidationException("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    first_sort = roles.index("RANGE") if "RANGE" in roles else len(roles)
    if "HASH" in roles[first_sort:]:
        raise ValidationException("All HASH key attributes must precede RANGE key attributes in the KeySchema")
    names = key_names(key_schema)
    if len(set(names)) != len(names):
        raise ValidationException("Both the Hash Key and the Range Key element in the KeySchema have the same name")
    limit = MAX_KEY_ATTRIBUTES_PER_ROLE if is_global else 1
    for role in ("HASH", "RANGE"):
        if roles.count(role) > limit:
            raise ValidationException(f"The KeySchema exceeds the maximum allowed number of {role} key attributes")


def _projection(index: dict) -> dict:
    """The index's Projection as DynamoDB keeps it, or DynamoDB's refusal."""
    projection = index["Projection"]
    projection_type = projection.get("ProjectionType")
    if projection_type is None:
        raise invalid("Unknown ProjectionType: null")
    non_key = projection.get("NonKeyAttributes")
    if non_key is not None and projection_type != "INCLUDE":
        raise invalid(f"ProjectionType is {projection_type}, but NonKeyAttributes is specified")
    if projection_type == "INCLUDE" and not non_key:
        raise invalid("NonKeyAttributes must not be empty when ProjectionType is INCLUDE")
    if non_key is None:
        return {"ProjectionType": projection_type}
    return {"ProjectionType": projection_type, "NonKeyAttributes": list(non_key)}


def _check_defined(index: dict, defined: list[str]) -> None:
    missing = [name for name in key_names(index["KeySchema"]) if name not in defined]
    if missing:
        raise invalid(
            "Some index key attributes are not defined in AttributeDefinitions. "
            f"Keys: [{', '.join(key_names(index['KeySchema']))}], AttributeDefinitions: [{', '.join(defined)}]"
        )


def _check_local(index: dict, table_key_schema: list[dict]) -> None:
    name = index["IndexName"]
    if len(index["KeySchema"]) != 2:
        raise invalid(f"Index KeySchema does not have a range key for index: {name}")
    index_hash, table_hash = index["KeySchema"][0]["AttributeName"], table_key_schema[0]["AttributeName"]
    if index_hash != table_hash:
        raise invalid(
            "Index KeySchema does not have the same leading hash key as table KeySchema for index: "
            f"{name}. index hash key: {index_hash}, table hash key: {table_hash}"
        )


def index_throughput(index: dict, billing_mode: str) -> dict:
    """A GSI's ProvisionedThroughput for the table's billing mode, or DynamoDB's refusal."""
    requested = index.get("ProvisionedThroughput")
    name = index["IndexName"]
    if billing_mode == "PAY_PER_REQUEST":
        if requested is not None:
            raise invalid(
                f"ProvisionedThroughput should not be specified for index: {name} when BillingMode is PAY_PER_REQUEST"
            )
        return dict(_ON_DEMAND_THROUGHPUT)
    if requested is None:
        raise invalid(f"ProvisionedThroughput must be specified for index: {name}")
    return {
        "NumberOfDecreasesToday": 0,
        "ReadCapacityUnits": requested["ReadCapacityUnits"],
        "WriteCapacityUnits": requested["WriteCapacityUnits"],
    }


def _described(index: dict, is_global: bool, billing_mode: str, status: str) -> dict:
    description = {
        "IndexName": index["IndexName"],
        "KeySchema": [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in index["KeySchema"]],
        "Projection": _projection(index),
    }
    if is_global:
        description["IndexStatus"] = status
        description["Backfilling"] = status == "CREATING"
        description["ProvisionedThroughput"] = index_throughput(index, billing_mode)
        if "OnDemandThroughput" in index:
            description["OnDemandThroughput"] = index["OnDemandThroughput"]
    return description


def _check_projected_total(indexes: Iterable[dict]) -> None:
    total = sum(len(index["Projection"].get("NonKeyAttributes", ())) for index in indexes)
    if total > MAX_PROJECTED_ATTRIBUTES:
        raise invalid(
            f"The number of projected attributes across all secondary indexes ({total}) exceeds the limit "
            f"of {MAX_PROJECTED_ATTRIBUTES}"
        )


def check_definitions_used(attribute_definitions: list[dict], key_schemas: Iterable[list[dict]]) -> None:
    """Every AttributeDefinition must key the table or one of its indexes."""
    defined = [d["AttributeName"] for d in attribute_definitions]
    used: list[str] = []
    for key_schema in key_schemas:
        used += [name for name in key_names(key_schema) if name not in used]
    if set(defined) - set(used):
        raise invalid(
            f"Some AttributeDefinitions are not used. AttributeDefinitions: [{', '.join(defined)}], "
            f"keys used: [{', '.join(used)}]"
        )


def created_indexes(request: dict, billing_mode: str) -> dict[str, list[dict]]:
    """The index descriptions of a CreateTable request (keyed LocalSecondaryIndexes and
    GlobalSecondaryIndexes, each present only when declared), after DynamoDB's checks.
    Attributes its vector indexes' search schemas name count as used definitions."""
    defined = [d["AttributeName"] for d in request["AttributeDefinitions"]]
    table_key_schema = request["KeySchema"]
    seen: set[str] = set()
    described: dict[str, list[dict]] = {}
    for member, is_global, limit in ((LOCAL, False, MAX_LOCAL_INDEXES), (GLOBAL, True, MAX_GLOBAL_INDEXES)):
        indexes = request.get(member)
        if indexes is None:
            continue
        if not indexes:
            raise invalid(f"List of {member} is empty")
        if not is_global and len(table_key_schema) != 2:
            raise invalid(
                "Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex"
            )
        for index in indexes:
            _check_defined(index, defined)
            _check_index_key_schema(index, is_global)
            if not is_global:
                _check_local(index, table_key_schema)
            if index["IndexName"] in seen:
                raise invalid(f"Duplicate index name: {index['IndexName']}")
            seen.add(index["IndexName"])
        if len(indexes) > limit:
            raise invalid(
                "Number of LocalSecondaryIndexes exceeds per-table limit of 5"
                if not is_global
                else "GlobalSecondaryIndex count exceeds the per-table limit of 20"
            )
        described[member] = [_described(index, is_global, billing_mode, "ACTIVE") for index in indexes]
    _check_projected_total(index for group in described.values() for index in group)
    check_definitions_used(
        request["AttributeDefinitions"],
        [
            table_key_schema,
            *(index["KeySchema"] for group in described.values() for index in group),
            *(index.get("SearchSchema", []) for index in request.get(VECTOR) or ()),
        ],
    )
    return described


def all_indexes(description: dict) -> list[dict]:
    return [*description.get(LOCAL, ()), *description.get(GLOBAL, ())]


def find_index(description: dict, name: str) -> tuple[dict, bool] | None:
    """The index of a table description that bears ``name``, and whether it is global."""
    for member, is_global in ((LOCAL, False), (GLOBAL, True)):
        for index in description.get(member, ()):
            if index["IndexName"] == name:
                return index, is_global
    return None


def merged_definitions(description: dict, requested: list[dict] | None) -> list[dict]:
    """The table's AttributeDefinitions with those an UpdateTable request adds; a request
    may not give an attribute already keying the table another type."""
    merged = {d["AttributeName"]: d["AttributeType"] for d in description["AttributeDefinitions"]}
    for definition in requested or ():
        name, kind = definition["AttributeName"], definition["AttributeType"]
        if merged.get(name, kind) != kind:
            raise invalid(
                f"Cannot change the type of attribute {name}: it is defined as {merged[name]} by the table "
                "or an existing index"
            )
        merged[name] = kind
    return [{"AttributeName": name, "AttributeType": kind} for name, kind in merged.items()]


def _used_definitions(description: dict, definitions: list[dict]) -> list[dict]:
    """The definitions still keying the table or one of its indexes (DynamoDB drops the rest)."""
    used = set(key_names(description["KeySchema"]))
    for index in all_indexes(description):
        used.update(key_names(index["KeySchema"]))
    for index in description.get(VECTOR, ()):
        used.update(key_names(index.get("SearchSchema", [])))
    return [d for d in definitions if d["AttributeName"] in used]


def _check_one_online_change(description: dict, updates: list[dict]) -> None:
    changes = [u for u in updates if "Create" in u or "Delete" in u]
    busy = any(index.get("IndexStatus") in ("CREATING", "DELETING") for index in description.get(GLOBAL, ()))
    busy = busy or any(index["IndexStatus"] == "CREATING" for index in description.get(VECTOR, ()))
    if len(changes) > 1 or (changes and busy):
        raise LimitExceededException(ONE_AT_A_TIME)
    names = [next(iter(update.values()))["IndexName"] for update in updates if update]
    for name in names:
        if names.count(name) > 1:
            raise invalid(f"Only one global secondary index update per index is allowed simultaneously. Index: {name}")


def updated_indexes(description: dict, request: dict, billing_mode: str) -> tuple[dict, str | None]:
    """The table description after an UpdateTable request's GlobalSecondaryIndexUpdates and
    AttributeDefinitions, and the name of the index it creates (which starts CREATING and
    needs a backfill) or None."""
    updates = request.get("GlobalSecondaryIndexUpdates") or []
    for update in updates:
        if len(update) != 1:
            raise ValidationException(
                "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Update, "
                "GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null"
            )
    _check_one_online_change(description, updates)
    updated = dict(description)
    definitions = merged_definitions(description, request.get("AttributeDefinitions"))
    updated["AttributeDefinitions"] = definitions
    globals_ = [dict(index) for index in description.get(GLOBAL, ())]
    created = None
    for update in updates:
        (action, body), = update.items()
        name = body["IndexName"]
        found = find_index(updated, name)
        if action == "Create":
            if found is not None:
                raise ValidationException("Attempting to create an index which already exists")
            _check_defined(body, [d["AttributeName"] for d in definitions])
            _check_index_key_schema(body, is_global=True)
            if len(globals_) >= MAX_GLOBAL_INDEXES:
                raise LimitExceededException(
                    f"GlobalSecondaryIndex count exceeds the per-table limit of {MAX_GLOBAL_INDEXES}"
                )
            globals_.append(_described(body, True, billing_mode, "CREATING"))
            created = name
        elif found is None or not found[1]:
            raise ResourceNotFoundException(f"Requested resource not found: Index: {name} not found")
        elif action == "Delete":
            globals_ = [index for index in globals_ if index["IndexName"] != name]
        else:
            _update_throughput(globals_, body, billing_mode)
        updated[GLOBAL] = globals_
    if not globals_:
        updated.pop(GLOBAL, None)
    _check_projected_total(all_indexes(updated))
    updated["AttributeDefinitions"] = _used_definitions(updated, definitions)
    if created is not None:
        check_definitions_used(definitions, [
            updated["KeySchema"],
            *(i["KeySchema"] for i in all_indexes(updated)),
            *(i.get("SearchSchema", []) for i in updated.get(VECTOR, ())),
        ])
    return updated, created


def _update_throughput(globals_: list[dict], body: dict, billing_mode: str) -> None:
    index = next(index for index in globals_ if index["IndexName"] == body["IndexName"])
    if "ProvisionedThroughput" in body:
        if billing_mode == "PAY_PER_REQUEST":
            raise invalid(
                f"ProvisionedThroughput should not be specified for index: {body['IndexName']} when "
                "BillingMode is PAY_PER_REQUEST"
            )
        index["ProvisionedThroughput"] = index_throughput(body, billing_mode)
    if "OnDemandThroughput" in body:
        index["OnDemandThroughput"] = body["OnDemandThroughput"]


def rebilled_indexes(description: dict, billing_mode: str, updates: list[dict]) -> list[dict]:
    """The GSIs of a table switching billing mode: zero throughput on demand; on
    PROVISIONED, the throughput the request's Update actions give each index."""
    given = {u["Update"]["IndexName"]: u["Update"] for u in updates if "Update" in u}
    rebilled = []
    for index in description.get(GLOBAL, ()):
        request = given.get(index["IndexName"], {"IndexName": index["IndexName"]})
        rebilled.append({**index, "ProvisionedThroughput": index_throughput(request, billing_mode)})
    return rebilled


def with_index_status(description: dict, name: str, status: str) -> dict:
    """A copy of the description in which the GSI ``name`` has ``status`` (backfilling
    while CREATING)."""
    updated = dict(description)
    updated[GLOBAL] = [
        {**index, "IndexStatus": status, "Backfilling": status == "CREATING"} if index["IndexName"] == name else index
        for index in description.get(GLOBAL, ())
    ]
    return updated


def check_index_keys(layouts: Iterable[IndexLayout], item: dict, by_update: bool = False) -> None:
    """Refuse an item whose index key attribute has another type than its index declares,
    is an empty string or binary, or is larger than an index key may be; an item lacking
    the attribute is simply not indexed. DynamoDB names the alphabetically first index
    that refuses it."""
    for layout in sorted(layouts, key=lambda layout: layout.name):
        limits = [MAX_HASH_KEY_SIZE] * len(layout.hash_parts) + [MAX_RANGE_KEY_SIZE] * len(layout.range_parts)
        for (name, tag), limit in zip(layout.hash_parts + layout.range_parts, limits):
            value = item.get(name)
            if value is not None:
                _check_index_value(layout.name, name, tag, value, limit, by_update)


def _check_index_value(index: str, name: str, tag: str, value: dict, limit: int, by_update: bool) -> None:
    actual = next(iter(value))
    if actual != tag:
        raise invalid(f"Type mismatch for Index Key {name} Expected: {tag} Actual: {actual} IndexName: {index}")
    if not value[tag]:
        kind = "string" if tag == "S" else "binary"
        what = (
            "The update expression attempted to update a secondary index key to a value that is not supported"
            if by_update
            else "A value specified for a secondary index key is not supported"
        )
        raise ValidationException(
            f"One or more parameter values are not valid. {what}. The AttributeValue for a key attribute "
            f"cannot contain an empty {kind} value. IndexName: {index}, IndexKey: {name}"
        )
    size = _key_value_size(tag, value[tag])
    if size > limit:
        raise invalid(
            f"Size limit exceeded for Index Key {name} Actual Size: {size} bytes Max Size: {limit} bytes "
            f"IndexName: {index}"
        )


def _key_value_size(tag: str, text: str) -> int:
    """The size DynamoDB counts for a key value in canonical form: a string's UTF-8
    bytes, a binary's decoded bytes (from its base64 length); a number (at most 21
    bytes) never reaches either limit."""
    if tag == "S":
        return len(text.encode())
    if tag == "B":
        return len(text) * 3 // 4 - text[-2:].count("=")
    return 0
