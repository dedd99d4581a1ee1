"""Vector indexes and SearchVectors through boto3 (botocore's own model): definitions and
their refusals, the score of each distance function, TopK, sparse indexing, projections,
search conditions, write validation, backfill and capacity."""

from __future__ import annotations

import time

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.backup_helpers import wait_backup_available, wait_table_active
from tests.test_auth import KEYS, verifying_server  # noqa: F401 (a fixture)
from tests.test_auth import client as signed_client
from tests.test_conformance import refusal

VECTOR = {"AttributeName": "embedding"}
QUERY = [{"N": "1"}, {"N": "0"}, {"N": "0"}]
FOUR = {"a": [1, 0, 0], "b": [0, 1, 0], "c": [-1, 0, 0], "d": [0.6, 0.8, 0]}


def refused(call, code: str, message: str | None = None) -> None:
    """The call is refused with ``code`` (and ``message`` when given)."""
    got_code, got_message = refusal(call)
    assert got_code == code, got_message
    if message is not None:
        assert got_message == message


def vector_index(name: str, distance: str = "COSINE", dimensions: int = 3, **extra) -> dict:
    return {"IndexName": name, "VectorAttribute": VECTOR, "Projection": {"ProjectionType": "ALL"},
            "Dimensions": dimensions, "DistanceFunction": distance, **extra}


def create_vector_table(ddb, name: str, indexes: list[dict], definitions: tuple[tuple[str, str], ...] = ()) -> str:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              *({"AttributeName": n, "AttributeType": t} for n, t in definitions)],
        BillingMode="PAY_PER_REQUEST",
        VectorIndexes=indexes,
    )
    return name


def numbers(vector) -> dict:
    return {"L": [{"N": str(x)} for x in vector]}


def search(ddb, table: str, index: str, vector=QUERY, top_k: int = 10, **extra) -> list[dict]:
    vector = vector if isinstance(vector[0], dict) else numbers(vector)["L"]
    return ddb.search_vectors(TableName=table, IndexName=index, SearchVector=vector, TopK=top_k, **extra)["SearchResults"]


def keys(results: list[dict]) -> list[str]:
    return [result["Item"]["pk"]["S"] for result in results]


@pytest.fixture(scope="module")
def docs(ddb):
    """One table, one index per distance function, the four vectors of DynamoDB's examples."""
    name = create_vector_table(ddb, "vector-docs", [
        vector_index("cosine"), vector_index("euclid", "EUCLIDEAN"), vector_index("dotp", "DOT_PRODUCT")])
    for key, vector in FOUR.items():
        ddb.put_item(TableName=name, Item={"pk": {"S": key}, "label": {"S": f"item {key}"}, "embedding": numbers(vector)})
    ddb.put_item(TableName=name, Item={"pk": {"S": "novec"}, "label": {"S": "no vector"}})
    return name


def test_create_table_describes_its_vector_indexes_active(ddb, docs):
    described = ddb.describe_table(TableName=docs)["Table"]["VectorIndexes"]
    assert [(i["IndexName"], i["IndexStatus"], i["DistanceFunction"], i["Dimensions"]) for i in described] == [
        ("cosine", "ACTIVE", "COSINE", 3), ("euclid", "ACTIVE", "EUCLIDEAN", 3), ("dotp", "ACTIVE", "DOT_PRODUCT", 3)]
    cosine = described[0]
    assert cosine["ItemCount"] == 4 and cosine["IndexSizeBytes"] > 4 * 12
    assert cosine["IndexArn"].endswith(f":table/{docs}/index/cosine")
    assert cosine["VectorAttribute"] == VECTOR and "Backfilling" not in cosine


@pytest.mark.parametrize("index, scores", [
    ("cosine", [0.0, 0.3999999761581421, 1.0, 2.0]),
    ("euclid", [0.0, 0.8944271802902222, 1.4142135381698608, 2.0]),
    ("dotp", [1.0, 0.6000000238418579, 0.0, -1.0]),
])
def test_each_distance_function_scores_as_dynamodb_documents(ddb, docs, index, scores):
    results = search(ddb, docs, index, top_k=10)
    assert keys(results) == ["a", "d", "b", "c"]
    assert [result["Score"] for result in results] == scores


def test_top_k_cuts_and_items_without_the_vector_are_not_indexed(ddb, docs):
    assert keys(search(ddb, docs, "cosine", top_k=2)) == ["a", "d"]
    assert "novec" not in keys(search(ddb, docs, "cosine", top_k=100))


