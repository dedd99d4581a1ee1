"""Throughput and latency of Dynovault next to moto, dynalite, a minimal server and a bare aiohttp ceiling.

Starts the servers as processes on free ports (``dynovault serve`` once per ``--workers``
count, ``python -m moto.server``, dynalite (npm package, installed on first use), the
aiohttp + orjson + rocksdict server of ``bench.minimal``, the fixed-answer ceiling of
``bench.ceiling``), preloads ~1 KB items with BatchWriteItem, then runs each workload
(GetItem, BatchGetItem(100), PutItem, a 90/10 get/put mix) against each server in turn:

* saturation: a closed loop over several keep-alive connections; requests/s, and the CPU
  the server and this client used (on a small machine they share the cores);
* paced: an open loop at a fixed moderate rate (at most half the server's saturation
  throughput); p50/p99 latency.

With several workers Dynovault's reader processes answer eventually consistent reads from a
RocksDB secondary; how stale their answers are (commit on the writer to visibility on a
reader) is measured last, with writes paced at ``--rate``, from each such server's ``/metrics``.

Prints a markdown table and writes ``load.json`` and ``load.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
import uvloop
from botocore.config import Config
from prometheus_client.parser import text_string_to_metric_families

from bench import report
from bench.loadgen import CpuMeter, Measurement, run_closed_loop, run_open_loop
from bench.progress import done, status
from bench.report import CEILING, DYNALITE, DYNOVAULT, MINIMAL, MOTO, dynovault_name
from bench.workloads import (
    BATCH_GET_KEYS,
    BATCH_WRITE_ITEMS,
    WORKLOADS,
    Workload,
    changing_puts,
    create_table_request,
    item,
    key,
    preload_requests,
    write_all,
)
from dynovault.testing.processes import ChildServer, CommandServer, ServerProcess

TABLE = "bench.items"
OTHER_SERVERS = (MOTO, DYNALITE, MINIMAL, CEILING)
DYNALITE_PACKAGE = "dynalite@4.0.0"
# npm installs dynalite here once; later runs reuse it.
NPM_CACHE = Path.home() / ".cache" / "dynovault-bench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=int, default=100_000, help="items preloaded into Dynovault (default 100000)")
    parser.add_argument(
        "--moto-items",
        type=int,
        help="items preloaded into moto, which loads slowly (default and at most: --items)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per phase (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each measurement (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="closed-loop connections (default 32)")
    parser.add_argument("--rate", type=float, default=1000.0, help="paced req/s for single-item workloads (default 1000)")
    parser.add_argument("--batch-rate", type=float, default=100.0, help="paced req/s for BatchGetItem(100) (default 100)")
    parser.add_argument(
        "--workloads",
        nargs="+",
        choices=[w.name for w in WORKLOADS],
        default=[w.name for w in WORKLOADS],
        metavar="NAME",
        help=f"workloads to run (default all: {', '.join(w.name for w in WORKLOADS)})",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the request pools")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], metavar="N",
                        help="run Dynovault once per count, as dynovault serve --workers N (default 1 2)")
    parser.add_argument("--servers", nargs="+", choices=OTHER_SERVERS, default=list(OTHER_SERVERS), metavar="NAME",
                        help=f"servers to compare Dynovault with (default all: {', '.join(OTHER_SERVERS)})")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record a py-spy flame graph of Dynovault during each saturation phase into --out "
        "(profile-<workload>.svg; needs ptrace rights)",
    )
    report.add_out_argument(parser)


def run(args: argparse.Namespace) -> int:
    args.moto_items = min(args.moto_items or args.items, args.items)
    return uvloop.run(_run(args))


@dataclass
class Target:
    """A server under test and how many items it holds."""

    name: str
    server: ChildServer
    items: int

    @property
    def pid(self) -> int:
        return self.server.process.pid


def _targets(workdir: Path, args: argparse.Namespace) -> list[Target]:
    targets = [
        Target(dynovault_name(workers), ServerProcess(workdir / f"dynovault-{workers}", ["--workers", str(workers)]),
               args.items)
        for workers in args.workers
    ]
    others = {
        MOTO: lambda: Target(MOTO, CommandServer(MOTO, [sys.executable, "-m", "moto.server", "-p", "{port}"], workdir),
                             args.moto_items),
        DYNALITE: lambda: Target(DYNALITE, CommandServer(
            DYNALITE, [str(_dynalite()), "--port", "{port}", "--createTableMs", "0"], workdir), args.items),
        MINIMAL: lambda: Target(MINIMAL, CommandServer(
            MINIMAL, [sys.executable, "-m", "bench.minimal", "--port", "{port}", "--data-dir",
                      str(workdir / "minimal-data")], workdir, ready_path="/health"), args.items),
        CEILING: lambda: Target(CEILING, CommandServer(
            CEILING, [sys.executable, "-m", "bench.ceiling", "--port", "{port}"], workdir, ready_path="/health"), 0),
    }
    return targets + [others[name]() for name in OTHER_SERVERS if name in args.servers]


def _dynalite() -> Path:
    """dynalite's command, installed with npm (from the npm registry) on first use."""
    command = NPM_CACHE / "node_modules" / ".bin" / "dynalite"
    if not command.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("dynalite needs node and npm (or leave it out: --servers without dynalite)")
        status(f"installing {DYNALITE_PACKAGE} into {NPM_CACHE}")
        NPM_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(NPM_CACHE), DYNALITE_PACKAGE],
                       check=True, stdout=subprocess.DEVNULL)
    return command


