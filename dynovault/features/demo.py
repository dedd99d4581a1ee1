"""``dynovault features demo``: a Dash-like ranking feature store, loaded through all three lanes.

Users and documents get batch features (Parquet → change-detecting ingest), user × document
interactions arrive as pushes (the streaming lane), and an LLM relevance score per
candidate is a direct write. The documents' title embeddings also go into a table with a
vector index, so retrieval runs in the same store: SearchVectors finds the documents
nearest a query embedding, and the feature service gathers what a ranker reads about
them. The demo prints that retrieval request, the ranking request for the documents it
found, and its answer.
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import urllib3

from dynovault.features.ddbclient import DynamoClient
from dynovault.features.definitions import Definitions, save
from dynovault.features.ingest import ingest, parquet_columns

PROJECT = "dash"
SERVICE = "dash_ranking"
EMBEDDINGS = "dash_doc_embeddings"
EMBEDDING_DIMENSIONS = 8
FILE_TYPES = ("paper", "doc", "sheet", "slides", "pdf", "image")
TEAMS = ("search", "ml", "infra", "design", "sales")

DEFINITIONS = {
    "project": PROJECT,
    "feature_views": {
        "user_profile": {
            "join_keys": {"user_id": "INT64"},
            "features": {"tenure_days": "INT64", "docs_opened_7d": "INT64", "search_ctr_30d": "DOUBLE",
                         "team": "STRING", "is_admin": "BOOL"},
            "ttl_seconds": 7 * 86400,
        },
        "doc_stats": {
            "join_keys": {"doc_id": "STRING"},
            "features": {"views_7d": "INT64", "edits_7d": "INT64", "age_days": "INT64", "popularity": "DOUBLE",
                         "file_type": "STRING", "title_embedding": "FLOAT_LIST"},
            "ttl_seconds": 7 * 86400,
        },
        "user_doc_activity": {
            "join_keys": {"user_id": "INT64", "doc_id": "STRING"},
            "features": {"opens_30d": "INT64", "hours_since_open": "DOUBLE", "shared_with_user": "BOOL",
                         "collaborators": "INT64"},
            "ttl_seconds": 86400,
        },
        "llm_relevance": {
            "join_keys": {"user_id": "INT64", "doc_id": "STRING"},
            "features": {"relevance": "DOUBLE", "model": "STRING"},
        },
    },
    "feature_services": {
        SERVICE: [
            "user_profile:tenure_days", "user_profile:search_ctr_30d", "user_profile:team",
            "doc_stats:views_7d", "doc_stats:edits_7d", "doc_stats:popularity", "doc_stats:file_type",
            "user_doc_activity:opens_30d", "user_doc_activity:hours_since_open",
            "user_doc_activity:shared_with_user", "llm_relevance:relevance",
        ]
    },
    "push_sources": {"doc_activity_events": ["user_doc_activity"]},
}


def _users(count: int, rng: random.Random, now: datetime) -> dict[str, list]:
    return {
        "user_id": list(range(1, count + 1)),
        "tenure_days": [rng.randint(1, 3000) for _ in range(count)],
        "docs_opened_7d": [rng.randint(0, 400) for _ in range(count)],
        "search_ctr_30d": [round(rng.random() * 0.6, 4) for _ in range(count)],
        "team": [rng.choice(TEAMS) for _ in range(count)],
        "is_admin": [rng.random() < 0.05 for _ in range(count)],
        "event_timestamp": [now - timedelta(hours=1)] * count,
    }


def _documents(count: int, rng: random.Random, now: datetime) -> dict[str, list]:
    return {
        "doc_id": [f"doc-{n:05d}" for n in range(count)],
        "views_7d": [int(rng.paretovariate(1.2)) for _ in range(count)],
        "edits_7d": [rng.randint(0, 30) for _ in range(count)],
        "age_days": [rng.randint(0, 2000) for _ in range(count)],
        "popularity": [round(rng.random(), 4) for _ in range(count)],
        "file_type": [rng.choice(FILE_TYPES) for _ in range(count)],
        "title_embedding": [[round(rng.gauss(0, 1), 3) for _ in range(8)] for _ in range(count)],
        "event_timestamp": [now - timedelta(hours=1)] * count,
    }


def _embeddings_table() -> dict:
    """Documents by id with their title embedding, a vector index over it (cosine) and the
    file type as an inline filter."""
    return {
        "TableName": EMBEDDINGS,
        "KeySchema": [{"AttributeName": "doc_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "doc_id", "AttributeType": "S"},
                                 {"AttributeName": "file_type", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "VectorIndexes": [{
            "IndexName": "by_title", "VectorAttribute": {"AttributeName": "embedding"},
            "Dimensions": EMBEDDING_DIMENSIONS, "DistanceFunction": "COSINE",
            "SearchSchema": [{"AttributeName": "file_type", "SearchSchemaElementType": "INLINE_FILTER"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }],
    }


def _load_embeddings(client: DynamoClient, documents: dict[str, list]) -> None:
    client.ensure_table(_embeddings_table())
    rows = [
        {"doc_id": {"S": doc_id}, "file_type": {"S": file_type},
         "embedding": {"L": [{"N": str(x)} for x in embedding]}}
        for doc_id, file_type, embedding in zip(documents["doc_id"], documents["file_type"], documents["title_embedding"])
    ]
    for start in range(0, len(rows), 25):
        client.batch_put(EMBEDDINGS, rows[start : start + 25])


def _retrieve(client: DynamoClient, rng: random.Random, count: int) -> tuple[dict, list[str]]:
    """The SearchVectors request for the ``count`` documents nearest a query embedding
    (images left out), and the ids it found, nearest first."""
    search = {
        "TableName": EMBEDDINGS, "IndexName": "by_title", "TopK": count,
        "SearchVector": [{"N": str(round(rng.gauss(0, 1), 3))} for _ in range(EMBEDDING_DIMENSIONS)],
        "SearchConditionExpression": "file_type <> :image",
        "ExpressionAttributeValues": {":image": {"S": "image"}},
    }
    results = client.call("SearchVectors", search)["SearchResults"]
    return search, [result["Item"]["doc_id"]["S"] for result in results]


def _write_parquet(columns: dict[str, list], path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


class _Http:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.pool = urllib3.PoolManager()

    def post(self, path: str, body: dict) -> dict:
        reply = self.pool.request("POST", self.endpoint + path, body=orjson.dumps(body),
                                  headers={"Content-Type": "application/json"})
        answer = orjson.loads(reply.data)
        if reply.status != 200:
            raise SystemExit(f"{path} answered {reply.status}: {answer.get('detail', answer)}")
        return answer


def _wait_for_definitions(http: _Http, timeout: float = 5.0) -> None:
    """The server re-reads the definition file on the next request; make sure it sees it."""
    deadline = time.monotonic() + timeout
    probe = {"features": ["llm_relevance:relevance"], "entities": {"user_id": [0], "doc_id": ["-"]}}
    while True:
        reply = http.pool.request("POST", http.endpoint + "/get-online-features", body=orjson.dumps(probe))
        if reply.status == 200:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"the server does not serve the demo's definitions: {reply.data.decode()[:300]}")
        time.sleep(0.1)


def run(endpoint: str, definitions_path: Path, users: int, documents: int, candidates: int, seed: int) -> dict:
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    definitions = Definitions.from_json(DEFINITIONS)
    save(definitions, definitions_path)
    http = _Http(endpoint)
    _wait_for_definitions(http)
    client = DynamoClient(endpoint)
    views = definitions.feature_views
    docs = _documents(documents, rng, now)
    with tempfile.TemporaryDirectory() as scratch:
        for name, columns in (("user_profile", _users(users, rng, now)), ("doc_stats", docs)):
            report = ingest(client, views[name], parquet_columns(_write_parquet(columns, Path(scratch) / f"{name}.parquet")))
            print(f"batch lane   {name:18} {report.summary()}")
    _load_embeddings(client, docs)

    user = rng.randint(1, users)
    search, doc_ids = _retrieve(client, rng, candidates)
    print(f"retrieval    {EMBEDDINGS}  {len(doc_ids)} documents nearest the query (SearchVectors)")
    for doc_id in doc_ids[: candidates * 2 // 3]:
        http.post("/push", {"push_source_name": "doc_activity_events", "to": "online", "df": {
            "user_id": [user], "doc_id": [doc_id], "opens_30d": [rng.randint(1, 40)],
            "hours_since_open": [round(rng.random() * 72, 2)], "shared_with_user": [rng.random() < 0.3],
            "collaborators": [rng.randint(0, 12)], "event_timestamp": [datetime.now(UTC).isoformat()]}})
    print(f"stream lane  user_doc_activity  {candidates * 2 // 3} pushes for user {user}")
    written = http.post("/write-to-online-store", {"feature_view_name": "llm_relevance", "df": {
        "user_id": [user] * candidates, "doc_id": doc_ids,
        "relevance": [round(rng.random(), 3) for _ in doc_ids], "model": ["ranker-llm-v2"] * candidates}})
    print(f"direct lane  llm_relevance      {written['written']} scores written")

    request = {"feature_service": SERVICE, "entities": {"user_id": [user] * candidates, "doc_id": doc_ids}}
    response = http.post("/get-online-features", request)
    return {"search": search, "request": request, "response": response}


def show(example: dict, shown: int) -> str:
    """The request, and the response cut to its first ``shown`` candidates: compact JSON,
    one result column per line."""
    request, response = example["request"], example["response"]
    columns = ",\n    ".join(
        orjson.dumps({key: column[key][:shown] for key in column}).decode() for column in response["results"]
    )
    return (
        f"SearchVectors\n{orjson.dumps(example['search']).decode()}\n\n"
        f"POST /get-online-features\n{orjson.dumps(request).decode()}\n\n"
        f"response (first {shown} of {len(request['entities']['doc_id'])} candidates):\n"
        f'{{"metadata": {orjson.dumps(response["metadata"]).decode()},\n "results": [\n    {columns}\n]}}'
    )