def test_results_carry_the_projection_without_the_vector_unless_asked(ddb, docs):
    (first,) = search(ddb, docs, "cosine", top_k=1)
    assert first["Item"] == {"pk": {"S": "a"}, "label": {"S": "item a"}}
    asked = search(ddb, docs, "cosine", top_k=2, ProjectionExpression="pk, embedding")
    assert [r["Item"] for r in asked] == [
        {"pk": {"S": "a"}, "embedding": numbers(["1.0", "0.0", "0.0"])},
        {"pk": {"S": "d"}, "embedding": numbers(["0.6", "0.8", "0.0"])},
    ]


def test_consumed_capacity_is_search_request_bytes(ddb, docs):
    for mode in ("TOTAL", "INDEXES"):
        answer = ddb.search_vectors(TableName=docs, IndexName="cosine", SearchVector=QUERY, TopK=1,
                                    ReturnConsumedCapacity=mode)
        assert answer["ConsumedCapacity"] == {"VectorSearchRequestBytes": 1024.0}
    assert "ConsumedCapacity" not in ddb.search_vectors(TableName=docs, IndexName="cosine", SearchVector=QUERY, TopK=1)


def test_search_refusals(ddb, docs, table_name):
    plain = create_vector_table(ddb, table_name, [vector_index("plain")])
    refused(lambda: search(ddb, docs, "cosine", top_k=101), "ValidationException",
            "Provided TopK value '101' is out of valid range. The value must be between 1 and 100 inclusive")
    refused(lambda: search(ddb, "no-such-table", "cosine", top_k=101), "ValidationException",
            "Provided TopK value '101' is out of valid range. The value must be between 1 and 100 inclusive")
    refused(lambda: search(ddb, "no-such-table", "cosine"), "ResourceNotFoundException")
    refused(lambda: search(ddb, docs, "missing"), "ValidationException",
            "The table does not have the specified index: missing")
    refused(lambda: search(ddb, plain, "plain", [1, 0]), "ValidationException",
            "Input search vector dimension 2 does not match vector index dimension 3")
    refused(lambda: search(ddb, plain, "plain", [{"N": "1"}, {"S": "x"}, {"N": "0"}]), "ValidationException",
            "Search vector contains invalid values. All values in the search vector must be a 32-bit "
            "floating-point number attribute")
    refused(lambda: search(ddb, plain, "plain", [1, 1e39, 0]), "ValidationException",
            "Search vector contains invalid values. All values in the search vector must be a 32-bit "
            "floating-point number attribute")
    refused(lambda: search(ddb, plain, "plain", SearchConditionExpression="tenant = :t",
                           ExpressionAttributeValues={":t": {"S": "acme"}}), "ValidationException",
            "SearchConditionExpression must not contain any attributes that is not in SearchSchema. "
            "Invalid attribute: tenant")
    refused(lambda: search(ddb, docs, "cosine", ProjectionExpression="#x, label",
                           ExpressionAttributeNames={"#x": "label"}), "ValidationException",
            "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one "
            "of these paths; path one: [label], path two: [label]")


# ---- search schemas: HASH partitions and inline filters -------------------------------------------------

@pytest.fixture(scope="module")
def tenants(ddb):
    """Tenants ``acme`` and ``bolt`` (HASH), years as an inline filter, KEYS_ONLY."""
    name = create_vector_table(
        ddb, "vector-tenants",
        [vector_index("by_tenant", "EUCLIDEAN", 4, Projection={"ProjectionType": "KEYS_ONLY"}, SearchSchema=[
            {"AttributeName": "tenant", "SearchSchemaElementType": "HASH"},
            {"AttributeName": "year", "SearchSchemaElementType": "INLINE_FILTER"}])],
        (("tenant", "S"), ("year", "N")))
    rng = np.random.default_rng(5)
    items = []
    for i in range(60):
        item = {"pk": {"S": f"doc{i:02}"}, "tenant": {"S": "acme" if i % 3 else "bolt"},
                "year": {"N": str(2000 + i % 10)}, "body": {"S": "text"},
                "embedding": numbers(np.round(rng.standard_normal(4), 3))}
        items.append(item)
    for start in range(0, 60, 25):
        ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": i}} for i in items[start:start + 25]]})
    return name, items


