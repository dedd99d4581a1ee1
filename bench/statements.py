"""PartiQL and transactions against the item operations they run on, through HTTP.

Starts one Dynovault server, creates a table keyed by ``pk`` and preloads ``--items`` ~1 KB
items, then saturates it (closed loop) with, in turn:

* GetItem of a random key;
* ExecuteStatement ``SELECT * FROM t WHERE pk = ?`` of a random key (one statement text,
  so after the first request it is parsed and prepared from the cache);
* ExecuteStatement with the key written into the text, over a pool of distinct texts
  that fits the statement cache;
* PutItem of one item, and TransactWriteItems of 10 Puts (items/s counts 10 per request).

The phases run in turn ``--rounds`` times, so that a change in the machine's load falls on
all of them alike. Each reports requests/s, items/s and p50/p99 latency at saturation (the
round with the median requests/s); the statement phases are also given as the median of
their per-round ratios to GetItem. Prints a markdown table and writes ``statements.json``
into ``--out``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import uvloop

from bench.loadgen import CpuMeter, Measurement, Response, run_closed_loop
from bench.progress import done, status
from bench.report import add_out_argument, write_json
from bench.workloads import create_table_request, item, key, preload_requests, raw_request, write_all
from dynovault.testing.processes import ServerProcess

TABLE = "bench.statements"
TRANSACTION_PUTS = 10
LITERAL_POOL = 1_000
POOL = 10_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=int, default=10_000, help="items preloaded (default 10000)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per phase (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before each measurement (default 1)")
    parser.add_argument("--connections", type=int, default=16, help="closed-loop connections (default 16)")
    parser.add_argument("--rounds", type=int, default=3, help="times each phase runs, in turn (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the request pools")
    add_out_argument(parser)


def run(args: argparse.Namespace) -> int:
    return uvloop.run(_run(args))


@dataclass(frozen=True)
class Phase:
    name: str
    items_per_request: int
    requests: list[bytes]
    check: object


def _found(response: Response) -> str | None:
    return None if b'"Item' in response.body else f"item not found: {response.body[:200]!r}"


def phases(items: int, seed: int) -> list[Phase]:
    rng = random.Random(seed)
    keys = [rng.randrange(items) for _ in range(POOL)]
    statement = f'SELECT * FROM "{TABLE}" WHERE pk = ?'
    literal_keys = keys[:LITERAL_POOL]
    return [
        Phase("GetItem", 1, [raw_request("GetItem", {"TableName": TABLE, "Key": key(i)}) for i in keys], _found),
        Phase("ExecuteStatement SELECT by key (?)", 1, [
            raw_request("ExecuteStatement", {"Statement": statement, "Parameters": [key(i)["pk"]]}) for i in keys
        ], _found),
        Phase(f"ExecuteStatement SELECT by key (literal, {LITERAL_POOL} texts)", 1, [
            raw_request("ExecuteStatement", {"Statement": f"SELECT * FROM \"{TABLE}\" WHERE pk = '{key(i)['pk']['S']}'"})
            for i in literal_keys
        ], _found),
        Phase("PutItem", 1, [raw_request("PutItem", {"TableName": TABLE, "Item": item(i)}) for i in keys], None),
        Phase(f"TransactWriteItems({TRANSACTION_PUTS} Puts)", TRANSACTION_PUTS, [
            raw_request("TransactWriteItems", {"TransactItems": [
                {"Put": {"TableName": TABLE, "Item": item(i)}} for i in rng.sample(range(items), TRANSACTION_PUTS)
            ]})
            for _ in range(POOL // TRANSACTION_PUTS)
        ], None),
    ]


async def _measure(server: ServerProcess, phase: Phase, args: argparse.Namespace) -> Measurement:
    status(f"{phase.name}: saturating for {args.warmup + args.duration:.0f} s")
    measured = await run_closed_loop(
        "127.0.0.1", server.port, itertools.cycle(phase.requests), args.connections, args.warmup, args.duration,
        CpuMeter(server.process.pid), phase.check,
    )
    done(f"{phase.name}: {measured.throughput:,.0f} req/s, p99 {measured.percentile_ms(0.99):.2f} ms"
         + (f", {measured.errors} errors ({measured.first_error})" if measured.errors else ""))
    return measured


async def _run(args: argparse.Namespace) -> int:
    rounds: list[dict[str, Measurement]] = []
    with tempfile.TemporaryDirectory(prefix="bench-statements-") as workdir:
        server = ServerProcess(Path(workdir) / "data").start()
        try:
            pid = server.process.pid
            create = [raw_request("CreateTable", create_table_request(TABLE))]
            await write_all("Dynovault", server.port, pid, create, lambda _: None)
            await write_all("Dynovault", server.port, pid, preload_requests(TABLE, args.items), lambda _: None)
            workload = phases(args.items, args.seed)
            for _ in range(args.rounds):
                rounds.append({phase.name: await _measure(server, phase, args) for phase in workload})
        finally:
            server.stop()
    rows = []
    print("\n| workload | req/s | items/s | p50 ms | p99 ms | vs GetItem |\n|---|---:|---:|---:|---:|---:|")
    for phase in workload:
        measured = sorted((result[phase.name] for result in rounds), key=lambda m: m.throughput)[len(rounds) // 2]
        ratios = sorted(result[phase.name].throughput / result["GetItem"].throughput for result in rounds)
        ratio = f"{ratios[len(ratios) // 2]:.2f}x" if phase.name.startswith(("GetItem", "ExecuteStatement")) else ""
        print(f"| {phase.name} | {measured.throughput:,.0f} | {measured.throughput * phase.items_per_request:,.0f} | "
              f"{measured.percentile_ms(0.5):.2f} | {measured.percentile_ms(0.99):.2f} | {ratio} |")
        rows.append({"workload": phase.name, "items_per_request": phase.items_per_request,
                     "ratios_to_get_item": [round(r, 3) for r in ratios], **measured.summary()})
    write_json(args.out / "statements.json", {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                    "load_average": os.getloadavg()},
        "items": args.items, "connections": args.connections, "rounds": args.rounds, "results": rows,
    })
    return 0 if all(measured.errors == 0 for result in rounds for measured in result.values()) else 1
