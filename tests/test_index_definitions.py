"""Index definition rules (dynovault.indexes) for CreateTable and UpdateTable, and the
write-side index key checks, with DynamoDB's messages — pure functions, no server."""

from __future__ import annotations

import pytest

from dynovault.errors import (
    LimitExceededException,
    ResourceNotFoundException,
    ValidationException,
)
from dynovault.indexes import (
    check_index_keys,
    created_indexes,
    rebilled_indexes,
    updated_indexes,
    with_index_status,
)
from dynovault.storage.indexes import layouts_of


def key(*names_and_roles):
    return [{"AttributeName": n, "KeyType": r} for n, r in names_and_roles]


def definitions(**types):
    return [{"AttributeName": n, "AttributeType": t} for n, t in types.items()]


def request(gsis=None, lsis=None, **types):
    body = {
        "KeySchema": key(("pk", "HASH"), ("sk", "RANGE")),
        "AttributeDefinitions": definitions(pk="S", sk="N", **types),
    }
    if gsis is not None:
        body["GlobalSecondaryIndexes"] = gsis
    if lsis is not None:
        body["LocalSecondaryIndexes"] = lsis
    return body


def index(name, *names_and_roles, projection=None, **extra):
    return {"IndexName": name, "KeySchema": key(*names_and_roles), "Projection": {"ProjectionType": "ALL"} if projection is None else projection, **extra}


def refusal(call, *args, kind=ValidationException) -> str:
    with pytest.raises(kind) as caught:
        call(*args)
    return caught.value.message


def test_create_describes_every_index_with_throughput_by_billing_mode():
    described = created_indexes(
        request(
            gsis=[index("g1", ("g", "HASH"), projection={"ProjectionType": "KEYS_ONLY"},
                        ProvisionedThroughput={"ReadCapacityUnits": 2, "WriteCapacityUnits": 3})],
            lsis=[index("l1", ("pk", "HASH"), ("l", "RANGE"),
                        projection={"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]})],
            g="S",
            l="B",
        ),
        "PROVISIONED",
    )
    (gsi,) = described["GlobalSecondaryIndexes"]
    assert gsi["IndexStatus"] == "ACTIVE" and gsi["Backfilling"] is False
    assert gsi["ProvisionedThroughput"] == {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 2, "WriteCapacityUnits": 3}
    (lsi,) = described["LocalSecondaryIndexes"]
    assert "IndexStatus" not in lsi and "ProvisionedThroughput" not in lsi
    assert lsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]}


@pytest.mark.parametrize(
    "body, billing, message",
    [
        (request(gsis=[], g="S"), "PAY_PER_REQUEST", "One or more parameter values were invalid: List of GlobalSecondaryIndexes is empty"),
        (request(gsis=[index("g1", ("g", "HASH"))]), "PAY_PER_REQUEST",
         "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. "
         "Keys: [g], AttributeDefinitions: [pk, sk]"),
        (request(gsis=[index("g1", ("g", "HASH"))], g="S", extra="S"), "PAY_PER_REQUEST",
         "One or more parameter values were invalid: Some AttributeDefinitions are not used. "
         "AttributeDefinitions: [pk, sk, g, extra], keys used: [pk, sk, g]"),
        (request(gsis=[index("g1", ("g", "RANGE"))], g="S"), "PAY_PER_REQUEST",
         "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"),
        (request(gsis=[index("g1", ("g", "HASH"), ("g", "RANGE"))], g="S"), "PAY_PER_REQUEST",
         "Both the Hash Key and the Range Key element in the KeySchema have the same name"),
        (request(gsis=[index("g1", ("g", "HASH"), ("h", "RANGE"), ("i", "HASH"))], g="S", h="S", i="S"), "PAY_PER_REQUEST",
         "All HASH key attributes must precede RANGE key attributes in the KeySchema"),
        (request(gsis=[index("g1", *[(n, "HASH") for n in "abcde"])], a="S", b="S", c="S", d="S", e="S"), "PAY_PER_REQUEST",
         "The KeySchema exceeds the maximum allowed number of HASH key attributes"),
        (request(gsis=[index("g1", ("g", "HASH"), *[(n, "RANGE") for n in "abcde"])], g="S", a="S", b="S", c="S", d="S", e="S"),
         "PAY_PER_REQUEST", "The KeySchema exceeds the maximum allowed number of RANGE key attributes"),
        (request(gsis=[index("g1", ("g", "HASH"), projection={})], g="S"), "PAY_PER_REQUEST",
         "One or more parameter values were invalid: Unknown ProjectionType: null"),
        (request(gsis=[index("g1", ("g", "HASH"), projection={"ProjectionType": "ALL", "NonKeyAttributes": ["x"]})], g="S"),
         "PAY_PER_REQUEST", "One or more parameter values were invalid: ProjectionType is ALL, but NonKeyAttributes is specified"),
        (request(gsis=[index("dup", ("g", "HASH"))], lsis=[index("dup", ("pk", "HASH"), ("g", "RANGE"))], g="S"), "PAY_PER_REQUEST",
         "One or more parameter values were invalid: Duplicate index name: dup"),
        (request(gsis=[index(f"g{i}", ("g", "HASH")) for i in range(21)], g="S"), "PAY_PER_REQUEST",
         "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of 20"),
        (request(lsis=[index(f"l{i}", ("pk", "HASH"), ("g", "RANGE")) for i in range(6)], g="S"), "PAY_PER_REQUEST",
         "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds per-table limit of 5"),
        (request(lsis=[index("l1", ("pk", "HASH"))]), "PAY_PER_REQUEST",
         "One or more parameter values were invalid: Index KeySchema does not have a range key for index: l1"),
        (request(lsis=[index("l1", ("g", "HASH"), ("sk", "RANGE"))], g="S"), "PAY_PER_REQUEST",
         "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table "
         "KeySchema for index: l1. index hash key: g, table hash key: pk"),
        (request(lsis=[index("l1", ("pk", "HASH"), ("a", "RANGE"), ("b", "RANGE"))], a="S", b="S"), "PAY_PER_REQUEST",
         "The KeySchema exceeds the maximum allowed number of RANGE key attributes"),
        (request(gsis=[index("g1", ("g", "HASH"), ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})], g="S"),
         "PAY_PER_REQUEST",
         "One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: g1 when "
         "BillingMode is PAY_PER_REQUEST"),
        (request(gsis=[index("g1", ("g", "HASH"))], g="S"), "PROVISIONED",
         "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: g1"),
        (request(gsis=[index(f"g{i}", ("g", "HASH"), projection={"ProjectionType": "INCLUDE",
                                                                  "NonKeyAttributes": [f"a{j}" for j in range(20)]})
                       for i in range(6)], g="S"), "PAY_PER_REQUEST",
         "One or more parameter values were invalid: The number of projected attributes across all secondary indexes "
         "(120) exceeds the limit of 100"),
    ],
)
def test_create_refusals(body, billing, message):
    assert refusal(created_indexes, body, billing) == message