def exact(items: list[dict], query: list[float], accept, k: int) -> list[str]:
    chosen = [item for item in items if accept(item)]
    vectors = np.array([[float(n["N"]) for n in i["embedding"]["L"]] for i in chosen], dtype=np.float32)
    distances = np.sqrt(np.sum(np.square(vectors - np.array(query, dtype=np.float32)), axis=1))
    return [chosen[i]["pk"]["S"] for i in np.argsort(distances, kind="stable")[:k]]


def test_a_search_stays_in_its_hash_partition_and_filters_inline(ddb, tenants):
    name, items = tenants
    query = [0.1, -0.2, 0.3, 0.4]
    acme = search(ddb, name, "by_tenant", query, 5, SearchConditionExpression="tenant = :t",
                  ExpressionAttributeValues={":t": {"S": "acme"}})
    assert keys(acme) == exact(items, query, lambda i: i["tenant"]["S"] == "acme", 5)
    assert set(acme[0]["Item"]) == {"pk", "tenant", "year"}
    recent = search(ddb, name, "by_tenant", query, 10,
                    SearchConditionExpression="#y BETWEEN :a AND :b AND tenant = :t",
                    ExpressionAttributeNames={"#y": "year"},
                    ExpressionAttributeValues={":t": {"S": "acme"}, ":a": {"N": "2007"}, ":b": {"N": "2009"}})
    wanted = exact(items, query, lambda i: i["tenant"]["S"] == "acme" and int(i["year"]["N"]) >= 2007, 10)
    assert keys(recent) == wanted and len(wanted) == 10
    odd = search(ddb, name, "by_tenant", query, 3, SearchConditionExpression="tenant = :t AND (#y = :a OR #y > :b)",
                 ExpressionAttributeNames={"#y": "year"},
                 ExpressionAttributeValues={":t": {"S": "bolt"}, ":a": {"N": "2000"}, ":b": {"N": "2008"}})
    assert keys(odd) == exact(items, query, lambda i: i["tenant"]["S"] == "bolt" and i["year"]["N"] in ("2000", "2009"), 3)
    none = search(ddb, name, "by_tenant", query, 3, SearchConditionExpression="tenant = :t",
                  ExpressionAttributeValues={":t": {"S": "nobody"}})
    assert none == []


def test_search_schema_refusals(ddb, tenants):
    name, _ = tenants
    query = [0, 0, 0, 1]
    refused(lambda: search(ddb, name, "by_tenant", query), "ValidationException",
            "SearchConditionExpression must be provided when SearchSchema has a HASH key")
    for condition in ("tenant < :t", "tenant = :t OR #y = :y", "begins_with(tenant, :t)"):
        values = {":t": {"S": "acme"}, **({":y": {"N": "1"}} if ":y" in condition else {})}
        names = {"#y": "year"} if "#y" in condition else {}
        refused(lambda: search(ddb, name, "by_tenant", query, SearchConditionExpression=condition,
                               ExpressionAttributeValues=values, **({"ExpressionAttributeNames": names} if names else {})),
                "ValidationException",
                "Invalid SearchConditionExpression: Invalid comparator used in SearchConditionExpression")
    refused(lambda: search(ddb, name, "by_tenant", query, SearchConditionExpression="tenant = :t AND body = :t",
                           ExpressionAttributeValues={":t": {"S": "acme"}}), "ValidationException",
            "SearchConditionExpression must not contain any attributes that is not in SearchSchema. "
            "Invalid attribute: body")


def test_writes_refuse_wrong_search_schema_types(ddb, tenants):
    name, _ = tenants
    refused(lambda: ddb.put_item(TableName=name, Item={"pk": {"S": "x"}, "tenant": {"N": "1"}}), "ValidationException",
            "One or more parameter values were invalid: Type mismatch for Index Key tenant Expected: S Actual: N "
            "IndexName: by_tenant")
    refused(lambda: ddb.put_item(TableName=name, Item={"pk": {"S": "x"}, "tenant": {"S": ""}}), "ValidationException",
            "One or more parameter values are not valid. A value specified for a secondary index key is not "
            "supported. The AttributeValue for a key attribute cannot contain an empty string value. "
            "IndexName: by_tenant, IndexKey: tenant")
    assert "Item" not in ddb.get_item(TableName=name, Key={"pk": {"S": "x"}})


# ---- write validation ---------------------------------------------------------------------------------