def _start(target: Target) -> None:
    target.server.start(timeout=60)
    done(f"started {target.name} on {target.server.url} (pid {target.pid})")


def _client(url: str):
    return boto3.client(
        "dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
        aws_secret_access_key="bench", config=Config(retries={"max_attempts": 1}, read_timeout=60),
    )


async def _preload(target: Target) -> None:
    client = _client(target.server.url)
    client.create_table(**create_table_request(TABLE))
    deadline = time.monotonic() + 60
    # dynalite, like DynamoDB, creates tables in the background.
    while client.describe_table(TableName=TABLE)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{target.name} did not make {TABLE} ACTIVE")
        await asyncio.sleep(0.1)
    requests = preload_requests(TABLE, target.items)
    started = time.perf_counter()

    def progress(answers: int) -> None:
        status(f"preloading {target.name}: {min(answers * BATCH_WRITE_ITEMS, target.items):,}/{target.items:,} items")

    await write_all(target.name, target.server.port, target.pid, requests, progress)
    done(f"preloaded {target.items:,} items into {target.name} in {time.perf_counter() - started:.1f} s")


def _unordered_sets(value: object) -> object:
    """An attribute value with its sets as frozensets: DynamoDB keeps no order in sets."""
    if isinstance(value, dict):
        return {tag: frozenset(inner) if tag in ("SS", "NS", "BS") else _unordered_sets(inner)
                for tag, inner in value.items()}
    if isinstance(value, list):
        return [_unordered_sets(member) for member in value]
    return value


def _verify(target: Target) -> None:
    """Check that the server returns what was loaded before its speed means anything."""
    client = _client(target.server.url)
    probe = target.items // 2
    got = client.get_item(TableName=TABLE, Key=key(probe)).get("Item")
    if got is None or _unordered_sets(got) != _unordered_sets(item(probe)):
        raise RuntimeError(f"{target.name} returned {got!r} for item {probe}")
    keys = [key(i) for i in range(min(BATCH_GET_KEYS, target.items))]
    answer = client.batch_get_item(RequestItems={TABLE: {"Keys": keys}})
    if len(answer["Responses"][TABLE]) != len(keys) or answer.get("UnprocessedKeys"):
        raise RuntimeError(f"{target.name} BatchGetItem returned {len(answer['Responses'][TABLE])} of {len(keys)} items")


def _staleness_buckets(target: Target) -> dict[float, float]:
    """The reader workers' staleness histogram (commit on the writer to visibility on a
    reader) as /metrics shows it: upper bound -> cumulative count."""
    with urllib.request.urlopen(target.server.url + "/metrics", timeout=30) as answer:
        text = answer.read().decode()
    for family in text_string_to_metric_families(text):
        if family.name == "dynovault_reader_staleness_seconds":
            return {float(s.labels["le"]): s.value for s in family.samples if s.name.endswith("_bucket")}
    return {}


