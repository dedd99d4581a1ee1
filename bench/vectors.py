"""Vector search through a real server: upserts, SearchVectors latency and recall, memory.

A ``dynovault serve`` process gets two tables of the same embeddings (bench.embeddings):
``flat``, one partition searched through its HNSW graph, and ``parted``, whose HASH
search-schema attribute spreads the vectors over 100 partitions, each searched exactly.
Measured: BatchWriteItem upserts per second with the indexes maintained, SearchVectors
(TopK 10) p50/p99 at a fixed rate in an open loop, recall@10 against numpy's exact search
in this process, the server's resident memory per vector, and beside it exact numpy
search over the same vectors in this process. Run it under the bench lock:
``flock /work/notes/bench.lock python -m bench vectors``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import psutil

from bench.embeddings import add_corpus_arguments, clustered_embeddings
from bench.loadgen import CpuMeter, Response, run_closed_loop, run_open_loop
from bench.report import add_out_argument, write_json
from bench.workloads import BATCH_WRITE_ITEMS, PRELOAD_CONNECTIONS, check_batch_write, raw_request
from dynovault.testing.processes import ServerProcess

TOP_K = 10
PARTITIONS = 100
_QUERY_SEED = 99


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_corpus_arguments(parser)
    parser.add_argument("--rate", type=float, default=50.0, help="SearchVectors requests per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of each latency window")
    parser.add_argument("--recall-queries", type=int, default=200)
    add_out_argument(parser)


def _table(name: str, dimensions: int, partitioned: bool) -> dict:
    definitions = [{"AttributeName": "pk", "AttributeType": "S"}]
    index = {"IndexName": "near", "VectorAttribute": {"AttributeName": "embedding"},
             "Projection": {"ProjectionType": "KEYS_ONLY"}, "Dimensions": dimensions, "DistanceFunction": "COSINE"}
    if partitioned:
        definitions.append({"AttributeName": "part", "AttributeType": "S"})
        index["SearchSchema"] = [{"AttributeName": "part", "SearchSchemaElementType": "HASH"}]
    return {"TableName": name, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": definitions, "BillingMode": "PAY_PER_REQUEST", "VectorIndexes": [index]}


def _part(i: int) -> str:
    return f"p{i % PARTITIONS:02d}"


def _vector_json(vector: np.ndarray) -> dict:
    return {"L": [{"N": f"{x:.5f}"} for x in vector.tolist()]}


def _upserts(table: str, vectors: np.ndarray) -> list[bytes]:
    return [
        raw_request("BatchWriteItem", {"RequestItems": {table: [
            {"PutRequest": {"Item": {"pk": {"S": f"d{i:07d}"}, "part": {"S": _part(i)},
                                     "embedding": _vector_json(vectors[i])}}}
            for i in range(start, min(start + BATCH_WRITE_ITEMS, len(vectors)))]}})
        for start in range(0, len(vectors), BATCH_WRITE_ITEMS)
    ]


def _search(table: str, query: np.ndarray, part: str | None) -> bytes:
    body: dict = {"TableName": table, "IndexName": "near", "SearchVector": _vector_json(query)["L"], "TopK": TOP_K}
    if part is not None:
        body["SearchConditionExpression"] = "part = :p"
        body["ExpressionAttributeValues"] = {":p": {"S": part}}
    return raw_request("SearchVectors", body)


def _exact(vectors: np.ndarray, norms: np.ndarray, query: np.ndarray) -> np.ndarray:
    scores = 1 - (vectors @ query) / (norms * np.linalg.norm(query))
    top = np.argpartition(scores, TOP_K)[:TOP_K]
    return top[np.argsort(scores[top])]


def _rounded(vectors: np.ndarray) -> np.ndarray:
    """The vectors as the server holds them: written with five decimals, read as float32."""
    return np.round(vectors.astype(np.float64), 5).astype(np.float32)


async def _upsert_rate(port: int, pid: int, requests: list[bytes], count: int) -> dict:
    started = time.perf_counter()
    loaded = await run_closed_loop("127.0.0.1", port, iter(requests), PRELOAD_CONNECTIONS, 0.0, float("inf"),
                                   CpuMeter(pid), check_batch_write)
    if loaded.errors:
        raise RuntimeError(f"upserts failed: {loaded.first_error}")
    seconds = time.perf_counter() - started
    return {"vectors": count, "seconds": round(seconds, 2), "vectors_per_s": round(count / seconds, 1)}


async def _answers(port: int, pid: int, requests: list[bytes]) -> list[dict]:
    bodies: list[bytes] = []

    def keep(response: Response) -> str | None:
        bodies.append(response.body)
        return None

    await run_closed_loop("127.0.0.1", port, iter(requests), 1, 0.0, float("inf"), CpuMeter(pid), keep)
    return [orjson.loads(body) for body in bodies]


async def _latency(port: int, pid: int, requests: list[bytes], rate: float, duration: float) -> dict:
    cycle = iter(requests * (int(rate * (duration + 3)) // len(requests) + 1))
    measured = await run_open_loop("127.0.0.1", port, cycle, rate, 2.0, duration, CpuMeter(pid))
    return measured.summary()


def _recall(answers: list[dict], truth: list[np.ndarray]) -> float:
    hits = 0
    for answer, expected in zip(answers, truth):
        found = {int(result["Item"]["pk"]["S"][1:]) for result in answer["SearchResults"]}
        hits += len(found & set(expected.tolist()))
    return hits / (TOP_K * len(truth))


def _numpy_side(vectors: np.ndarray, queries: np.ndarray, parts: np.ndarray) -> dict:
    """Exact search in this process: over all vectors, and over one partition's."""
    norms = np.linalg.norm(vectors, axis=1)
    side: dict = {}
    for label, select in (("flat", lambda q: slice(None)), ("partition", lambda q: parts == q % PARTITIONS)):
        times = []
        for position, query in enumerate(queries):
            chosen = select(position)
            start = time.perf_counter()
            _exact(vectors[chosen], norms[chosen], query)
            times.append(time.perf_counter() - start)
        ms = np.array(times) * 1000
        side[label] = {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}
    return side