BAD_VECTORS = [
    ({"L": [{"N": "1"}, {"N": "0"}]},
     "One or more parameter values were invalid. Invalid size for parameter embedding, Expected: 3, Actual: 2 "
     "IndexName: plain"),
    ({"L": [{"N": "1"}, {"S": "x"}, {"N": "0"}]},
     "One or more parameter values were invalid. Invalid type for parameter embedding[1], Expected: 32-bit "
     "floating point number, Actual: S. IndexName: plain"),
    ({"S": "not a vector"},
     "One or more parameter values were invalid. Invalid type for parameter embedding, Expected: 32-bit floating "
     "point number list IndexName: plain"),
    ({"L": [{"N": "1"}, {"N": "4E+38"}, {"N": "0"}]},
     "One or more parameter values were invalid. Invalid value for parameter embedding[1], Expected: 32-bit "
     "floating point number, Actual: 4" + "0" * 38 + ". IndexName: plain"),
]


@pytest.mark.parametrize("value, message", BAD_VECTORS)
def test_every_write_refuses_a_malformed_vector_and_writes_nothing(ddb, table_name, value, message):
    name = create_vector_table(ddb, table_name, [vector_index("plain")])
    item = {"pk": {"S": "k"}, "embedding": value}
    refused(lambda: ddb.put_item(TableName=name, Item=item), "ValidationException", message)
    refused(lambda: ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": item}}]}),
            "ValidationException", message)
    refused(lambda: ddb.update_item(TableName=name, Key={"pk": {"S": "k"}}, UpdateExpression="SET embedding = :v",
                                    ExpressionAttributeValues={":v": value}), "ValidationException", message)
    refused(lambda: ddb.transact_write_items(TransactItems=[{"Put": {"TableName": name, "Item": item}}]),
            "ValidationException", message)
    assert ddb.scan(TableName=name)["Count"] == 0
    assert search(ddb, name, "plain") == []


def test_updates_deletes_and_transactions_move_the_index(ddb, table_name):
    name = create_vector_table(ddb, table_name, [vector_index("plain", "DOT_PRODUCT")])
    for key, vector in FOUR.items():
        ddb.put_item(TableName=name, Item={"pk": {"S": key}, "embedding": numbers(vector)})
    ddb.update_item(TableName=name, Key={"pk": {"S": "c"}}, UpdateExpression="SET embedding = :v",
                    ExpressionAttributeValues={":v": numbers([2, 0, 0])})
    ddb.delete_item(TableName=name, Key={"pk": {"S": "a"}})
    ddb.update_item(TableName=name, Key={"pk": {"S": "b"}}, UpdateExpression="REMOVE embedding")
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": name, "Item": {"pk": {"S": "e"}, "embedding": numbers([0.5, 0, 0])}}},
        {"Delete": {"TableName": name, "Key": {"pk": {"S": "d"}}}},
    ])
    results = search(ddb, name, "plain")
    assert [(r["Item"]["pk"]["S"], r["Score"]) for r in results] == [("c", 2.0), ("e", 0.5)]
    (described,) = ddb.describe_table(TableName=name)["Table"]["VectorIndexes"]
    assert described["ItemCount"] == 2


# ---- definitions ----------------------------------------------------------------------------------------

def _create(ddb, name: str, indexes: list[dict], **extra):
    request = {"TableName": name, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
               "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
               "BillingMode": "PAY_PER_REQUEST", "VectorIndexes": indexes, **extra}
    return lambda: ddb.create_table(**request)


def test_create_table_refusals(ddb, table_name):
    invalid = "One or more parameter values were invalid: "
    refused(_create(ddb, table_name, [vector_index("vix")], BillingMode="PROVISIONED",
                    ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}),
            "ValidationException", invalid + "Vector indexes are only supported for PAY_PER_REQUEST tables")
    refused(_create(ddb, table_name, [vector_index("vix", SearchSchema=[
        {"AttributeName": "tenant", "SearchSchemaElementType": "HASH"}])]),
        "ValidationException", invalid + "One element in SearchSchema is not defined in attribute definitions")
    refused(_create(ddb, table_name, [vector_index("vix", dimensions=5000)]), "ValidationException",
            invalid + "Number of dimensions must be between 1 and 4096 inclusive.")
    refused(_create(ddb, table_name, [vector_index(f"vix{i}") for i in range(6)]), "ValidationException",
            invalid + "VectorIndex count exceeds the per-table limit of 5")
    refused(_create(ddb, table_name, [vector_index("three"), vector_index("four", dimensions=4)]),
            "ValidationException", invalid + "Conflicting attribute definition for 'embedding'. All VectorIndexes on "
            "the same vector attribute must use the same dimensions.")
    refused(_create(ddb, table_name, [vector_index("dup"), vector_index("dup")]), "ValidationException",
            invalid + "Duplicate index name: dup")
    refused(_create(ddb, table_name, [vector_index("vix", Projection={"ProjectionType": "INCLUDE"})]),
            "ValidationException", invalid + "ProjectionType is INCLUDE, but NonKeyAttributes is not specified")
    refused(_create(ddb, table_name, [{**vector_index("vix"), "DistanceFunction": "MANHATTAN"}]), "ValidationException")
    with pytest.raises(ClientError):
        ddb.describe_table(TableName=table_name)


