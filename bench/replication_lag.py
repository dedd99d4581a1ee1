"""Replication lag under write load: how stale followers are at a given write rate.

Starts a leader and N followers as ``dynovault serve`` processes on free ports (or uses
the servers given with ``--leader``/``--follower``), then for each sync setting, item
size and write rate drives PutItem at that rate on the leader (open loop, so a slow
answer never slows the schedule) for ``--duration`` seconds, with a progress line. Lag
is measured three ways:

* end to end: ~``--probe-rate`` times a second a probe item is written to the leader and
  read back from every follower until it shows; lag = time from the leader's answer to
  the first follower read that returns it (an upper bound by one follower round trip);
* from the leader's ``dynovault_replication_ack_lag_seconds`` histogram (commit to
  follower acknowledgement) and the followers' ``apply_lag`` histograms;
* backlog: the leader's ``/replication/status`` sampled 5 times a second (LSN distance,
  seconds behind), and how long followers take to catch up once writes stop.

Prints a markdown table and writes ``replication-lag.json`` and ``replication-lag.png``
(lag over time, lag against write rate) into ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import platform
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import psutil
import uvloop
from prometheus_client.parser import text_string_to_metric_families

from bench.loadgen import CpuMeter, Measurement, Response, parse_response, run_open_loop
from bench.progress import done, status
from bench.report import add_out_argument, pyplot, write_json
from bench.workloads import raw_request
from dynovault.testing.cluster import Cluster, get_json

TABLE = "bench.replication"
KEY_POOL = 20_000
STATUS_INTERVAL = 0.2
CATCH_UP_TIMEOUT = 60.0
TARGET_RATE, TARGET_ITEM_BYTES, TARGET_P99_MS = 5000, 1024, 10.0
SATURATED_WRITE_P50_MS = 100.0
# A follower applying a record should cost far less than the leader serving the write.
FOLLOWER_CPU_SHARE = 0.2
LAG_PLOT_INTERVAL = 0.25


def _numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--followers", type=int, default=2, help="followers to start (default 2)")
    parser.add_argument("--rates", type=_numbers, default=[1000, 2500, 5000],
                        help="write rates in PutItem/s, comma-separated (default 1000,2500,5000)")
    parser.add_argument("--item-sizes", type=_numbers, default=[1024],
                        help="item sizes in bytes, comma-separated (default 1024)")
    parser.add_argument("--sync-replicas", type=_numbers, default=[0],
                        help="--sync-replicas settings of the leader to compare, comma-separated (default 0: async)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of writes per run (default 10)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of writes before measuring (default 1)")
    parser.add_argument("--probe-rate", type=float, default=100.0, help="read-back probes per second (default 100)")
    parser.add_argument("--leader", help="use this running leader instead of starting servers (its table "
                        f"{TABLE} is dropped and recreated; --sync-replicas is then the leader's own)")
    parser.add_argument("--follower", action="append", default=[], metavar="URL",
                        help="a running follower of --leader (repeat for each)")
    add_out_argument(parser)


def run(args: argparse.Namespace) -> int:
    if args.leader and not args.follower:
        raise SystemExit("--leader needs at least one --follower")
    return uvloop.run(_run(args))


@dataclass
class RunResult:
    """One (sync setting, item size, rate) run."""

    sync_replicas: int
    item_bytes: int
    rate: int
    followers: int
    writes: Measurement
    probe_lags_ms: list[float]
    writes_ended_at: float  # seconds from the run's start, warmup included
    probes: list[dict] = field(repr=False)
    status_samples: list[dict] = field(repr=False)
    metric_lags_ms: dict
    catch_up_seconds: float
    committed_per_s: float  # the leader's LSN rate in the window, probe writes included
    applied_per_s: float
    bytes_per_s: float
    load_average_before: tuple[float, float, float]  # the machine's, so a busy neighbour shows
    # CPU per record over the whole run, warm-up and catch-up included: the leader's per
    # record it committed, a follower's per record it applied (probe reads and status
    # polls included on both); None for servers this run did not start.
    leader_cpu_us_per_write: float | None = None
    follower_cpu_us_per_record: float | None = None

    def lag_ms(self, fraction: float) -> float:
        return _percentile(self.probe_lags_ms, fraction)

    @property
    def bounded(self) -> bool:
        """The leader kept the asked rate and followers kept pace with it."""
        return self.kept_pace and not self.backlog_growing

    @property
    def kept_pace(self) -> bool:
        """The leader committed at the asked rate without a standing queue of writes
        (a saturated leader's median write waits behind hundreds of others)."""
        return self.committed_per_s >= 0.95 * self.rate and self.writes.percentile_ms(0.5) < SATURATED_WRITE_P50_MS

    @property
    def max_distance(self) -> int:
        return max((s["max_distance"] for s in self.status_samples), default=0)

    @property
    def backlog_growing(self) -> bool:
        """Whether the LSN distance at the end of the run is well above its level at the
        first quarter: followers are falling further behind, not keeping pace."""
        distances = [s["max_distance"] for s in self.status_samples if s["t"] <= self.writes_ended_at]
        if len(distances) < 8:
            return False
        quarter = len(distances) // 4
        early = sorted(distances[:quarter * 2])[quarter]
        late = sorted(distances[-quarter:])[quarter // 2]
        return late > max(2 * early, early + 1000)

    def summary(self) -> dict:
        return {
            "sync_replicas": self.sync_replicas,
            "item_bytes": self.item_bytes,
            "rate": self.rate,
            "followers": self.followers,
            "writes": self.writes.summary(),
            "lag_ms": {
                "p50": round(self.lag_ms(0.5), 3),
                "p99": round(self.lag_ms(0.99), 3),
                "max": round(max(self.probe_lags_ms, default=math.nan), 3),
                "probes": len(self.probe_lags_ms),
            },
            "metric_lag_ms": self.metric_lags_ms,
            "max_lsn_distance": self.max_distance,
            "backlog_growing": self.backlog_growing,
            "catch_up_seconds": round(self.catch_up_seconds, 3),
            "load_average_before": self.load_average_before,
            "committed_records_per_s": round(self.committed_per_s, 1),
            "leader_kept_pace": self.kept_pace,
            "applied_records_per_s": round(self.applied_per_s, 1),
            "applied_bytes_per_s": round(self.bytes_per_s, 1),
            "leader_cpu_us_per_write": self.leader_cpu_us_per_write,
            "follower_cpu_us_per_applied_record": self.follower_cpu_us_per_record,
            "probe_series": self.probes,
            "status_series": self.status_samples,
        }


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# ---- servers -----------------------------------------------------------------------


@dataclass
class Nodes:
    leader_url: str
    follower_urls: list[str]
    leader_pid: int | None  # None: servers this benchmark did not start, whose CPU it cannot read
    cluster: Cluster | None = None
    follower_pids: list[int] = field(default_factory=list)

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU seconds the leader and the followers (together) used so far; 0 for servers
        this benchmark did not start."""
        def used(pid: int) -> float:
            return sum(psutil.Process(pid).cpu_times()[:2])

        return used(self.leader_pid) if self.leader_pid else 0.0, sum(used(pid) for pid in self.follower_pids)

    @property
    def leader_address(self) -> tuple[str, int]:
        parts = urlsplit(self.leader_url)
        return parts.hostname, parts.port


def _start_cluster(workdir: Path, args: argparse.Namespace, sync_replicas: int) -> Nodes:
    leader_args = ["--sync-replicas", str(sync_replicas)] if sync_replicas else []
    cluster = Cluster(workdir / f"sync{sync_replicas}", follower_count=args.followers, leader_args=leader_args)
    cluster.start()
    done(f"started leader {cluster.leader.url} and followers {', '.join(f.url for f in cluster.followers)}"
          + (f" (--sync-replicas {sync_replicas})" if sync_replicas else ""))
    return Nodes(cluster.leader.url, [f.url for f in cluster.followers], cluster.leader.process.pid, cluster,
                 [f.process.pid for f in cluster.followers])


def _given_sync_replicas(args: argparse.Namespace) -> int:
    """A running leader's own --sync-replicas: the only setting servers given by URL can show."""
    return get_json(args.leader.rstrip("/") + "/replication/status")["sync_replicas"]


def _given_nodes(args: argparse.Namespace) -> Nodes:
    return Nodes(args.leader.rstrip("/"), [url.rstrip("/") for url in args.follower], None)


# ---- raw HTTP ----------------------------------------------------------------------


class RawClient:
    """One keep-alive connection sending pre-built requests one at a time."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.buffer = bytearray()

    async def call(self, raw: bytes) -> Response:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(raw)
        while (response := parse_response(self.buffer)) is None:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError(f"{self.host}:{self.port} closed the connection")
            self.buffer += data
        del self.buffer[: response.consumed]
        return response

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _put_request(key: str, item_bytes: int) -> bytes:
    body = {"TableName": TABLE, "Item": {"pk": {"S": key}, "payload": {"S": ""}}}
    padding = max(0, item_bytes - len(orjson.dumps(body["Item"])))
    body["Item"]["payload"]["S"] = "x" * padding
    return raw_request("PutItem", body)


def _get_request(key: str) -> bytes:
    return raw_request("GetItem", {"TableName": TABLE, "Key": {"pk": {"S": key}}})


async def _ensure_table(leader: RawClient) -> None:
    await leader.call(raw_request("DeleteTable", {"TableName": TABLE}))
    answer = await leader.call(raw_request("CreateTable", {
        "TableName": TABLE,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }))
    if answer.status != 200:
        raise RuntimeError(f"CreateTable failed: {answer.body[:300]!r}")


# ---- probes and samples ------------------------------------------------------------


class Prober:
    """Writes probe items to the leader and times until each follower returns them."""

    def __init__(self, nodes: Nodes, rate: float, started: float) -> None:
        self.leader = RawClient(nodes.leader_url)
        self.followers = [RawClient(url) for url in nodes.follower_urls]
        self.interval = 1.0 / rate
        self.started = started
        self.series: list[dict] = []
        self.stopped = asyncio.Event()

    async def run(self) -> None:
        try:
            for number in itertools.count():
                if self.stopped.is_set():
                    return
                begun = time.perf_counter()
                await self._probe(f"probe#{number}")
                await asyncio.sleep(max(0.0, self.interval - (time.perf_counter() - begun)))
        finally:
            for client in (self.leader, *self.followers):
                client.close()

    async def _probe(self, key: str) -> None:
        written = await self.leader.call(_put_request(key, 64))
        acknowledged = time.perf_counter()
        if written.status != 200:
            return
        lags = await asyncio.gather(*(self._seen(client, key, acknowledged) for client in self.followers))
        lags_ms = [round(lag * 1000, 3) for lag in lags]
        self.series.append({"t": round(acknowledged - self.started, 4), "lag_ms": lags_ms})

    @staticmethod
    async def _seen(client: RawClient, key: str, since: float) -> float:
        request = _get_request(key)
        while time.perf_counter() - since < CATCH_UP_TIMEOUT:
            answer = await client.call(request)
            if answer.status == 200 and b'"Item"' in answer.body:
                return time.perf_counter() - since
        return CATCH_UP_TIMEOUT

    def lags_ms(self, measured_from: float, measured_to: float) -> list[float]:
        return [max(p["lag_ms"]) for p in self.series if measured_from <= p["t"] < measured_to]


async def _sample_status(nodes: Nodes, started: float, samples: list[dict], stop: asyncio.Event) -> None:
    while not stop.is_set():
        status = await asyncio.to_thread(get_json, nodes.leader_url + "/replication/status")
        followers = status.get("followers", [])
        samples.append({
            "t": round(time.perf_counter() - started, 3),
            "leader_lsn": status["last_lsn"],
            "max_distance": max((f["lsn_distance"] for f in followers), default=0),
            "max_seconds_behind": max((f["seconds_behind"] for f in followers), default=0.0),
            "max_bytes_behind": max((f["bytes_behind"] for f in followers), default=0),
            "applied_lsn": {f["name"]: f["applied_lsn"] for f in followers},
        })
        await asyncio.sleep(STATUS_INTERVAL)


# ---- metrics -----------------------------------------------------------------------


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as reply:
        return reply.read().decode()


def _histogram_buckets(text: str, name: str) -> dict[float, float]:
    """Cumulative bucket counts of histogram ``name``, summed over its label sets."""
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                upper = float(sample.labels["le"])
                buckets[upper] = buckets.get(upper, 0.0) + sample.value
    return buckets


def _histogram_quantile_ms(before: dict[float, float], after: dict[float, float], fraction: float) -> float | None:
    """The upper bound of the bucket holding the ``fraction`` quantile of what was observed
    between two scrapes (Prometheus' buckets give no finer answer)."""
    delta = sorted((upper, after.get(upper, 0.0) - before.get(upper, 0.0)) for upper in after)
    total = delta[-1][1] if delta else 0.0
    if total <= 0:
        return None
    for upper, count in delta:
        if count >= fraction * total:
            return upper * 1000
    return math.inf


def _counter(text: str, name: str) -> float:
    return sum(sample.value for family in text_string_to_metric_families(text) if family.name == name
               for sample in family.samples if sample.name == name + "_total")


def _metric_lags(before: dict[str, str], after: dict[str, str], nodes: Nodes) -> dict:
    ack_name = "dynovault_replication_ack_lag_seconds"
    apply_name = "dynovault_replication_apply_lag_seconds"
    ack_before = _histogram_buckets(before[nodes.leader_url], ack_name)
    ack_after = _histogram_buckets(after[nodes.leader_url], ack_name)
    apply_before: dict[float, float] = {}
    apply_after: dict[float, float] = {}
    for url in nodes.follower_urls:
        for total, text in ((apply_before, before[url]), (apply_after, after[url])):
            for upper, count in _histogram_buckets(text, apply_name).items():
                total[upper] = total.get(upper, 0.0) + count
    return {
        "ack_p50_le": _histogram_quantile_ms(ack_before, ack_after, 0.5),
        "ack_p99_le": _histogram_quantile_ms(ack_before, ack_after, 0.99),
        "apply_p50_le": _histogram_quantile_ms(apply_before, apply_after, 0.5),
        "apply_p99_le": _histogram_quantile_ms(apply_before, apply_after, 0.99),
    }


async def _scrape_all(nodes: Nodes) -> dict[str, str]:
    urls = [nodes.leader_url, *nodes.follower_urls]
    texts = await asyncio.gather(*(asyncio.to_thread(_scrape, url) for url in urls))
    return dict(zip(urls, texts))


# ---- one run -----------------------------------------------------------------------


async def _caught_up(nodes: Nodes) -> float:
    """Seconds until every follower applied the leader's last LSN."""
    started = time.perf_counter()
    while time.perf_counter() - started < CATCH_UP_TIMEOUT:
        status = await asyncio.to_thread(get_json, nodes.leader_url + "/replication/status")
        followers = status.get("followers", [])
        if len(followers) == len(nodes.follower_urls) and all(f["lsn_distance"] == 0 for f in followers):
            return time.perf_counter() - started
        await asyncio.sleep(0.01)
    return math.inf


async def _measure(nodes: Nodes, sync_replicas: int, item_bytes: int, rate: int, args: argparse.Namespace) -> RunResult:
    distinct = min(KEY_POOL, int(rate * (args.duration + args.warmup)) + 1)
    pool = [_put_request(f"item#{i:06d}", item_bytes) for i in range(distinct)]
    label = f"{rate:,}/s x {item_bytes:,} B" + (f", sync {sync_replicas}" if sync_replicas else "")
    await _caught_up(nodes)
    load_average = os.getloadavg()
    metrics_before = await _scrape_all(nodes)
    applied_before = _applied_totals(metrics_before, nodes)
    cpu_before, lsn_before = nodes.cpu_seconds(), (await _snapshot(nodes, 0.0))["leader_lsn"]
    started = time.perf_counter()
    samples: list[dict] = []
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(_sample_status(nodes, started, samples, stop_sampling))
    prober = Prober(nodes, args.probe_rate, started)
    probing = asyncio.create_task(prober.run())
    window = asyncio.create_task(_window(nodes, started, args.warmup, args.duration))
    total = args.warmup + args.duration

    def progress(answers: int) -> None:
        elapsed = time.perf_counter() - started
        recent = prober.lags_ms(elapsed - 1.0, elapsed)
        distance = samples[-1]["max_distance"] if samples else 0
        status(f"{label}: {min(elapsed, total):4.1f}/{total:.0f} s, {answers:,} writes answered, "
                f"follower lag p99 (last 1 s) {_percentile(recent, 0.99):.2f} ms, LSN distance {distance:,}")

    writes = await run_open_loop(
        *nodes.leader_address, itertools.cycle(pool), rate, args.warmup, args.duration,
        CpuMeter(nodes.leader_pid or os.getpid()), _check_written, progress,
    )
    prober.stopped.set()
    await probing
    catch_up = await _caught_up(nodes)
    (leader_cpu, follower_cpu), committed = (
        (after - before for after, before in zip(nodes.cpu_seconds(), cpu_before)),
        (await _snapshot(nodes, 0.0))["leader_lsn"] - lsn_before,
    )
    stop_sampling.set()
    await sampler
    metrics_after = await _scrape_all(nodes)
    applied_after = _applied_totals(metrics_after, nodes)
    committed_per_s, applied_per_s = _rates(*await window)
    records, size = (after - before for after, before in zip(applied_after, applied_before))
    result = RunResult(
        sync_replicas=sync_replicas,
        item_bytes=item_bytes,
        rate=rate,
        followers=len(nodes.follower_urls),
        writes=writes,
        probe_lags_ms=prober.lags_ms(args.warmup, total),
        writes_ended_at=total,
        probes=prober.series,
        status_samples=samples,
        metric_lags_ms=_metric_lags(metrics_before, metrics_after, nodes),
        catch_up_seconds=catch_up,
        committed_per_s=committed_per_s,
        applied_per_s=applied_per_s,
        bytes_per_s=applied_per_s * size / records if records else 0.0,
        load_average_before=load_average,
        leader_cpu_us_per_write=round(leader_cpu / committed * 1e6, 1) if nodes.leader_pid and committed else None,
        follower_cpu_us_per_record=round(follower_cpu / records * 1e6, 1) if nodes.follower_pids and records else None,
    )
    done(f"{label}: leader committed {committed_per_s:,.0f}/s, follower lag p50 {result.lag_ms(0.5):.2f} ms "
          f"p99 {result.lag_ms(0.99):.2f} ms, caught up {catch_up * 1000:.0f} ms after the last write")
    return result


async def _snapshot(nodes: Nodes, started: float) -> dict:
    """The leader's last LSN and each follower's applied LSN, with when they were read."""
    status = await asyncio.to_thread(get_json, nodes.leader_url + "/replication/status")
    return {
        "t": time.perf_counter() - started,
        "leader_lsn": status["last_lsn"],
        "applied": {f["name"]: f["applied_lsn"] for f in status.get("followers", [])},
    }


async def _window(nodes: Nodes, started: float, warmup: float, duration: float) -> tuple[dict, dict]:
    """Snapshots at the start and the end of the measured window."""
    await asyncio.sleep(max(0.0, warmup - (time.perf_counter() - started)))
    first = await _snapshot(nodes, started)
    await asyncio.sleep(max(0.0, warmup + duration - (time.perf_counter() - started)))
    return first, await _snapshot(nodes, started)


def _rates(first: dict, last: dict) -> tuple[float, float]:
    """Records per second the leader committed, and each follower applied (averaged)."""
    elapsed = last["t"] - first["t"]
    if elapsed <= 0:
        return 0.0, 0.0
    committed = (last["leader_lsn"] - first["leader_lsn"]) / elapsed
    names = first["applied"].keys() & last["applied"].keys()
    applied = sum(last["applied"][n] - first["applied"][n] for n in names) / len(names) if names else 0.0
    return committed, applied / elapsed


def _check_written(response: Response) -> str | None:
    return None if response.status == 200 else f"HTTP {response.status}: {response.body[:200]!r}"


def _applied_totals(texts: dict[str, str], nodes: Nodes) -> tuple[float, float]:
    records = sum(_counter(texts[url], "dynovault_replication_applied_records") for url in nodes.follower_urls)
    size = sum(_counter(texts[url], "dynovault_replication_applied_bytes") for url in nodes.follower_urls)
    return records, size


# ---- report ------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return "∞" if math.isinf(value) else f"{value:.2f}"


def markdown(results: list[RunResult]) -> str:
    lines = [
        "| sync K | item B | rate/s | followers | committed/s | leader kept pace | write p50 ms | write p99 ms "
        "| lag p50 ms | lag p99 ms | lag max ms | ack lag p99 ≤ ms | max LSN distance | backlog growing | catch-up ms "
        "| applied rec/s | applied B/s | leader CPU µs/write | follower CPU µs/record |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.sync_replicas} | {r.item_bytes:,} | {r.rate:,} | {r.followers} | {r.committed_per_s:,.0f} "
            f"| {'yes' if r.kept_pace else 'no'} "
            f"| {r.writes.percentile_ms(0.5):.2f} | {r.writes.percentile_ms(0.99):.2f} "
            f"| {_ms(r.lag_ms(0.5))} | {_ms(r.lag_ms(0.99))} | {_ms(max(r.probe_lags_ms, default=math.nan))} "
            f"| {_ms(r.metric_lags_ms['ack_p99_le'])} | {r.max_distance:,} | {'yes' if r.backlog_growing else 'no'} "
            f"| {r.catch_up_seconds * 1000:.0f} | {r.applied_per_s:,.0f} | {r.bytes_per_s:,.0f} "
            f"| {_number(r.leader_cpu_us_per_write)} | {_number(r.follower_cpu_us_per_record)} |"
        )
    lines.append("")
    lines.extend(_targets(results))
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def _targets(results: list[RunResult]) -> list[str]:
    asynchronous = [r for r in results if r.sync_replicas == 0]
    lines = []
    for r in asynchronous:
        if r.leader_cpu_us_per_write and r.follower_cpu_us_per_record:
            ratio = r.follower_cpu_us_per_record / r.leader_cpu_us_per_write
            lines.append(
                f"- {'met' if ratio <= FOLLOWER_CPU_SHARE else 'MISSED'}: at {r.rate:,}/s a follower spends "
                f"{r.follower_cpu_us_per_record:,.1f} µs of CPU per applied record, {ratio:.2f}× the leader's "
                f"{r.leader_cpu_us_per_write:,.1f} µs per write (target ≤ {FOLLOWER_CPU_SHARE:g}×)"
            )
    for r in asynchronous:
        if (r.rate, r.item_bytes) != (TARGET_RATE, TARGET_ITEM_BYTES):
            continue
        met = r.lag_ms(0.99) <= TARGET_P99_MS and r.bounded
        lines.append(
            f"- {'met' if met else 'MISSED'}: at {TARGET_RATE:,} writes/s of {TARGET_ITEM_BYTES} B, follower lag "
            f"p99 ≤ {TARGET_P99_MS:g} ms with no growing backlog: leader committed {r.committed_per_s:,.0f}/s, "
            f"p99 {_ms(r.lag_ms(0.99))} ms, backlog {'growing' if r.backlog_growing else 'bounded'}"
        )
    bounded = [r for r in asynchronous if r.bounded]
    if bounded:
        best = max(bounded, key=lambda r: r.committed_per_s)
        lines.append(
            f"- highest write rate with bounded lag: {best.rate:,} writes/s of "
            f"{best.item_bytes:,} B (lag p99 {_ms(best.lag_ms(0.99))} ms)"
        )
    baseline = {(r.rate, r.item_bytes): r for r in asynchronous}
    for r in results:
        base = baseline.get((r.rate, r.item_bytes)) if r.sync_replicas else None
        if base is not None:
            lines.append(
                f"- sync mode K={r.sync_replicas} at {r.rate:,}/s x {r.item_bytes:,} B: write p50 "
                f"{base.writes.percentile_ms(0.5):.2f} → {r.writes.percentile_ms(0.5):.2f} ms, p99 "
                f"{base.writes.percentile_ms(0.99):.2f} → {r.writes.percentile_ms(0.99):.2f} ms"
            )
    return lines


def _worst_per_interval(probes: list[dict]) -> tuple[list[float], list[float]]:
    """The worst probe lag (over followers and probes) in each ``LAG_PLOT_INTERVAL``."""
    worst: dict[int, float] = {}
    for probe in probes:
        slot = int(probe["t"] / LAG_PLOT_INTERVAL)
        worst[slot] = max(worst.get(slot, 0.0), *probe["lag_ms"])
    slots = sorted(worst)
    return [slot * LAG_PLOT_INTERVAL for slot in slots], [worst[slot] for slot in slots]


def plot(results: list[RunResult], path: Path) -> None:
    plt = pyplot()
    from matplotlib.ticker import ScalarFormatter

    figure, (over_time, vs_rate) = plt.subplots(1, 2, figsize=(13, 5))
    over_time.set_prop_cycle(color=plt.cm.tab20.colors)
    for r in results:
        label = f"{r.rate:,}/s x {r.item_bytes:,} B" + (f" sync {r.sync_replicas}" if r.sync_replicas else "")
        times, lags = _worst_per_interval(r.probes)
        over_time.plot(times, lags, "-", linewidth=1, label=label)
    over_time.set(title="Follower lag over time (read-back probes)", xlabel="seconds since the run began",
                  ylabel=f"worst lag per {LAG_PLOT_INTERVAL:g} s, ms", yscale="log")
    over_time.legend(fontsize="x-small")
    series: dict[tuple[int, int], list[RunResult]] = {}
    for r in results:
        series.setdefault((r.sync_replicas, r.item_bytes), []).append(r)
    for (sync_replicas, item_bytes), runs in sorted(series.items()):
        runs.sort(key=lambda r: r.rate)
        rates = [r.rate for r in runs]
        name = f"{item_bytes:,} B" + (f", sync {sync_replicas}" if sync_replicas else "")
        (p99_line,) = vs_rate.plot(rates, [r.lag_ms(0.99) for r in runs], "o-", label=f"p99, {name}")
        vs_rate.plot(rates, [r.lag_ms(0.5) for r in runs], "x--", color=p99_line.get_color(), label=f"p50, {name}")
        saturated = [r for r in runs if not r.kept_pace]
        vs_rate.plot([r.rate for r in saturated], [r.lag_ms(0.99) for r in saturated], "o", markersize=12,
                     markerfacecolor="none", color="red")
    vs_rate.plot([], [], "o", markersize=12, markerfacecolor="none", color="red", label="leader saturated")
    vs_rate.axhline(TARGET_P99_MS, color="grey", linestyle=":", label=f"target p99 {TARGET_P99_MS:g} ms")
    vs_rate.set(title="Follower lag against write rate", xlabel="offered writes/s", ylabel="lag, ms", yscale="log")
    vs_rate.legend(fontsize="small")
    for axes in (over_time, vs_rate):
        axes.yaxis.set_major_formatter(ScalarFormatter())
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _environment() -> dict:
    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "platform": platform.platform(), "load_average_at_end": os.getloadavg()}


# ---- main --------------------------------------------------------------------------


async def _run(args: argparse.Namespace) -> int:
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="replication-lag-") as workdir:
        settings = [_given_sync_replicas(args)] if args.leader else args.sync_replicas
        for sync_replicas in settings:
            nodes = _given_nodes(args) if args.leader else _start_cluster(Path(workdir), args, sync_replicas)
            try:
                leader = RawClient(nodes.leader_url)
                await _ensure_table(leader)
                leader.close()
                for item_bytes in args.item_sizes:
                    for rate in args.rates:
                        results.append(await _measure(nodes, sync_replicas, item_bytes, rate, args))
            finally:
                if nodes.cluster is not None:
                    nodes.cluster.stop()
    print(markdown(results))
    report = {"environment": _environment(), "settings": {k: str(v) for k, v in vars(args).items() if k != "run"},
              "results": [r.summary() for r in results]}
    write_json(args.out / "replication-lag.json", report)
    plot(results, args.out / "replication-lag.png")
    done(f"wrote {args.out / 'replication-lag.json'} and {args.out / 'replication-lag.png'}")
    return 0
