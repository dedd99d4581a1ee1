"""usearch against faiss-cpu: HNSW build, recall@10, latency, inserts, deletes, memory, persistence.

Both engines index the same seeded clustered unit vectors (bench.embeddings) with the same graph parameters
(M=16 neighbours, efConstruction=64, efSearch=128), searched by inner product (cosine on
unit vectors); numpy's exact search over the same matrix is the recall reference. Run it
under the bench lock: ``flock /work/notes/bench.lock python -m bench ann-engines``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from collections.abc import Callable

import numpy as np
import psutil

from bench.embeddings import add_corpus_arguments, clustered_embeddings
from bench.report import add_out_argument, write_json

CONNECTIVITY = 16
EXPANSION_ADD = 64
EXPANSION_SEARCH = 128


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_corpus_arguments(parser)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--inserts", type=int, default=2_000, help="single-vector inserts after the build")
    parser.add_argument("--threads", type=int, default=1)
    add_out_argument(parser)


def _rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


def _unit(rng: np.random.Generator, count: int, dimensions: int) -> np.ndarray:
    return clustered_embeddings(rng, count, dimensions)


def _exact(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ data.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def _latencies(search_one: Callable[[np.ndarray], np.ndarray], queries: np.ndarray) -> tuple[np.ndarray, dict]:
    found, times = [], []
    for query in queries:
        start = time.perf_counter()
        found.append(search_one(query))
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1000
    return np.array(found), {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def _usearch(data: np.ndarray, queries: np.ndarray, extra: np.ndarray, threads: int, k: int) -> dict:
    from usearch.index import Index

    before = _rss()
    index = Index(ndim=data.shape[1], metric="ip", dtype="f32", connectivity=CONNECTIVITY,
                  expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH)
    start = time.perf_counter()
    index.add(np.arange(len(data)), data, threads=threads)
    build_s = time.perf_counter() - start
    memory = _rss() - before
    found, latency = _latencies(lambda q: index.search(q, k).keys, queries)
    start = time.perf_counter()
    for offset, vector in enumerate(extra):
        index.add(len(data) + offset, vector)
    insert_s = time.perf_counter() - start
    start = time.perf_counter()
    removed = sum(index.remove(key) for key in range(0, 2 * len(extra), 2))
    remove_s = time.perf_counter() - start
    deletes = f"native remove(key): {removed} removed at {len(extra) / remove_s:.0f}/s"
    return _summary(len(data) / build_s, len(extra) / insert_s, latency, memory / len(data), deletes,
                    _persistence(index.save, Index.restore), found)


def _summary(build_rate: float, insert_rate: float, latency: dict, memory_per_vector: float, deletes: str,
             persistence: dict, found: np.ndarray) -> dict:
    return {
        "build_vectors_per_s": build_rate,
        "single_inserts_per_s": insert_rate,
        "latency": latency,
        "memory_bytes_per_vector": memory_per_vector,
        "deletes": deletes,
        **persistence,
        "_found": found,
    }


def _persistence(save: Callable[[str], object], load: Callable[[str], object]) -> dict:
    """Seconds to save an index to a file and to load it back."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "index")
        start = time.perf_counter()
        save(path)
        saved = time.perf_counter()
        load(path)
        return {"save_s": saved - start, "load_s": time.perf_counter() - saved}


def _faiss(data: np.ndarray, queries: np.ndarray, extra: np.ndarray, threads: int, k: int) -> dict:
    import faiss

    faiss.omp_set_num_threads(threads)
    before = _rss()
    index = faiss.IndexHNSWFlat(data.shape[1], CONNECTIVITY, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EXPANSION_ADD
    index.hnsw.efSearch = EXPANSION_SEARCH
    start = time.perf_counter()
    index.add(data)
    build_s = time.perf_counter() - start
    memory = _rss() - before
    found, latency = _latencies(lambda q: index.search(q[None, :], k)[1][0], queries)
    start = time.perf_counter()
    for vector in extra:
        index.add(vector[None, :])
    insert_s = time.perf_counter() - start
    try:
        index.remove_ids(np.arange(0, 2 * len(extra), 2, dtype=np.int64))
        deletes = "remove_ids works"
    except RuntimeError as error:
        deletes = "none: " + str(error).strip().splitlines()[-1][:120]
    return _summary(len(data) / build_s, len(extra) / insert_s, latency, memory / len(data), deletes,
                    _persistence(lambda path: faiss.write_index(index, path), faiss.read_index), found)


def run(args: argparse.Namespace) -> int:
    k = 10
    rng = np.random.default_rng(17)
    data = _unit(rng, args.vectors, args.dimensions)
    queries = _unit(rng, args.queries, args.dimensions)
    extra = _unit(rng, args.inserts, args.dimensions)
    start = time.perf_counter()
    truth = _exact(data, queries, k)
    _, exact_latency = _latencies(lambda q: _exact(data, q[None, :], k)[0], queries[:100])
    results: dict = {
        "vectors": args.vectors,
        "dimensions": args.dimensions,
        "queries": args.queries,
        "threads": args.threads,
        "numpy_exact": {"latency": exact_latency, "batch_s": time.perf_counter() - start},
    }
    for name, engine in (("usearch", _usearch), ("faiss", _faiss)):
        result = engine(data, queries, extra, args.threads, k)
        result["recall_at_10"] = _recall(result.pop("_found"), truth)
        results[name] = result
        print(name, json.dumps(result, indent=1), flush=True)
    write_json(args.out / "ann_engines.json", results)
    print(json.dumps(results["numpy_exact"]))
    return 0
