"""DynamoDB Streams: how soon a consumer sees a write, and what a stream costs a writer.

Starts one ``dynovault serve`` process, then:

* visibility: PutItem on a table with a ``NEW_AND_OLD_IMAGES`` stream at ``--rate`` writes
  a second (open loop) for ``--duration`` seconds while one consumer polls GetRecords on
  the stream's open shard (a boto3-style loop: the next iterator at once after a page with
  records, ``--poll-interval`` seconds after an empty one). Each item carries the instant
  its request was submitted; a record's visibility is the time from then until the
  consumer holds it. Also the consumer's records/s when it drains a backlog.
* cost: PutItem overwriting existing items (so every record has an old image) with
  ``--connections`` concurrent connections, on a plain table and on one with a
  ``NEW_AND_OLD_IMAGES`` stream, alternated ``--rounds`` times; the ratio of throughputs.

Prints a markdown summary and writes ``streams.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import platform
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import uvloop

from bench.loadgen import CpuMeter, Measurement, run_closed_loop, run_open_loop
from bench.progress import done, status
from bench.report import add_out_argument, per_cpu_second, write_json
from bench.workloads import SIGNATURE_HEADERS, create_table_request, item, raw_request
from dynovault.testing.processes import ServerProcess

KEYS = 5_000
BACKLOG_RECORDS = 20_000
_STREAMS_TARGET = "DynamoDBStreams_20120810."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=int, default=1000, help="writes per second for visibility (default 1000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured phase (default 10)")
    parser.add_argument("--poll-interval", type=float, default=0.01,
                        help="seconds the consumer waits after an empty page (default 0.01)")
    parser.add_argument("--connections", type=int, default=16, help="connections of the cost phase (default 16)")
    parser.add_argument("--rounds", type=int, default=2, help="plain/stream alternations of the cost phase")
    add_out_argument(parser)


def run(args: argparse.Namespace) -> int:
    return uvloop.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-streams-") as workdir:
        server = ServerProcess(Path(workdir) / "data", ["--log-level", "error"]).start()
        try:
            done(f"started {server.url}")
            async with aiohttp.ClientSession(server.url) as session:
                visibility = await _visibility(session, server, args)
                drain = await _drain(session, server)
                cost = await _cost(session, server, args)
        finally:
            server.stop()
    results = {
        "environment": {"python": platform.python_version(), "machine": platform.machine()},
        "settings": {k: v for k, v in vars(args).items() if k not in ("run", "out")},
        "visibility": visibility,
        "consumer_drain": drain,
        "cost": cost,
    }
    write_json(Path(args.out) / "streams.json", results)
    print(_markdown(results))
    return 0


# ---- the API, over one keep-alive session ----------------------------------------------


async def _call(session: aiohttp.ClientSession, target: str, body: dict) -> dict:
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target, **SIGNATURE_HEADERS}
    async with session.post("/", data=orjson.dumps(body), headers=headers) as reply:
        answer = orjson.loads(await reply.read())
        if reply.status != 200:
            raise RuntimeError(f"{target}: {answer}")
        return answer


async def _table(session: aiohttp.ClientSession, name: str, streamed: bool) -> str | None:
    request = create_table_request(name)
    if streamed:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    created = await _call(session, "DynamoDB_20120810.CreateTable", request)
    return created["TableDescription"].get("LatestStreamArn")


async def _iterator(session: aiohttp.ClientSession, arn: str, kind: str) -> str:
    stream = await _call(session, _STREAMS_TARGET + "DescribeStream", {"StreamArn": arn})
    shard = stream["StreamDescription"]["Shards"][-1]["ShardId"]
    answer = await _call(session, _STREAMS_TARGET + "GetShardIterator",
                         {"StreamArn": arn, "ShardId": shard, "ShardIteratorType": kind})
    return answer["ShardIterator"]


async def _fill(server: ServerProcess, table: str) -> None:
    requests = (raw_request("PutItem", {"TableName": table, "Item": item(n)}) for n in range(KEYS))
    await run_closed_loop("127.0.0.1", server.port, requests, 8, 0.0, float("inf"), CpuMeter(server.process.pid))


# ---- visibility ------------------------------------------------------------------------


def _timed_puts(table: str) -> Iterator[bytes]:
    """PutItem requests stamped with the instant they are drawn (the open loop draws each
    as it submits it)."""
    for n in itertools.count():
        row = item(n % KEYS)
        row["sent_at"] = {"N": repr(time.perf_counter())}
        yield raw_request("PutItem", {"TableName": table, "Item": row})


async def _visibility(session: aiohttp.ClientSession, server: ServerProcess, args: argparse.Namespace) -> dict:
    arn = await _table(session, "bench.visibility", streamed=True)
    iterator = await _iterator(session, arn, "LATEST")
    seen: list[float] = []
    stop = asyncio.Event()

    async def consume() -> None:
        nonlocal iterator
        while not stop.is_set():
            page = await _call(session, _STREAMS_TARGET + "GetRecords", {"ShardIterator": iterator})
            now = time.perf_counter()
            seen.extend(now - float(r["dynamodb"]["NewImage"]["sent_at"]["N"]) for r in page["Records"])
            iterator = page["NextShardIterator"]
            if not page["Records"]:
                await asyncio.sleep(args.poll_interval)

    status(f"visibility: {args.rate} PutItem/s for {args.duration:.0f} s with a consumer polling")
    consumer = asyncio.create_task(consume())
    writes = await run_open_loop("127.0.0.1", server.port, _timed_puts("bench.visibility"), args.rate, 1.0,
                                 args.duration, CpuMeter(server.process.pid))
    await asyncio.sleep(1.0)
    stop.set()
    await consumer
    done(f"visibility: {len(seen)} records seen")
    return {"writes": writes.summary(), "records_seen": len(seen), **_percentiles_ms(seen)}


def _percentiles_ms(values: list[float]) -> dict:
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 3) if ordered else 0.0

    return {"p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0)}


async def _drain(session: aiohttp.ClientSession, server: ServerProcess) -> dict:
    """A consumer's records/s reading a backlog of BACKLOG_RECORDS from TRIM_HORIZON."""
    arn = await _table(session, "bench.drain", streamed=True)
    requests = (raw_request("PutItem", {"TableName": "bench.drain", "Item": item(n)}) for n in range(BACKLOG_RECORDS))
    status(f"drain: writing a backlog of {BACKLOG_RECORDS} records")
    await run_closed_loop("127.0.0.1", server.port, requests, 8, 0.0, float("inf"), CpuMeter(server.process.pid))
    iterator = await _iterator(session, arn, "TRIM_HORIZON")
    read, started = 0, time.perf_counter()
    while read < BACKLOG_RECORDS:
        page = await _call(session, _STREAMS_TARGET + "GetRecords", {"ShardIterator": iterator})
        read += len(page["Records"])
        iterator = page["NextShardIterator"]
    seconds = time.perf_counter() - started
    done(f"drain: {read} records in {seconds:.2f} s")
    return {"records": read, "seconds": round(seconds, 3), "records_per_s": round(read / seconds, 1)}


