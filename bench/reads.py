"""Query and Scan throughput and latency of Dynovault next to moto and a bare aiohttp ceiling.

Starts the three servers of ``python -m bench load`` on free ports, creates a table with
HASH ``pk`` (S) and RANGE ``sk`` (N), and preloads partitions of 1,000 ~1 KB items with
BatchWriteItem. Then, on each server in turn:

* Query: one random partition, ``Limit`` 100 (a page of 100 items); requests/s at
  saturation (closed loop) and p50/p99 latency at a fixed moderate rate (open loop);
* filtered Scan: a page of ``Limit`` 1,000 items from a random start key, with a
  FilterExpression on a numeric attribute that keeps 10% of them; requests/s and items
  scanned/s at saturation;
* full Scan: one client walking every page (LastEvaluatedKey → ExclusiveStartKey) at
  several table sizes, the table growing between them; items/s. Every walk must return
  every item.

moto loads and answers slowly, so it gets fewer partitions (``--moto-partitions``) and one
full-Scan size: its own. The ceiling answers every request with a fixed ~1 KB body, so it
is a yardstick for the HTTP layer, not for the work of reading 100 or 1,000 items.

Prints markdown tables and writes ``reads.json`` and ``reads.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import uvloop

from bench.loadgen import (
    CpuMeter,
    Measurement,
    Response,
    parse_response,
    run_closed_loop,
    run_open_loop,
)
from bench.progress import done, status
from bench.report import CEILING, DYNOVAULT, MOTO, add_out_argument, pyplot, write_json
from bench.workloads import BATCH_WRITE_ITEMS, Workload, item, raw_request, write_all
from dynovault.testing.processes import ChildServer, CommandServer, ServerProcess

TABLE = "bench.reads"
PARTITION_ITEMS = 1000
QUERY_PAGE = 100
SCAN_PAGE = 1000
FILTER_KEEPS_PERCENT = 10
MAX_QUERY_P99_MS = 5.0
QUERY, FILTERED_SCAN = f"Query(page of {QUERY_PAGE})", f"filtered Scan(page of {SCAN_PAGE}, keeps {FILTER_KEEPS_PERCENT}%)"
_COUNT = re.compile(rb'"Count":\s*(\d+)')
_SCANNED_COUNT = re.compile(rb'"ScannedCount":\s*(\d+)')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--partitions", type=int, default=20,
                        help=f"partitions of {PARTITION_ITEMS:,} items preloaded into Dynovault (default 20)")
    parser.add_argument("--moto-partitions", type=int, default=2,
                        help="partitions preloaded into moto, which loads and scans slowly (default 2)")
    parser.add_argument("--scan-sizes", type=int, nargs="+", default=[20_000, 50_000, 100_000], metavar="ITEMS",
                        help="Dynovault table sizes of the full Scan; the table grows to each in turn "
                             "(default 20000 50000 100000)")
    parser.add_argument("--scan-walks", type=int, default=3, help="full-Scan walks per size; the median counts (default 3)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per phase (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before each measurement (default 1)")
    parser.add_argument("--connections", type=int, default=16, help="closed-loop connections (default 16)")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="paced Query req/s, at most half the server's saturation (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the request pools")
    add_out_argument(parser)


def run(args: argparse.Namespace) -> int:
    return uvloop.run(_run(args))


def partition_key(partition: int) -> dict:
    return {"S": f"part#{partition:05d}"}


def partition_item(index: int) -> dict:
    """Item ``index`` of the table: the load benchmark's ~1 KB row, in partition
    ``index // PARTITION_ITEMS``, with a ``bucket`` in 0..99 that is uniform over any 100
    consecutive items (37 is prime to 100), so ``bucket < 10`` keeps exactly 10%."""
    row = item(index)
    row["pk"] = partition_key(index // PARTITION_ITEMS)
    row["sk"] = {"N": str(index % PARTITION_ITEMS)}
    row["bucket"] = {"N": str(index * 37 % 100)}
    return row


def create_table_request() -> dict:
    return {
        "TableName": TABLE,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


def _query(table: str, item_count: int, rng: random.Random) -> bytes:
    return raw_request("Query", {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": partition_key(rng.randrange(item_count // PARTITION_ITEMS))},
        "Limit": QUERY_PAGE,
    })


def _queries(table: str, item_count: int, rng: random.Random, size: int) -> list[bytes]:
    return [_query(table, item_count, rng) for _ in range(size)]


def _filtered_scans(table: str, item_count: int, rng: random.Random, size: int) -> list[bytes]:
    return [_filtered_scan(table, item_count, rng) for _ in range(size)]


def _filtered_scan(table: str, item_count: int, rng: random.Random) -> bytes:
    start = rng.randrange(item_count)
    return raw_request("Scan", {
        "TableName": table,
        "FilterExpression": "#bucket < :keep",
        "ExpressionAttributeNames": {"#bucket": "bucket"},
        "ExpressionAttributeValues": {":keep": {"N": str(FILTER_KEEPS_PERCENT)}},
        "ExclusiveStartKey": {"pk": partition_key(start // PARTITION_ITEMS), "sk": {"N": str(start % PARTITION_ITEMS)}},
        "Limit": SCAN_PAGE,
    })


class PageCounter:
    """Checks each answer is a page and counts the items it read (``ScannedCount``) and
    returned (``Count``), which shows the filter keeps what it should."""

    def __init__(self, expected_count: int | None) -> None:
        self.expected_count = expected_count
        self.pages = 0
        self.scanned = 0
        self.returned = 0

    def __call__(self, response: Response) -> str | None:
        scanned, count = _SCANNED_COUNT.search(response.body), _COUNT.search(response.body)
        if scanned is None or count is None:
            return f"not a page: {response.body[:200]!r}"
        if self.expected_count is not None and int(count.group(1)) != self.expected_count:
            return f"expected {self.expected_count} items: {response.body[:200]!r}"
        self.pages += 1
        self.scanned += int(scanned.group(1))
        self.returned += int(count.group(1))
        return None

    @property
    def scanned_per_page(self) -> float:
        return self.scanned / self.pages if self.pages else 0.0

    @property
    def returned_per_page(self) -> float:
        return self.returned / self.pages if self.pages else 0.0


WORKLOADS = (
    (Workload(QUERY, QUERY_PAGE, _queries, 2_000, None), QUERY_PAGE),
    (Workload(FILTERED_SCAN, SCAN_PAGE, _filtered_scans, 2_000, None), None),
)


@dataclass
class Target:
    """A server under test and how many items its table holds."""

    name: str
    server: ChildServer
    items: int = 0

    @property
    def pid(self) -> int:
        return self.server.process.pid


@dataclass
class ReadResult:
    """One workload on one server: saturated throughput, items read per request, and (for
    Query) paced latency."""

    workload: str
    server: str
    items_loaded: int
    saturation: Measurement
    scanned_per_request: float | None
    returned_per_request: float | None
    paced_rate: float | None = None
    paced: Measurement | None = None


@dataclass
class FullScan:
    """The median of several walks over the whole table."""

    server: str
    items: int
    pages: int
    seconds: float

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds


class PlainClient:
    """One keep-alive connection for sequential calls (a new one when the server closes)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def call(self, operation: str, body: dict) -> dict:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        writer.write(raw_request(operation, body))
        buffer = bytearray()
        while (response := parse_response(buffer)) is None:
            chunk = await reader.read(1 << 20)
            if not chunk:
                raise ConnectionError(f"{operation}: connection closed before the answer")
            buffer += chunk
        if not response.keep_alive:
            self.close()
        if response.status != 200:
            raise RuntimeError(f"{operation}: HTTP {response.status}: {response.body[:300]!r}")
        return orjson.loads(response.body)

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def _grow(target: Target, items: int) -> None:
    """Load items ``target.items..items-1`` with BatchWriteItem."""
    requests = [
        raw_request("BatchWriteItem", {"RequestItems": {TABLE: [
            {"PutRequest": {"Item": partition_item(i)}} for i in range(start, min(start + BATCH_WRITE_ITEMS, items))
        ]}})
        for start in range(target.items, items, BATCH_WRITE_ITEMS)
    ]
    started = time.perf_counter()
    first = target.items

    def progress(answers: int) -> None:
        status(f"preloading {target.name}: {min(first + answers * BATCH_WRITE_ITEMS, items):,}/{items:,} items")

    await write_all(target.name, target.server.port, target.pid, requests, progress)
    target.items = items
    done(f"{target.name} holds {items:,} items (loaded {items - first:,} in {time.perf_counter() - started:.1f} s)")


