"""The vector search engine across processes: the HNSW path's recall and scores against
exact search for each distance function and under filters, a follower's results equal
its leader's, a restart (kill -9 included) loses no acknowledged vector, TTL deletes
leave the index, and random writes leave searches equal to an exact search over a model."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from usearch.index import Index

from dynovault.storage.vectors import Partition
from dynovault.testing.cluster import Cluster
from dynovault.testing.processes import ServerProcess
from tests.conftest import client_for
from tests.killing import kill_during_writes
from tests.test_vectors import keys, numbers, search, vector_index
from tests.test_workers import _connection_to, _eventually, _ok, workers  # noqa: F401 (a fixture)

DIMENSIONS = 24
# Partitions past this many vectors are searched through the HNSW graph.
EXACT_LIMIT = "64"
DISTANCES = ("COSINE", "EUCLIDEAN", "DOT_PRODUCT")
GROUPS = 10


def clustered(rng: np.random.Generator, count: int) -> np.ndarray:
    centres = np.random.default_rng(0).standard_normal((40, DIMENSIONS)).astype(np.float32)
    vectors = centres[rng.integers(0, 40, count)] + 0.5 * rng.standard_normal((count, DIMENSIONS)).astype(np.float32)
    return np.round(vectors, 4).astype(np.float32)


def exact_scores(distance: str, vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    if distance == "EUCLIDEAN":
        return np.sqrt(np.sum(np.square(vectors - query), axis=1, dtype=np.float32))
    products = vectors @ query
    if distance == "DOT_PRODUCT":
        return products
    return np.float32(1) - products / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))


def exact_top(distance: str, vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    found = exact_scores(distance, vectors, query)
    return list(np.argsort(-found if distance == "DOT_PRODUCT" else found, kind="stable")[:k])


def indexed_table(client, name: str) -> None:
    schema = [{"AttributeName": "group", "SearchSchemaElementType": "INLINE_FILTER"}]
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "group", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
        VectorIndexes=[vector_index(d.lower(), d, DIMENSIONS, SearchSchema=schema) for d in DISTANCES],
    )


def write_vectors(client, name: str, vectors: np.ndarray, prefix: str = "v") -> None:
    for start in range(0, len(vectors), 25):
        client.batch_write_item(RequestItems={name: [
            {"PutRequest": {"Item": {"pk": {"S": f"{prefix}{i:05}"}, "group": {"N": str(i % GROUPS)},
                                     "embedding": numbers(vectors[i].tolist())}}}
            for i in range(start, min(start + 25, len(vectors)))]})


@pytest.fixture(scope="module")
def graph_server(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("vectors") / "data", ["--vector-exact-limit", EXACT_LIMIT]).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def corpus(graph_server):
    client = client_for(graph_server.url)
    vectors = clustered(np.random.default_rng(1), 1500)
    indexed_table(client, "corpus")
    write_vectors(client, "corpus", vectors)
    return client, vectors


@pytest.mark.parametrize("distance", DISTANCES)
def test_hnsw_recall_and_scores_match_exact_search(corpus, distance):
    client, vectors = corpus
    queries = clustered(np.random.default_rng(2), 30)
    hits = 0
    for query in queries:
        results = search(client, "corpus", distance.lower(), query.tolist(), 10)
        found = [int(key[1:]) for key in keys(results)]
        hits += len(set(found) & set(exact_top(distance, vectors, query, 10)))
        expected = exact_scores(distance, vectors[found], query)
        assert np.allclose([r["Score"] for r in results], expected, rtol=1e-4, atol=1e-4)
    assert hits / (10 * len(queries)) >= 0.95


@pytest.mark.parametrize("distance", DISTANCES)
def test_a_selective_filter_still_fills_top_k_with_the_nearest_that_pass(corpus, distance):
    client, vectors = corpus
    in_group = np.arange(len(vectors)) % GROUPS == 3
    hits = 0
    for query in clustered(np.random.default_rng(3), 10):
        results = search(client, "corpus", distance.lower(), query.tolist(), 10, SearchConditionExpression="#g = :g",
                         ExpressionAttributeNames={"#g": "group"}, ExpressionAttributeValues={":g": {"N": "3"}})
        assert len(results) == 10 and all(r["Item"]["group"] == {"N": "3"} for r in results)
        members = np.flatnonzero(in_group)
        best = {int(members[i]) for i in exact_top(distance, vectors[members], query, 10)}
        hits += len(best & {int(key[1:]) for key in keys(results)})
    assert hits / 100 >= 0.95


def test_a_restart_after_kill_9_serves_the_same_results(corpus, graph_server):
    client, vectors = corpus
    query = vectors[7].tolist()
    before = search(client, "corpus", "cosine", query, 20)
    graph_server.kill()
    graph_server.start()
    after = search(client_for(graph_server.url), "corpus", "cosine", query, 20)
    # The graph is rebuilt on opening, so an approximate search may find a neighbour or two
    # the first one did not; every score is exact either way.
    assert "v00007" in keys(after) and len(set(keys(after)) & set(keys(before))) >= 18


def test_no_acknowledged_vector_is_lost_to_kill_9_under_load(tmp_path):
    # Searched exactly (the default limit), so a vector not found as its own nearest is one
    # the index lost, not one an approximate search missed.
    server = ServerProcess(tmp_path / "data").start()
    client = client_for(server.url)
    client.create_table(TableName="crash", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST", VectorIndexes=[vector_index("near", "EUCLIDEAN", DIMENSIONS)])

    def write(ddb, worker: int, i: int) -> tuple[str, list[float]]:
        key = f"w{worker}-{i}"
        vector = np.random.default_rng(hash(key) % 2**32).standard_normal(DIMENSIONS).round(4).tolist()
        ddb.put_item(TableName="crash", Item={"pk": {"S": key}, "embedding": numbers(vector)})
        return key, vector

    acknowledged = kill_during_writes(server, write)
    server.start()
    try:
        client = client_for(server.url)
        for key, vector in acknowledged:
            nearest = search(client, "crash", "near", vector, 3)
            stored = client.get_item(TableName="crash", Key={"pk": {"S": key}}).get("Item")
            assert stored is not None, key
            assert nearest[0]["Item"]["pk"]["S"] == key and nearest[0]["Score"] < 1e-3, key
    finally:
        server.stop()


def test_a_follower_searches_what_its_leader_does(tmp_path):
    # Searched exactly on both (the default limit), so results must be equal to the last
    # digit; two nodes' HNSW graphs are built in their own order and may differ in what
    # they find, as two DynamoDB searches may.
    cluster = Cluster(tmp_path, follower_count=1).start()
    try:
        leader = client_for(cluster.leader.url)
        vectors = clustered(np.random.default_rng(4), 300)
        indexed_table(leader, "shared")
        write_vectors(leader, "shared", vectors)
        leader.delete_item(TableName="shared", Key={"pk": {"S": "v00003"}})
        leader.update_item(TableName="shared", Key={"pk": {"S": "v00004"}}, UpdateExpression="SET embedding = :v",
                           ExpressionAttributeValues={":v": numbers(vectors[10].tolist())})
        leader.transact_write_items(TransactItems=[
            {"Put": {"TableName": "shared", "Item": {"pk": {"S": "t1"}, "group": {"N": "1"},
                                                       "embedding": numbers(vectors[20].tolist())}}},
            {"Delete": {"TableName": "shared", "Key": {"pk": {"S": "v00005"}}}}])
        leader.update_table(TableName="shared", VectorIndexUpdates=[{"Create": vector_index(
            "late", "EUCLIDEAN", DIMENSIONS, Projection={"ProjectionType": "KEYS_ONLY"})}])
        deadline = time.monotonic() + 60
        while leader.describe_table(TableName="shared")["Table"]["VectorIndexes"][-1]["IndexStatus"] != "ACTIVE":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        cluster.wait_caught_up()
        follower = client_for(cluster.followers[0].url)
        for index in ("cosine", "euclidean", "dot_product", "late"):
            for query in (vectors[10], vectors[3], vectors[200]):
                assert search(follower, "shared", index, query.tolist(), 15) == search(
                    leader, "shared", index, query.tolist(), 15), index
        assert "v00003" not in keys(search(follower, "shared", "late", vectors[3].tolist(), 5))
    finally:
        cluster.stop()


def test_ttl_deletes_leave_the_vector_index(tmp_path):
    server = ServerProcess(tmp_path / "data", ["--ttl-interval", "0.2"]).start()
    try:
        client = client_for(server.url)
        client.create_table(TableName="expiring", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST", VectorIndexes=[vector_index("near", "EUCLIDEAN")])
        client.update_time_to_live(TableName="expiring",
                                   TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
        client.put_item(TableName="expiring", Item={"pk": {"S": "gone"}, "expires": {"N": str(int(time.time()) - 5)},
                                                    "embedding": numbers([1, 0, 0])})
        client.put_item(TableName="expiring", Item={"pk": {"S": "kept"}, "embedding": numbers([0, 1, 0])})
        deadline = time.monotonic() + 60
        while "gone" in keys(search(client, "expiring", "near")):
            assert time.monotonic() < deadline, "the expired item stayed in the index"
            time.sleep(0.1)
        assert keys(search(client, "expiring", "near")) == ["kept"]
    finally:
        server.stop()


# ---- random writes against a model ----------------------------------------------------------------------

PROPERTY_TABLE = "vector-property"
SMALL = 3
_components = st.integers(-3, 3)
_vectors = st.lists(_components, min_size=SMALL, max_size=SMALL).filter(any)
_keys = st.sampled_from([f"k{i}" for i in range(8)])
_operations = st.lists(st.one_of(
    st.tuples(st.just("put"), _keys, _vectors, st.sampled_from(["a", "b"]), st.integers(0, 3)),
    st.tuples(st.just("unvector"), _keys),
    st.tuples(st.just("delete"), _keys),
), min_size=1, max_size=20)


@pytest.fixture(scope="module")
def property_table(ddb):
    ddb.create_table(
        TableName=PROPERTY_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "part", "AttributeType": "S"},
                              {"AttributeName": "rank", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
        VectorIndexes=[vector_index(d.lower(), d, SMALL, SearchSchema=[
            {"AttributeName": "part", "SearchSchemaElementType": "HASH"},
            {"AttributeName": "rank", "SearchSchemaElementType": "INLINE_FILTER"}]) for d in DISTANCES],
    )
    return PROPERTY_TABLE


def apply_operations(ddb, model: dict, operations: list) -> None:
    for operation in operations:
        key = {"pk": {"S": operation[1]}}
        if operation[0] == "put":
            _, name, vector, part, rank = operation
            model[name] = {"vector": vector, "part": part, "rank": rank}
            ddb.put_item(TableName=PROPERTY_TABLE, Item={**key, "part": {"S": part}, "rank": {"N": str(rank)},
                                                        "embedding": numbers(vector)})
        elif operation[0] == "unvector":
            ddb.update_item(TableName=PROPERTY_TABLE, Key=key, UpdateExpression="REMOVE embedding")
            if operation[1] in model:
                model[operation[1]]["vector"] = None
        else:
            ddb.delete_item(TableName=PROPERTY_TABLE, Key=key)
            model.pop(operation[1], None)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=_operations, query=_vectors, k=st.integers(1, 5), min_rank=st.integers(0, 3))
def test_searches_after_random_writes_equal_exact_search_over_the_model(ddb, property_table, operations, query,
                                                                        k, min_rank):
    model: dict = {}
    for page in ddb.get_paginator("scan").paginate(TableName=PROPERTY_TABLE):
        for item in page["Items"]:
            ddb.delete_item(TableName=PROPERTY_TABLE, Key={"pk": item["pk"]})
    apply_operations(ddb, model, operations)
    for distance in DISTANCES:
        for part in ("a", "b"):
            results = search(ddb, PROPERTY_TABLE, distance.lower(), query, k,
                             SearchConditionExpression="part = :p AND #r >= :r", ExpressionAttributeNames={"#r": "rank"},
                             ExpressionAttributeValues={":p": {"S": part}, ":r": {"N": str(min_rank)}})
            held = {name: entry for name, entry in model.items()
                    if entry["vector"] is not None and entry["part"] == part and entry["rank"] >= min_rank}
            assert_same_top(distance, held, query, k, results)


def assert_same_top(distance: str, held: dict, query: list[int], k: int, results: list[dict]) -> None:
    """The results are a best-k of the model's items: the same scores, and every item
    strictly better than the k-th among them (ties at the k-th may fall either way)."""
    names = sorted(held)
    if not names:
        assert results == []
        return
    vectors = np.array([held[name]["vector"] for name in names], dtype=np.float32)
    found = exact_scores(distance, vectors, np.array(query, dtype=np.float32))
    ranks = -found if distance == "DOT_PRODUCT" else found
    order = np.argsort(ranks, kind="stable")[:k]
    assert np.allclose([r["Score"] for r in results], found[order], atol=1e-5)
    returned = set(keys(results))
    kth = ranks[order[-1]]
    assert {names[i] for i in range(len(names)) if ranks[i] < kth - 1e-5} <= returned
    assert returned <= {names[i] for i in range(len(names)) if ranks[i] <= kth + 1e-5}


def test_graph_snapshots_speed_restarts_and_a_stale_one_is_repaired(tmp_path):
    server = ServerProcess(tmp_path / "data", ["--vector-exact-limit", EXACT_LIMIT]).start()
    try:
        client = client_for(server.url)
        vectors = clustered(np.random.default_rng(6), 400)
        indexed_table(client, "snap")
        write_vectors(client, "snap", vectors)
        server.stop()
        snapshots = list((tmp_path / "data" / "vector-graphs").rglob("*.graph"))
        assert len(snapshots) == len(DISTANCES)
        server.start()
        client = client_for(server.url)
        for distance in DISTANCES:
            found = keys(search(client, "snap", distance.lower(), vectors[11].tolist(), 10))
            assert "v00011" in found and len(found) == 10
        moved = clustered(np.random.default_rng(7), 1)[0]
        client.delete_item(TableName="snap", Key={"pk": {"S": "v00011"}})
        client.update_item(TableName="snap", Key={"pk": {"S": "v00012"}}, UpdateExpression="SET embedding = :v",
                           ExpressionAttributeValues={":v": numbers(moved.tolist())})
        write_vectors(client, "snap", clustered(np.random.default_rng(8), 30), prefix="new")
        server.kill()
        server.start()
        client = client_for(server.url)
        for distance in DISTANCES:
            assert "v00011" not in keys(search(client, "snap", distance.lower(), vectors[11].tolist(), 10))
        for index in ("cosine", "euclidean"):  # a vector is its own nearest by these, not by dot product
            assert keys(search(client, "snap", index, moved.tolist(), 1)) == ["v00012"]
            assert keys(search(client, "snap", index, vectors[12].tolist(), 3))[0] != "v00012"
        (described,) = [i for i in client.describe_table(TableName="snap")["Table"]["VectorIndexes"]
                        if i["IndexName"] == "cosine"]
        assert described["ItemCount"] == 400 - 1 + 30
        client.update_table(TableName="snap", VectorIndexUpdates=[{"Delete": {"IndexName": "cosine"}}])
        server.stop()
        assert len(list((tmp_path / "data" / "vector-graphs").rglob("*.graph"))) == len(DISTANCES) - 1
    finally:
        server.stop()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_a_partition_filled_from_a_stale_snapshot_holds_what_the_entries_say(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    vectors = rng.standard_normal((data.draw(st.integers(5, 60)), 4)).astype(np.float32)
    # Past three vectors a partition has a graph.
    before = Partition(4, "EUCLIDEAN")
    for row, vector in enumerate(vectors):
        before.put(b"k%03d" % row, vector, {}, 3)
    for row in data.draw(st.lists(st.integers(0, len(vectors) - 1), max_size=5)):
        before.remove(b"k%03d" % row)
    graph, row_keys = before.graph_snapshot()
    now = {key: before.vectors[row].copy() for key, row in before.row_of.items()}
    for key in data.draw(st.lists(st.sampled_from(sorted(now) or [b"k000"]), max_size=5)):
        now.pop(key, None)
    for key in data.draw(st.lists(st.sampled_from(sorted(now) or [b"k000"]), max_size=5)):
        now[key] = rng.standard_normal(4).astype(np.float32)
    for extra in range(data.draw(st.integers(0, 5))):
        now[b"n%03d" % extra] = rng.standard_normal(4).astype(np.float32)
    names = sorted(now)
    after = Partition(4, "EUCLIDEAN")
    after.fill(names, np.array([now[name] for name in names]).reshape(len(names), 4), [{}] * len(names), 3,
               (Index.restore(bytes(graph.save())), row_keys))
    assert sorted(after.row_of) == names
    if after.graph is None:  # few enough left to be searched exactly
        assert len(names) <= 3
        return
    after._feed_graph()
    assert len(after.graph) == len(names)
    for name in names:
        row = after.row_of[name]
        assert np.array_equal(after.vectors[row], now[name])
        assert np.array_equal(after.graph.get(row), now[name])
    query = rng.standard_normal(4).astype(np.float32)
    assert [key for _, key in after.search(query, 3, None)] == [key for _, key in after._search_exact(query, 3, None)]


@pytest.mark.parametrize("worker", ["writer", "reader-1"])
def test_with_workers_either_process_answers_searches(workers, worker):
    connection = _connection_to(workers, worker)
    table = f"vectors-{worker}"
    _ok(connection, "CreateTable", {"TableName": table, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                                    "BillingMode": "PAY_PER_REQUEST",
                                    "VectorIndexes": [vector_index("near", "EUCLIDEAN")]})
    for key, vector in (("a", [1, 0, 0]), ("b", [0, 1, 0])):
        _ok(connection, "PutItem", {"TableName": table, "Item": {"pk": {"S": key}, "embedding": numbers(vector)}})
    found = _ok(connection, "SearchVectors", {"TableName": table, "IndexName": "near", "TopK": 1,
                                              "SearchVector": numbers([0.9, 0.1, 0])["L"]})
    assert [r["Item"]["pk"]["S"] for r in found["SearchResults"]] == ["a"]
    _eventually(lambda: connection.call("Scan", {"TableName": table, "IndexName": "near"}).error_code
                == "ValidationException", "a Scan of the vector index was never refused")