def test_local_index_needs_a_table_sort_key():
    body = {
        "KeySchema": key(("pk", "HASH")),
        "AttributeDefinitions": definitions(pk="S", g="S"),
        "LocalSecondaryIndexes": [index("l1", ("pk", "HASH"), ("g", "RANGE"))],
    }
    assert refusal(created_indexes, body, "PAY_PER_REQUEST") == (
        "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required "
        "when specifying a LocalSecondaryIndex"
    )


def table(**extra) -> dict:
    body = request(g="S")
    described = created_indexes(
        {**body, "GlobalSecondaryIndexes": [index("g1", ("g", "HASH"))]}, "PAY_PER_REQUEST"
    )
    return {"TableId": "id", **body, **described, **extra}


def test_update_creates_a_backfilling_index_and_merges_definitions():
    updated, created = updated_indexes(
        table(),
        {
            "AttributeDefinitions": definitions(h="N"),
            "GlobalSecondaryIndexUpdates": [{"Create": index("g2", ("h", "HASH"), ("g", "RANGE"))}],
        },
        "PAY_PER_REQUEST",
    )
    assert created == "g2"
    new = updated["GlobalSecondaryIndexes"][-1]
    assert new["IndexStatus"] == "CREATING" and new["Backfilling"] is True
    assert {d["AttributeName"] for d in updated["AttributeDefinitions"]} == {"pk", "sk", "g", "h"}
    active = with_index_status(updated, "g2", "ACTIVE")["GlobalSecondaryIndexes"][-1]
    assert active["IndexStatus"] == "ACTIVE" and active["Backfilling"] is False
    assert [layout.name for layout in layouts_of(updated)] == ["g1", "g2"]