def wait_vector_active(ddb, table: str, index: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = ddb.describe_table(TableName=table)["Table"]
        found = next(i for i in described["VectorIndexes"] if i["IndexName"] == index)
        if found["IndexStatus"] == "ACTIVE":
            return found
        assert found["IndexStatus"] == "CREATING" and found["Backfilling"] is True
        time.sleep(0.05)
    raise AssertionError(f"{index} not ACTIVE after {timeout}s")


def test_update_table_adds_a_vector_index_built_from_the_items_then_drops_it(ddb, table_name):
    name = create_vector_table(ddb, table_name, [vector_index("first")])
    for i in range(700):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i:03}"}, "embedding": numbers([1, i, 0])})
    answer = ddb.update_table(
        TableName=name, AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        VectorIndexUpdates=[{"Create": vector_index("second", "EUCLIDEAN", Projection={"ProjectionType": "KEYS_ONLY"})}])
    created = next(i for i in answer["TableDescription"]["VectorIndexes"] if i["IndexName"] == "second")
    assert created["IndexStatus"] == "CREATING" and created["Backfilling"] is True
    described = wait_vector_active(ddb, name, "second")
    assert described["ItemCount"] == 700 and "Backfilling" not in described
    assert keys(search(ddb, name, "second", [1, 350.2, 0], 2)) == ["k350", "k351"]
    refused(lambda: ddb.update_table(TableName=name, VectorIndexUpdates=[{"Create": vector_index("second")}]),
            "ValidationException", "Attempting to create an index which already exists")
    refused(lambda: ddb.update_table(TableName=name, VectorIndexUpdates=[
        {"Create": vector_index("third")}, {"Delete": {"IndexName": "first"}}]), "LimitExceededException",
        "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table")
    refused(lambda: ddb.update_table(TableName=name, BillingMode="PROVISIONED",
                                     ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}),
            "ValidationException",
            "One or more parameter values were invalid: Vector indexes are only supported for PAY_PER_REQUEST tables")
    ddb.update_table(TableName=name, VectorIndexUpdates=[{"Delete": {"IndexName": "first"}}])
    assert [i["IndexName"] for i in ddb.describe_table(TableName=name)["Table"]["VectorIndexes"]] == ["second"]
    refused(lambda: search(ddb, name, "first"), "ValidationException", "The table does not have the specified index: first")
    refused(lambda: ddb.update_table(TableName=name, VectorIndexUpdates=[{"Delete": {"IndexName": "first"}}]),
            "ResourceNotFoundException")


def test_a_restored_table_has_the_vector_indexes_of_its_backup_unless_overridden(ddb, docs, table_name):
    arn = ddb.create_backup(TableName=docs, BackupName="vectors")["BackupDetails"]["BackupArn"]
    wait_backup_available(ddb, arn)
    ddb.restore_table_from_backup(TargetTableName=table_name, BackupArn=arn)
    wait_table_active(ddb, table_name)
    assert search(ddb, table_name, "euclid") == search(ddb, docs, "euclid")
    assert [i["IndexName"] for i in ddb.describe_table(TableName=table_name)["Table"]["VectorIndexes"]] == [
        "cosine", "euclid", "dotp"]
    ddb.restore_table_from_backup(TargetTableName=table_name + "-one", BackupArn=arn,
                                  VectorIndexOverride=[vector_index("only", "DOT_PRODUCT")])
    wait_table_active(ddb, table_name + "-one")
    assert keys(search(ddb, table_name + "-one", "only")) == ["a", "d", "b", "c"]
    refused(lambda: search(ddb, table_name + "-one", "cosine"), "ValidationException",
            "The table does not have the specified index: cosine")