def _progress(label: str, phase: str, total: float):
    started = time.perf_counter()
    return lambda answers: status(f"{label}: {phase} {time.perf_counter() - started:4.0f}/{total:.0f} s, {answers:,} answers")


async def _measure(workload: Workload, expected_count: int | None, target: Target, pool: list[bytes],
                   args: argparse.Namespace) -> ReadResult:
    label = f"{workload.name} on {target.name}"
    # The ceiling's fixed answer is not a page: it is measured unchecked.
    counter = PageCounter(expected_count) if target.name != CEILING else None
    saturation = await run_closed_loop(
        "127.0.0.1", target.server.port, itertools.cycle(pool), args.connections, args.warmup, args.duration,
        CpuMeter(target.pid), counter, _progress(label, "saturation", args.warmup + args.duration),
    )
    result = ReadResult(workload.name, target.name, target.items, saturation,
                        counter.scanned_per_page if counter else None,
                        counter.returned_per_page if counter else None)
    line = f"{label}: {saturation.throughput:,.0f} req/s saturated"
    if workload.name == QUERY:
        result.paced_rate = max(1.0, min(args.rate, saturation.throughput / 2))
        result.paced = await run_open_loop(
            "127.0.0.1", target.server.port, itertools.cycle(pool), result.paced_rate, args.warmup, args.duration,
            CpuMeter(target.pid), counter,
            _progress(label, f"paced at {result.paced_rate:,.0f}/s", args.warmup + args.duration),
        )
        line += f", p99 {result.paced.percentile_ms(0.99):.2f} ms at {result.paced_rate:,.0f}/s"
    errors = saturation.errors + (result.paced.errors if result.paced else 0)
    done(line + (f", {errors} errors ({saturation.first_error or result.paced.first_error})" if errors else ""))
    return result