async def _measure(args: argparse.Namespace, server: ServerProcess, vectors: np.ndarray, queries: np.ndarray) -> dict:
    pid = server.process.pid
    process = psutil.Process(pid)
    stored = _rounded(vectors)
    norms = np.linalg.norm(stored, axis=1)
    parts = np.arange(len(vectors)) % PARTITIONS
    results: dict = {"vectors": len(vectors), "dimensions": args.dimensions, "top_k": TOP_K}
    for name, partitioned in (("flat", False), ("parted", True)):
        await _answers(server.port, pid, [raw_request("CreateTable", _table(name, args.dimensions, partitioned))])
        before = process.memory_info().rss
        upserted = await _upsert_rate(server.port, pid, _upserts(name, vectors), len(vectors))
        grown = process.memory_info().rss - before
        part_of = (lambda q: _part(q)) if partitioned else (lambda q: None)
        searches = [_search(name, query, part_of(position)) for position, query in enumerate(queries)]
        latency = await _latency(server.port, pid, searches, args.rate, args.duration)
        recall_queries = queries[: args.recall_queries]
        answers = await _answers(server.port, pid, searches[: args.recall_queries])
        truth = []
        for position, query in enumerate(recall_queries):
            rows = np.flatnonzero(parts == position % PARTITIONS) if partitioned else np.arange(len(stored))
            truth.append(rows[_exact(stored[rows], norms[rows], query)])
        results[name] = {
            "upserts": upserted,
            "server_rss_bytes_per_vector": round(grown / len(vectors), 1),
            "search_at_rate": {"rate": args.rate, **latency},
            "recall_at_10": round(_recall(answers, truth), 4),
        }
        print(name, orjson.dumps(results[name]).decode(), flush=True)
    results["numpy_exact_in_process"] = _numpy_side(stored, queries[: args.recall_queries], parts)
    return results


def run(args: argparse.Namespace) -> int:
    vectors = clustered_embeddings(np.random.default_rng(17), args.vectors, args.dimensions)
    queries = clustered_embeddings(np.random.default_rng(_QUERY_SEED), max(args.recall_queries, 500), args.dimensions)
    with tempfile.TemporaryDirectory() as folder:
        server = ServerProcess(Path(folder) / "data", ["--log-level", "error"]).start(timeout=60)
        try:
            results = asyncio.run(_measure(args, server, vectors, queries))
        finally:
            server.stop()
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    write_json(args.out / "vectors.json", results)
    return 0