def test_update_deletes_an_index_and_drops_its_definitions():
    updated, created = updated_indexes(table(), {"GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "g1"}}]}, "PAY_PER_REQUEST")
    assert created is None
    assert "GlobalSecondaryIndexes" not in updated
    assert [d["AttributeName"] for d in updated["AttributeDefinitions"]] == ["pk", "sk"]


def test_update_refusals():
    described = table()
    create_g1 = {"GlobalSecondaryIndexUpdates": [{"Create": index("g1", ("g", "HASH"))}]}
    assert refusal(updated_indexes, described, create_g1, "PAY_PER_REQUEST") == (
        "Attempting to create an index which already exists"
    )
    missing = {"GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "nope"}}]}
    assert "Index: nope not found" in refusal(updated_indexes, described, missing, "PAY_PER_REQUEST", kind=ResourceNotFoundException)
    two = {"GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "g1"}}, {"Create": index("g2", ("g", "HASH"))}]}
    assert "Only 1 online index" in refusal(updated_indexes, described, two, "PAY_PER_REQUEST", kind=LimitExceededException)
    busy = with_index_status(described, "g1", "CREATING")
    another = {"GlobalSecondaryIndexUpdates": [{"Create": index("g2", ("g", "HASH"))}]}
    assert "Only 1 online index" in refusal(updated_indexes, busy, another, "PAY_PER_REQUEST", kind=LimitExceededException)
    undefined = {"GlobalSecondaryIndexUpdates": [{"Create": index("g2", ("zz", "HASH"))}]}
    assert "Some index key attributes are not defined" in refusal(updated_indexes, described, undefined, "PAY_PER_REQUEST")
    retyped = {"AttributeDefinitions": definitions(g="N"), **another}
    assert "Cannot change the type of attribute g" in refusal(updated_indexes, described, retyped, "PAY_PER_REQUEST")


def test_update_changes_index_throughput_and_rebills():
    provisioned = table()
    provisioned["GlobalSecondaryIndexes"] = rebilled_indexes(
        provisioned, "PROVISIONED",
        [{"Update": {"IndexName": "g1", "ProvisionedThroughput": {"ReadCapacityUnits": 4, "WriteCapacityUnits": 5}}}],
    )
    assert provisioned["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["ReadCapacityUnits"] == 4
    updated, _ = updated_indexes(
        provisioned,
        {"GlobalSecondaryIndexUpdates": [
            {"Update": {"IndexName": "g1", "ProvisionedThroughput": {"ReadCapacityUnits": 9, "WriteCapacityUnits": 9}}}
        ]},
        "PROVISIONED",
    )
    assert updated["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["WriteCapacityUnits"] == 9
    with pytest.raises(ValidationException):
        rebilled_indexes(table(), "PROVISIONED", [])
    assert rebilled_indexes(provisioned, "PAY_PER_REQUEST", [])[0]["ProvisionedThroughput"]["ReadCapacityUnits"] == 0


def test_write_side_index_key_checks_name_the_first_index_alphabetically():
    described = table()
    described["GlobalSecondaryIndexes"] = described["GlobalSecondaryIndexes"] + [
        created_indexes({**request(g="S"), "GlobalSecondaryIndexes": [index("a_first", ("g", "HASH"))]}, "PAY_PER_REQUEST")[
            "GlobalSecondaryIndexes"
        ][0]
    ]
    layouts = layouts_of(described)
    check_index_keys(layouts, {"pk": {"S": "p"}, "sk": {"N": "1"}})
    check_index_keys(layouts, {"g": {"S": "ok"}})
    assert refusal(check_index_keys, layouts, {"g": {"N": "1"}}) == (
        "One or more parameter values were invalid: Type mismatch for Index Key g Expected: S Actual: N IndexName: a_first"
    )
    assert refusal(check_index_keys, layouts, {"g": {"S": ""}}) == (
        "One or more parameter values are not valid. A value specified for a secondary index key is not supported. "
        "The AttributeValue for a key attribute cannot contain an empty string value. IndexName: a_first, IndexKey: g"
    )
    with pytest.raises(ValidationException) as caught:
        check_index_keys(layouts, {"g": {"S": ""}}, by_update=True)
    assert "The update expression attempted to update a secondary index key" in caught.value.message