# ---- cost ------------------------------------------------------------------------------


def _overwrites(table: str) -> Iterator[bytes]:
    for n in itertools.count():
        row = item(n % KEYS)
        row["version"] = {"N": str(n)}
        yield raw_request("PutItem", {"TableName": table, "Item": row})


async def _cost(session: aiohttp.ClientSession, server: ServerProcess, args: argparse.Namespace) -> dict:
    tables = {"plain": "bench.plain", "NEW_AND_OLD_IMAGES": "bench.streamed"}
    for label, table in tables.items():
        await _table(session, table, streamed=label != "plain")
        status(f"cost: filling {table}")
        await _fill(server, table)
    runs: dict[str, list[Measurement]] = {label: [] for label in tables}
    for round_number in range(args.rounds):
        for label, table in tables.items():
            status(f"cost: round {round_number + 1}, {label}")
            runs[label].append(await run_closed_loop(
                "127.0.0.1", server.port, _overwrites(table), args.connections, 1.0, args.duration,
                CpuMeter(server.process.pid),
            ))
    best = {label: max(m.throughput for m in measured) for label, measured in runs.items()}
    pairs = list(zip(runs["plain"], runs["NEW_AND_OLD_IMAGES"], strict=True))
    done(f"cost: {best}")
    return {
        "runs": {label: [m.summary() for m in measured] for label, measured in runs.items()},
        "best_req_per_s": {label: round(value, 1) for label, value in best.items()},
        # Per round, stream over plain: of throughput, and of requests per server CPU second
        # (the steadier of the two on a machine other work shares).
        "throughput_ratios": [round(streamed.throughput / plain.throughput, 3) for plain, streamed in pairs],
        "cpu_efficiency_ratios": [round(per_cpu_second(streamed) / per_cpu_second(plain), 3) for plain, streamed in pairs],
    }



def _markdown(results: dict) -> str:
    visibility, drain, cost = results["visibility"], results["consumer_drain"], results["cost"]
    writes = visibility["writes"]
    rows = [
        (f"PutItem rate kept (asked {results['settings']['rate']}/s)",
         f"{writes['req_per_s']}/s, p50 {writes['p50_ms']} ms, p99 {writes['p99_ms']} ms"),
        ("write submitted → record in GetRecords",
         f"p50 {visibility['p50_ms']} ms, p99 {visibility['p99_ms']} ms, max {visibility['max_ms']} ms, "
         + f"{visibility['records_seen']} records"),
        ("consumer draining a backlog", f"{drain['records_per_s']} records/s"),
        ("PutItem (overwrite) plain table", f"{cost['best_req_per_s']['plain']} req/s"),
        ("PutItem (overwrite) with NEW_AND_OLD_IMAGES",
         f"{cost['best_req_per_s']['NEW_AND_OLD_IMAGES']} req/s"),
        ("stream / plain, per round: throughput", ", ".join(f"{r}×" for r in cost["throughput_ratios"])),
        ("stream / plain, per round: requests per server CPU second",
         ", ".join(f"{r}×" for r in cost["cpu_efficiency_ratios"])),
    ]
    return "\n".join(["| measure | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)])