async def _staleness(target: Target, args: argparse.Namespace) -> dict:
    """How stale reader workers' answers are while the writer commits ``--rate`` writes a
    second (each changing its item) for ``--duration`` seconds."""
    before = _staleness_buckets(target)
    pool = changing_puts(TABLE, target.items, random.Random(args.seed), 10_000)
    started = time.perf_counter()
    writes = await run_open_loop(
        "127.0.0.1", target.server.port, itertools.cycle(pool), args.rate, 1.0, args.duration, CpuMeter(target.pid),
        None, lambda answers: status(f"staleness on {target.name}: {time.perf_counter() - started:4.0f} s, "
                                     f"{answers:,} writes"),
    )
    after = _staleness_buckets(target)
    summary = report.histogram_summary(sorted((upper, count - before.get(upper, 0.0)) for upper, count in after.items()))
    summary["writes_per_s"] = round(writes.throughput, 1)
    done(f"staleness on {target.name} at {writes.throughput:,.0f} writes/s: p50 ≤ {summary['p50_le_ms']} ms, "
         f"p99 ≤ {summary['p99_le_ms']} ms over {summary['count']:,.0f} catch-ups")
    return summary


def _start_profiler(workload: Workload, target: Target, args: argparse.Namespace) -> subprocess.Popen:
    """py-spy sampling the server for the measured part of a saturation phase, without
    pausing it (``--nonblocking``)."""
    py_spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if py_spy is None:
        raise RuntimeError("--profile needs py-spy (pip install py-spy)")
    args.out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", workload.name.lower()).strip("-")
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(target.pid), "--duration", str(math.ceil(args.warmup + args.duration)),
         "--rate", "200", "--nonblocking", "--format", "flamegraph", "--output", str(args.out / f"profile-{slug}.svg")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _paced_rate(workload: Workload, args: argparse.Namespace, saturation: Measurement) -> float:
    wanted = args.batch_rate if workload.batch else args.rate
    return max(1.0, min(wanted, saturation.throughput / 2))


async def _measure(workload: Workload, target: Target, pool: list[bytes], args: argparse.Namespace) -> report.Result:
    label = f"{workload.name} on {target.name}"
    started = time.perf_counter()

    def progress(phase: str, total: float):
        return lambda answers: status(f"{label}: {phase} {time.perf_counter() - started:4.0f}/{total:.0f} s, {answers:,} answers")

    profiler = _start_profiler(workload, target, args) if args.profile and target.name.startswith(DYNOVAULT) else None
    saturation = await run_closed_loop(
        "127.0.0.1", target.server.port, itertools.cycle(pool), args.connections, args.warmup, args.duration,
        CpuMeter(target.pid), workload.check, progress("saturation", args.warmup + args.duration),
    )
    if profiler is not None:
        await asyncio.to_thread(profiler.wait)
    rate = _paced_rate(workload, args, saturation)
    started = time.perf_counter()
    paced = await run_open_loop(
        "127.0.0.1", target.server.port, itertools.cycle(pool), rate, 1.0, args.duration,
        CpuMeter(target.pid), workload.check, progress(f"paced at {rate:,.0f}/s", 1.0 + args.duration),
    )
    result = report.Result(workload.name, workload.items_per_request, target.name, target.items, saturation, rate, paced)
    done(f"{label}: {saturation.throughput:,.0f} req/s saturated, p99 {paced.percentile_ms(0.99):.2f} ms at {rate:,.0f}/s"
          + (f", {saturation.errors + paced.errors} errors ({saturation.first_error or paced.first_error})"
             if saturation.errors + paced.errors else ""))
    return result


async def _run(args: argparse.Namespace) -> int:
    environment = {
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        targets = _targets(Path(workdir), args)
        try:
            for target in targets:
                _start(target)
            for target in (t for t in targets if t.items):
                await _preload(target)
                _verify(target)
            results = []
            for workload in (w for w in WORKLOADS if w.name in args.workloads):
                for target in targets:
                    # The ceiling holds nothing and answers any key: it gets Dynovault's requests.
                    pool = workload.requests(TABLE, target.items or args.items, args.seed)
                    results.append(await _measure(workload, target, pool, args))
            staleness = {t.name: await _staleness(t, args) for t in targets
                         if t.name.startswith(DYNOVAULT) and t.name != DYNOVAULT}
        finally:
            for target in targets:
                target.server.stop()
    settings = {name: value for name, value in vars(args).items() if name not in ("run", "command")}
    settings["out"] = str(args.out)
    summary = report.Report(environment, settings, results, staleness)
    print(summary.markdown())
    summary.write(args.out)
    done(f"wrote {args.out / 'load.json'} and {args.out / 'load.png'}")
    return 0