def test_changing_only_a_filter_attribute_refilters_the_same_vector(ddb, table_name):
    name = create_vector_table(ddb, table_name, [vector_index("by_year", "EUCLIDEAN", SearchSchema=[
        {"AttributeName": "year", "SearchSchemaElementType": "INLINE_FILTER"}])], (("year", "N"),))
    ddb.put_item(TableName=name, Item={"pk": {"S": "k"}, "year": {"N": "2020"}, "embedding": numbers([1, 0, 0])})
    ddb.update_item(TableName=name, Key={"pk": {"S": "k"}}, UpdateExpression="SET #y = :y",
                    ExpressionAttributeNames={"#y": "year"}, ExpressionAttributeValues={":y": {"N": "2024"}})

    def found(year: str) -> list[str]:
        return keys(search(ddb, name, "by_year", SearchConditionExpression="#y = :y",
                           ExpressionAttributeNames={"#y": "year"}, ExpressionAttributeValues={":y": {"N": year}}))

    assert found("2020") == [] and found("2024") == ["k"]


def test_writes_report_the_bytes_each_vector_index_spends(ddb, table_name):
    name = create_vector_table(ddb, table_name, [vector_index("small"), vector_index(
        "wide", dimensions=300, VectorAttribute={"AttributeName": "wide"}, Projection={"ProjectionType": "KEYS_ONLY"})])
    item = {"pk": {"S": "k"}, "embedding": numbers([1, 0, 0]), "wide": numbers([0.5] * 300)}
    capacity = ddb.put_item(TableName=name, Item=item, ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
    assert capacity["VectorIndexes"] == {"small": {"VectorWriteRequestBytes": 1024.0},
                                         "wide": {"VectorWriteRequestBytes": 4.0 * 300 + len("wide") + len("pk") + 1}}
    assert capacity["CapacityUnits"] == 1.0  # the item is under 1 KB; vector bytes are no units
    unchanged = ddb.update_item(TableName=name, Key={"pk": {"S": "k"}}, UpdateExpression="SET wide = :w",
                                ExpressionAttributeValues={":w": numbers([0.25] * 300)},
                                ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    assert set(unchanged["VectorIndexes"]) == {"small", "wide"}
    batch = ddb.batch_write_item(RequestItems={name: [{"DeleteRequest": {"Key": {"pk": {"S": "k"}}}}]},
                                 ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
    assert batch[0]["VectorIndexes"]["small"] == {"VectorWriteRequestBytes": 1024.0}
    plain = ddb.put_item(TableName=name, Item={"pk": {"S": "none"}}, ReturnConsumedCapacity="TOTAL")
    assert "VectorIndexes" not in plain["ConsumedCapacity"]


def test_search_vectors_signatures_verify(verifying_server):
    signed = signed_client(verifying_server.url, "AKIDPRIMARY", KEYS["AKIDPRIMARY"])
    name = create_vector_table(signed, "signed-vectors", [vector_index("near", "EUCLIDEAN")])
    signed.put_item(TableName=name, Item={"pk": {"S": "k"}, "embedding": numbers([1, 2, 3])})
    assert keys(search(signed, name, "near")) == ["k"]
    forged = signed_client(verifying_server.url, "AKIDPRIMARY", "not the secret")
    refused(lambda: search(forged, name, "near"), "InvalidSignatureException")


def test_query_scan_and_partiql_do_not_read_a_vector_index(ddb, docs):
    refused(lambda: ddb.scan(TableName=docs, IndexName="cosine"), "ValidationException",
            "Scan operation not supported on this index type")
    refused(lambda: ddb.query(TableName=docs, IndexName="cosine", KeyConditionExpression="pk = :k",
                              ExpressionAttributeValues={":k": {"S": "a"}}), "ValidationException",
            "Query operation not supported on this index type")
    refused(lambda: ddb.execute_statement(Statement=f'SELECT * FROM "{docs}"."cosine"'), "ValidationException",
            "Scan operation not supported on this index type")


def test_a_provisioned_table_cannot_be_given_a_vector_index(ddb, table_name):
    ddb.create_table(TableName=table_name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    refused(lambda: ddb.update_table(TableName=table_name, VectorIndexUpdates=[{"Create": vector_index("vix")}]),
            "ValidationException",
            "One or more parameter values were invalid: Vector indexes are only supported for PAY_PER_REQUEST tables")
    assert "VectorIndexes" not in ddb.describe_table(TableName=table_name)["Table"]
