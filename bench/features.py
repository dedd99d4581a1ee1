"""Feature serving next to Feast's own: /get-online-features vs ``feast serve`` vs the Feast SDK.

One feature view of 30 features (ints, doubles, strings, a bool, a float list) over
``--entities`` documents, loaded in Feast's item layout; ``feast apply`` and ``feast serve``
run on a real repository whose online store is the same Dynovault, and a feature reader
process (``dynovault features serve``) reads the node's data directory. For 500 and 1,000
entities per request, each HTTP server gets a closed loop (saturation: req/s) and then an
open loop at a steady ``--rate`` (at most half its saturated rate: p50/p95/p99); node and
reader are also saturated together; the SDK is timed in a plain loop, as an application
calls it. Answers of the servers are compared before timing.

``--ingest-rows`` adds the batch lane: a file loaded once, then the same file with 3% of
rows changed, synced with and without change detection (rows/s, time saved).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import uvloop

from bench.loadgen import (
    CpuMeter,
    Measurement,
    Response,
    run_closed_loop,
    run_open_loop,
)
from bench.report import add_out_argument, write_json
from dynovault.features.ddbclient import DynamoClient
from dynovault.features.definitions import save
from dynovault.features.ingest import ingest, parquet_columns
from dynovault.testing.processes import CommandServer, ServerProcess

PROJECT = "bench"
VIEW = "doc_features"
TYPES = {"INT64": "Int64", "DOUBLE": "Float64", "STRING": "String", "BOOL": "Bool", "FLOAT_LIST": "Array(Float32)"}
FEATURE_TYPES = {f"f{n:02d}": kind for n, kind in enumerate(
    ["INT64"] * 10 + ["DOUBLE"] * 12 + ["STRING"] * 5 + ["BOOL"] * 2 + ["FLOAT_LIST"])}
REFS = [f"{VIEW}:{name}" for name in FEATURE_TYPES]
OURS, READER, BOTH = "dynovault", "dynovault reader process", "dynovault node + reader"
FEAST_SERVE, FEAST_SDK = "feast serve", "Feast SDK"
P95_TARGET_MS = 25.0
THROUGHPUT_TARGET = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entities", type=int, default=20_000, help="documents loaded (default 20000)")
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[500, 1000], help="entities per request (none: skip serving)"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per phase (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=4, help="closed-loop connections (default 4)")
    parser.add_argument(
        "--rate", type=float, default=10.0,
        help="steady load in req/s for the latency phase, capped at half a server's saturated rate (default 10)",
    )
    parser.add_argument("--ingest-rows", type=int, default=0, help="rows of the batch-lane file (0: skip)")
    add_out_argument(parser)
    parser.add_argument("--seed", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    return uvloop.run(_run(args))


def _columns(count: int, rng: random.Random, version: int = 0, offset: int = 0) -> dict[str, list]:
    columns: dict[str, list] = {"doc_id": list(range(offset, offset + count))}
    for name, kind in FEATURE_TYPES.items():
        if kind == "INT64":
            columns[name] = [rng.randint(0, 10_000) + version for _ in range(count)]
        elif kind == "DOUBLE":
            columns[name] = [rng.random() + version for _ in range(count)]
        elif kind == "STRING":
            columns[name] = [rng.choice(["en", "fr", "de", "ja", "pt"]) + str(version) for _ in range(count)]
        elif kind == "BOOL":
            columns[name] = [rng.random() < 0.5 for _ in range(count)]
        else:
            columns[name] = [[round(rng.gauss(0, 1), 3) for _ in range(4)] for _ in range(count)]
    columns["event_timestamp"] = [datetime.now(UTC) - timedelta(minutes=5)] * count
    return columns


def _write_parquet(columns: dict[str, list], path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


def _feast_repo(root: Path, endpoint: str, rng: random.Random) -> Path:
    repo = root / "repo"
    repo.mkdir()
    source = _write_parquet(_columns(10, rng), root / "source.parquet")
    fields = ",\n    ".join(f'Field(name="{name}", dtype={TYPES[kind]})' for name, kind in FEATURE_TYPES.items())
    (repo / "repo.py").write_text(
        "from datetime import timedelta\n"
        "from feast import Entity, FeatureView, Field, FileSource, ValueType\n"
        "from feast.types import Array, Bool, Float32, Float64, Int64, String\n"
        'doc = Entity(name="doc", join_keys=["doc_id"], value_type=ValueType.INT64)\n'
        f'{VIEW} = FeatureView(name="{VIEW}", entities=[doc], ttl=timedelta(days=30), schema=[\n    {fields}],\n'
        f'    source=FileSource(path="{source}", timestamp_field="event_timestamp"))\n'
    )
    (repo / "feature_store.yaml").write_text(
        f"project: {PROJECT}\nregistry: {root / 'registry.db'}\nprovider: local\n"
        f"online_store:\n  type: dynamodb\n  region: us-east-1\n  endpoint_url: {endpoint}\n"
        "offline_store:\n  type: file\nentity_key_serialization_version: 3\n"
    )
    return repo


def _feast() -> str:
    return str(Path(sys.executable).parent / "feast")


def _raw_request(body: bytes) -> bytes:
    return (
        "POST /get-online-features HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _bodies(size: int, entities: int, rng: random.Random, count: int = 40) -> list[bytes]:
    return [orjson.dumps({"features": REFS, "entities": {"doc_id": rng.sample(range(entities), size)}})
            for _ in range(count)]


def _check(response: Response) -> str | None:
    return None if response.status == 200 else f"HTTP {response.status}: {response.body[:200]!r}"


def _answers_match(ours: bytes, theirs: bytes) -> bool:
    def columns(raw: bytes) -> dict:
        answer = orjson.loads(raw)
        return dict(zip(answer["metadata"]["feature_names"], answer["results"]))

    return columns(ours) == columns(theirs)


def _post(url: str, body: bytes) -> bytes:
    import urllib3

    return urllib3.request("POST", url + "/get-online-features", body=body,
                           headers={"Content-Type": "application/json"}, timeout=120).data


async def _measure_together(ports_and_pids: list[tuple[int, int]], bodies: list[bytes], args) -> dict:
    """Saturated throughput of several serving processes loaded at once (one closed loop
    each); latency is left to the single-process rows."""
    pool = [_raw_request(body) for body in bodies]
    loops = [run_closed_loop("127.0.0.1", port, itertools.cycle(pool), args.connections, args.warmup, args.duration,
                             CpuMeter(pid), _check) for port, pid in ports_and_pids]
    measured = await asyncio.gather(*loops)
    row = _row(BOTH, sum(m.throughput for m in measured), None, measured[0], sum(m.errors for m in measured),
               next((m.first_error for m in measured if m.first_error), ""),
               sum(m.server_cpu_seconds / max(m.seconds, 1e-9) for m in measured))
    row.update(p50_ms=None, p95_ms=None, p99_ms=None)
    return row


async def _measure_server(name: str, port: int, pid: int, bodies: list[bytes], args) -> dict:
    pool = [_raw_request(body) for body in bodies]
    saturated = await run_closed_loop("127.0.0.1", port, itertools.cycle(pool), args.connections, args.warmup,
                                      args.duration, CpuMeter(pid), _check)
    rate = max(min(args.rate, saturated.throughput / 2), 0.5)
    paced = await run_open_loop("127.0.0.1", port, itertools.cycle(pool), rate, 1.0, args.duration, CpuMeter(pid), _check)
    return _row(name, saturated.throughput, rate, paced, saturated.errors + paced.errors,
                saturated.first_error or paced.first_error, saturated.server_cpu_seconds / max(saturated.seconds, 1e-9))


def _row(name: str, throughput: float, rate: float | None, paced: Measurement, errors: int, first_error: str,
         server_cores: float | None) -> dict:
    return {
        "server": name,
        "req_per_s": round(throughput, 1),
        "paced_rate": None if rate is None else round(rate, 1),
        "p50_ms": round(paced.percentile_ms(0.50), 2),
        "p95_ms": round(paced.percentile_ms(0.95), 2),
        "p99_ms": round(paced.percentile_ms(0.99), 2),
        "errors": errors,
        "first_error": first_error,
        "server_cpu_cores": None if server_cores is None else round(server_cores, 2),
    }


def _measure_sdk(store, bodies: list[bytes], duration: float) -> dict:
    rows = [[{"doc_id": d} for d in orjson.loads(body)["entities"]["doc_id"]] for body in bodies]
    store.get_online_features(features=REFS, entity_rows=rows[0])
    latencies, started = [], time.perf_counter()
    for entity_rows in itertools.cycle(rows):
        began = time.perf_counter()
        store.get_online_features(features=REFS, entity_rows=entity_rows).to_dict()
        latencies.append(time.perf_counter() - began)
        if began - started > duration:
            break
    elapsed = time.perf_counter() - started
    measurement = Measurement(elapsed, len(latencies), 0, latencies, 0.0, 0.0)
    return _row(FEAST_SDK, len(latencies) / elapsed, None, measurement, 0, "", None)


def _ingest_bench(client: DynamoClient, view, root: Path, rows: int, rng: random.Random) -> dict:
    base = _columns(rows, rng)
    first = ingest(client, view, parquet_columns(_write_parquet(base, root / "day1.parquet")))
    changed = set(rng.sample(range(rows), rows * 3 // 100))
    day2 = dict(base)
    day2["f00"] = [value + 1 if n in changed else value for n, value in enumerate(base["f00"])]
    path = _write_parquet(day2, root / "day2.parquet")
    detected = ingest(client, view, parquet_columns(path))
    everything = ingest(client, view, parquet_columns(path), detect_changes=False)
    return {
        "rows": rows,
        "changed_rows": len(changed),
        "initial_load": first.summary(),
        "with_change_detection": detected.summary(),
        "without_change_detection": everything.summary(),
        "seconds_saved": round(everything.seconds - detected.seconds, 2),
    }


def _markdown(results: dict) -> str:
    lines = ["| entities × features | server | req/s (saturated) | paced at req/s | p50 ms | p95 ms | p99 ms | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for size, rows in results["serving"].items():
        for row in rows:
            rate = "–" if row["paced_rate"] is None else f"{row['paced_rate']:,.1f}"
            latencies = " | ".join("–" if row[k] is None else str(row[k]) for k in ("p50_ms", "p95_ms", "p99_ms"))
            lines.append(f"| {size} × {len(FEATURE_TYPES)} | {row['server']} | {row['req_per_s']:,.1f} | {rate} | "
                         f"{latencies} | {row['errors']} |")
    return "\n".join(lines)


async def _compare_servers(
    results: dict, ours: ServerProcess, reader: CommandServer, feast_server: CommandServer, store: object,
    rng: random.Random, args: argparse.Namespace,
) -> None:
    """Check the servers answer alike, then measure them and the SDK at each size."""
    for size in args.sizes:
        bodies = _bodies(size, args.entities, rng)
        match = _answers_match(_post(ours.url, bodies[0]), _post(feast_server.url, bodies[0])) and _answers_match(
            _post(ours.url, bodies[0]), _post(reader.url, bodies[0]))
        print(f"{size} entities: answers of dynovault, its reader and feast serve equal: {match}", file=sys.stderr)
        rows = [
            await _measure_server(OURS, ours.port, ours.process.pid, bodies, args),
            await _measure_server(READER, reader.port, reader.process.pid, bodies, args),
            await _measure_together([(ours.port, ours.process.pid), (reader.port, reader.process.pid)], bodies, args),
            await _measure_server(FEAST_SERVE, feast_server.port, feast_server.process.pid, bodies, args),
            await asyncio.to_thread(_measure_sdk, store, bodies, args.duration),
        ]
        results["serving"][str(size)] = rows
        results.setdefault("answers_equal", {})[str(size)] = match
        for row in rows:
            print(f"  {row}", file=sys.stderr)


async def _run(args: argparse.Namespace) -> int:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    from feast import FeatureStore

    from dynovault.features.sync import definitions_from_repo

    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-features-") as scratch:
        root = Path(scratch)
        ours = ServerProcess(root / "data").start()
        feast_server = None
        try:
            repo = _feast_repo(root, ours.url, rng)
            await asyncio.to_thread(subprocess.run, [_feast(), "-c", str(repo), "apply"], check=True, capture_output=True)
            definitions = definitions_from_repo(repo)
            save(definitions, root / "data" / "features.json")
            view = definitions.feature_views[VIEW]
            client = DynamoClient(ours.url)
            loaded = ingest(client, view, parquet_columns(_write_parquet(_columns(args.entities, rng), root / "all.parquet")))
            print(f"loaded {loaded.rows_written:,} entities × {len(FEATURE_TYPES)} features", file=sys.stderr)
            results: dict = {"entities_loaded": args.entities, "features": len(FEATURE_TYPES), "serving": {}}
            if args.sizes:
                feast_server = CommandServer("feast-serve", [_feast(), "-c", str(repo), "serve", "-p", "{port}",
                                                             "--no-access-log"], root, ready_path="/health")
                feast_server.start(timeout=120)
                reader = CommandServer("reader", [sys.executable, "-m", "dynovault", "features", "serve", "--data-dir",
                                                  str(root / "data"), "--port", "{port}"], root, ready_path="/health")
                reader.start()
                try:
                    await _compare_servers(results, ours, reader, feast_server, FeatureStore(repo_path=str(repo)),
                                           rng, args)
                finally:
                    reader.stop()
            if args.ingest_rows:
                results["ingest"] = _ingest_bench(client, view, root, args.ingest_rows, rng)
        finally:
            if feast_server is not None:
                feast_server.stop()
            ours.stop()
    write_json(args.out / "features.json", results)
    if results["serving"]:
        print(_markdown(results))
    if "ingest" in results:
        print(orjson.dumps(results["ingest"], option=orjson.OPT_INDENT_2).decode())
    return 0