async def _walk(target: Target) -> tuple[int, float]:
    """Scan every page of the table once; pages walked and seconds taken."""
    client = PlainClient(target.server.port)
    request: dict = {"TableName": TABLE}
    items = pages = 0
    started = time.perf_counter()
    try:
        while True:
            page = await client.call("Scan", request)
            items += len(page["Items"])
            pages += 1
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    finally:
        client.close()
    seconds = time.perf_counter() - started
    if items != target.items:
        raise RuntimeError(f"full Scan of {target.name} returned {items:,} of {target.items:,} items")
    return pages, seconds


async def _full_scans(target: Target, sizes: list[int], walks: int) -> list[FullScan]:
    results = []
    for size in sizes:
        await _grow(target, size)
        timings = []
        for walk in range(walks):
            status(f"full Scan of {target.name} at {size:,} items: walk {walk + 1}/{walks}")
            timings.append(await _walk(target))
        pages = timings[0][0]
        result = FullScan(target.name, size, pages, statistics.median(seconds for _, seconds in timings))
        done(f"full Scan of {target.name} at {size:,} items: {result.items_per_second:,.0f} items/s "
              f"({pages} pages, {result.seconds:.2f} s)")
        results.append(result)
    return results


def _environment() -> dict:
    return {
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _servers(workdir: Path) -> list[Target]:
    return [
        Target(DYNOVAULT, ServerProcess(workdir / "dynovault-data")),
        Target(MOTO, CommandServer(MOTO, [sys.executable, "-m", "moto.server", "-p", "{port}"], workdir)),
        Target(CEILING, CommandServer(CEILING, [sys.executable, "-m", "bench.ceiling", "--port", "{port}"], workdir,
                                      ready_path="/health")),
    ]


async def _run(args: argparse.Namespace) -> int:
    environment = _environment()
    loaded = {DYNOVAULT: args.partitions * PARTITION_ITEMS, MOTO: args.moto_partitions * PARTITION_ITEMS}
    scan_sizes = {DYNOVAULT: sorted({loaded[DYNOVAULT], *(s for s in args.scan_sizes if s > loaded[DYNOVAULT])}),
                  MOTO: [loaded[MOTO]]}
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        targets = _servers(Path(workdir))
        try:
            for target in targets:
                target.server.start(timeout=60)
                done(f"started {target.name} on {target.server.url} (pid {target.pid})")
            for target in targets[:2]:
                await PlainClient(target.server.port).call("CreateTable", create_table_request())
                await _grow(target, loaded[target.name])
            results = []
            for workload, expected_count in WORKLOADS:
                for target in targets:
                    pool = workload.requests(TABLE, target.items or loaded[DYNOVAULT], args.seed)
                    results.append(await _measure(workload, expected_count, target, pool, args))
            full_scans = [scan for target in targets[:2]
                          for scan in await _full_scans(target, scan_sizes[target.name], args.scan_walks)]
        finally:
            for target in targets:
                target.server.stop()
    settings = {name: str(value) if isinstance(value, Path) else value
                for name, value in vars(args).items() if name not in ("run", "command")}
    summary = ReadsReport(environment, settings, results, full_scans)
    print(summary.markdown())
    summary.write(args.out)
    done(f"wrote {args.out / 'reads.json'} and {args.out / 'reads.png'}")
    return 0


def _ratio(value: float, reference: float | None) -> str:
    if not reference:
        return "–"
    ratio = value / reference
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.0f}×"


class ReadsReport:
    """The results as markdown tables, JSON and a plot, with the issue's Query latency target."""

    def __init__(self, environment: dict, settings: dict, results: list[ReadResult], full_scans: list[FullScan]) -> None:
        self.environment = environment
        self.settings = settings
        self.results = results
        self.full_scans = full_scans
        self._by_key = {(r.workload, r.server): r for r in results}

    def _throughput(self, workload: str, server: str) -> float | None:
        result = self._by_key.get((workload, server))
        return result.saturation.throughput if result else None

    def target(self) -> tuple[str, bool] | None:
        query = self._by_key.get((QUERY, DYNOVAULT))
        if query is None or query.paced is None:
            return None
        p99 = query.paced.percentile_ms(0.99)
        met = p99 <= MAX_QUERY_P99_MS
        return (f"{'met' if met else 'MISSED'}: Query page of {QUERY_PAGE} items p99 ≤ {MAX_QUERY_P99_MS:g} ms "
                f"at {query.paced_rate:,.0f} req/s: {p99:.2f} ms"), met

    def markdown(self) -> str:
        env, settings = self.environment, self.settings
        lines = [
            (f"Measured {env['started_utc']} on {env['cpus']} CPUs (load average at start "
            f"{' / '.join(map(str, env['load_average_at_start']))}), Python {env['python']}: saturation with "
            f"{settings['connections']} connections for {settings['duration']:g} s after {settings['warmup']:g} s "
            f"of warm-up; Query latency paced at the rate shown. Items are ~1 KB. CPU is in cores."),
            "",
            ("| workload | server | items in table | req/s | items read/s | server CPU | vs moto | vs ceiling "
             "| paced req/s | p50 ms | p99 ms | errors |"),
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.results:
            sat, paced = r.saturation, r.paced
            read = f"{sat.throughput * r.scanned_per_request:,.0f}" if r.scanned_per_request else "–"
            latency = (f"| {r.paced_rate:,.0f} | {paced.percentile_ms(0.5):.2f} | {paced.percentile_ms(0.99):.2f} "
                       if paced else "| – | – | – ")
            lines.append(
                f"| {r.workload} | {r.server} | {r.items_loaded:,} | {sat.throughput:,.0f} | {read} "
                f"| {sat.server_cpu_seconds / sat.seconds:.2f} "
                f"| {_ratio(sat.throughput, self._throughput(r.workload, MOTO)) if r.server == DYNOVAULT else '–'} "
                f"| {_ratio(sat.throughput, self._throughput(r.workload, CEILING)) if r.server != CEILING else '–'} "
                f"{latency}| {sat.errors + (paced.errors if paced else 0)} |"
            )
        lines += ["", "Full Scan, one client walking every 1 MB page:", "",
                  "| server | items in table | pages | seconds | items/s |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {s.server} | {s.items:,} | {s.pages} | {s.seconds:.2f} | {s.items_per_second:,.0f} |"
                  for s in self.full_scans]
        target = self.target()
        if target:
            lines += ["", f"- {target[0]}"]
        return "\n".join(lines)

    def to_json(self) -> dict:
        target = self.target()
        return {
            "environment": self.environment,
            "settings": self.settings,
            "results": [
                {
                    "workload": r.workload,
                    "server": r.server,
                    "items_loaded": r.items_loaded,
                    "saturation": r.saturation.summary(),
                    "items_read_per_request": r.scanned_per_request,
                    "items_returned_per_request": r.returned_per_request,
                    "paced_rate": r.paced_rate,
                    "paced": r.paced.summary() if r.paced else None,
                }
                for r in self.results
            ],
            "full_scans": [{**s.__dict__, "items_per_second": round(s.items_per_second, 1)} for s in self.full_scans],
            "target": {"description": target[0], "met": target[1]} if target else None,
        }

    def write(self, out: Path) -> None:
        write_json(out / "reads.json", self.to_json())
        self.plot(out / "reads.png")

    def plot(self, path: Path) -> None:
        plt = pyplot()

        figure, (throughput_axes, latency_axes, scan_axes) = plt.subplots(1, 3, figsize=(15, 4.8))
        workloads = [workload.name for workload, _ in WORKLOADS]
        servers = (DYNOVAULT, MOTO, CEILING)
        width = 0.8 / len(servers)
        for offset, server in enumerate(servers):
            values = [self._throughput(w, server) or 0.0 for w in workloads]
            bars = throughput_axes.bar([i + (offset - 1) * width for i in range(len(workloads))], values, width, label=server)
            throughput_axes.bar_label(bars, labels=[f"{v:,.0f}" if v else "" for v in values], fontsize=7)
        throughput_axes.set_yscale("log")
        throughput_axes.set_title("Saturated throughput (req/s, log scale)")
        throughput_axes.set_xticks(range(len(workloads)), ["Query", "filtered Scan"], fontsize=8)
        throughput_axes.legend(fontsize=8)

        labels, values = [], []
        for server in (DYNOVAULT, MOTO):
            result = self._by_key.get((QUERY, server))
            if result and result.paced:
                for fraction in (0.5, 0.99):
                    labels.append(f"{server}\np{fraction * 100:g}")
                    values.append(result.paced.percentile_ms(fraction))
        bars = latency_axes.bar(labels, values)
        latency_axes.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=7)
        latency_axes.axhline(MAX_QUERY_P99_MS, color="grey", linestyle="--", linewidth=1, label="target p99")
        latency_axes.set_yscale("log")
        latency_axes.set_title(f"Query page of {QUERY_PAGE}: latency at a moderate rate (ms)")
        latency_axes.legend(fontsize=8)

        for server in (DYNOVAULT, MOTO):
            scans = [s for s in self.full_scans if s.server == server]
            scan_axes.plot([s.items for s in scans], [s.items_per_second for s in scans], marker="o", label=server)
        scan_axes.set_xscale("log")
        scan_axes.set_yscale("log")
        scan_axes.set_xlabel("items in table")
        scan_axes.set_title("Full Scan throughput (items/s)")
        scan_axes.legend(fontsize=8)
        figure.suptitle(f"python -m bench reads, {self.environment.get('cpus')} CPUs, {self.environment.get('started_utc')}")
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
