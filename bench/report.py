"""The load benchmark's results: a markdown table, JSON, a plot, and the issue's targets."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.loadgen import Measurement

DYNOVAULT, MOTO, DYNALITE, MINIMAL, CEILING = "dynovault", "moto", "dynalite", "minimal", "ceiling"
# Untracked (.gitignore): a run never overwrites the results that bench/results/ keeps for the docs.
RESULTS_DIR = Path("bench-results")


def add_out_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help=f"output directory (default ./{RESULTS_DIR}, untracked)")


def write_json(path: Path, data: object) -> None:
    """A benchmark's results as indented JSON, its directory made if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))


def pyplot():
    """matplotlib's pyplot drawing to files only (no display on a server or in CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
GET_ITEM, BATCH_GET, PUT_ITEM, MIX = "GetItem", "BatchGetItem(100)", "PutItem", "90/10 get/put"
MAX_BATCH_GET_P99_MS = 5.0
MAX_STALENESS_P99_MS = 5.0
# Servers other than Dynovault that throughput is compared with, in the table's order.
YARDSTICKS = (CEILING, MINIMAL, DYNALITE, MOTO)


def dynovault_name(workers: int) -> str:
    """``dynovault`` for one process, ``dynovault-w2`` for ``--workers 2``."""
    return DYNOVAULT if workers == 1 else f"{DYNOVAULT}-w{workers}"


def histogram_summary(buckets: list[tuple[float, float]]) -> dict:
    """Count and p50/p99 bounds (the upper bound of the bucket holding them, ms) of a
    Prometheus histogram given as (le, cumulative count) pairs in ascending order."""
    total = buckets[-1][1] if buckets else 0.0

    def bound(fraction: float) -> float | None:
        for upper, count in buckets:
            if total and count >= fraction * total:
                return upper * 1000
        return None

    return {"count": total, "p50_le_ms": bound(0.5), "p99_le_ms": bound(0.99)}


@dataclass
class Result:
    """One workload on one server: saturated throughput and paced latency."""

    workload: str
    items_per_request: int
    server: str
    items_loaded: int
    saturation: Measurement
    paced_rate: float
    paced: Measurement


@dataclass(frozen=True)
class TargetCheck:
    description: str
    measured: str
    met: bool


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def per_cpu_second(measurement: Measurement) -> float:
    """Requests per CPU-second of the server: steadier than req/s on a shared machine."""
    return measurement.requests / measurement.server_cpu_seconds if measurement.server_cpu_seconds else 0.0


def _format_ms(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def _format_ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×" if value < 10 else f"{value:.0f}×"


class Report:
    def __init__(self, environment: dict, settings: dict, results: list[Result], staleness: dict | None = None) -> None:
        self.environment = environment
        self.settings = settings
        self.results = results
        self.staleness = staleness or {}
        self._by_key = {(r.workload, r.server): r for r in results}
        self.servers = list(dict.fromkeys(r.server for r in results))

    def _throughput(self, workload: str, server: str) -> float:
        result = self._by_key.get((workload, server))
        return result.saturation.throughput if result else 0.0

    def vs(self, result: Result, other: str) -> float | None:
        """Throughput relative to ``other`` on the same workload; the ceiling answers a
        fixed 1 KB body, so it is a yardstick only for single-item requests."""
        if result.server == other or (CEILING in (other, result.server) and result.items_per_request > 1):
            return None
        return _ratio(result.saturation.throughput, self._throughput(result.workload, other))

    def _check(self, checks: list[TargetCheck], description: str, workload: str, server: str, other: str,
               at_least: float) -> None:
        """A throughput target: ``server`` at ``at_least`` times ``other`` on ``workload``, by req/s
        in this run (req per server CPU-second is in the table)."""
        result, reference = self._by_key.get((workload, server)), self._by_key.get((workload, other))
        if result is None or reference is None or not reference.saturation.throughput:
            return
        ratio = result.saturation.throughput / reference.saturation.throughput
        checks.append(TargetCheck(description, f"{_format_ratio(ratio)} ({result.saturation.throughput:,.0f} "
                                  f"against {reference.saturation.throughput:,.0f} req/s)", ratio >= at_least))

    def targets(self) -> list[TargetCheck]:
        checks: list[TargetCheck] = []
        several = [server for server in self.servers if server.startswith(f"{DYNOVAULT}-w")]
        widest = several[-1] if several else DYNOVAULT
        self._check(checks, "GetItem, one process ≥ 0.55× the bare aiohttp ceiling", GET_ITEM, DYNOVAULT, CEILING, 0.55)
        if several:
            self._check(checks, f"GetItem, {widest} ≥ 0.9× the single-process ceiling", GET_ITEM, widest, CEILING, 0.9)
            self._check(checks, f"GetItem, {widest} ≥ 1.6× one process", GET_ITEM, widest, DYNOVAULT, 1.6)
        self._check(checks, f"GetItem, {widest} ≥ 2× dynalite", GET_ITEM, widest, DYNALITE, 2.0)
        self._check(checks, f"GetItem, {widest} ≥ 50× moto", GET_ITEM, widest, MOTO, 50.0)
        self._check(checks, "BatchGetItem(100), one process ≥ 0.8× the minimal server's items/s", BATCH_GET,
                    DYNOVAULT, MINIMAL, 0.8)
        batch = self._by_key.get((BATCH_GET, DYNOVAULT))
        if batch:
            p99 = batch.paced.percentile_ms(0.99)
            checks.append(TargetCheck(
                f"BatchGetItem(100) p99 ≤ {MAX_BATCH_GET_P99_MS:g} ms at {batch.paced_rate:,.0f} req/s",
                f"{p99:.2f} ms", p99 <= MAX_BATCH_GET_P99_MS))
        self._check(checks, "PutItem, one process ≥ 0.6× the minimal server", PUT_ITEM, DYNOVAULT, MINIMAL, 0.6)
        self._check(checks, "PutItem, one process ≥ 1.3× dynalite", PUT_ITEM, DYNOVAULT, DYNALITE, 1.3)
        if several:
            self._check(checks, f"PutItem, {widest} not slower than one process", PUT_ITEM, widest, DYNOVAULT, 1.0)
            self._check(checks, f"90/10 get/put, {widest} ≥ 1.2× one process", MIX, widest, DYNOVAULT, 1.2)
        for server, summary in self.staleness.items():
            p99 = summary.get("p99_le_ms")
            checks.append(TargetCheck(
                f"{server}: staleness of reader answers p99 ≤ {MAX_STALENESS_P99_MS:g} ms",
                f"p99 ≤ {_format_ms(p99)} ms, p50 ≤ {_format_ms(summary.get('p50_le_ms'))} ms over "
                f"{summary['count']:,.0f} catch-ups", p99 is not None and p99 <= MAX_STALENESS_P99_MS))
        return checks

    def preamble(self) -> str:
        env, settings = self.environment, self.settings
        return (
            f"Measured {env['started_utc']} on {env['cpus']} CPUs (load average at start "
            f"{' / '.join(map(str, env['load_average_at_start']))}), Python {env['python']}: "
            f"saturation with {settings['connections']} connections for {settings['duration']:g} s "
            f"after {settings['warmup']:g} s of warm-up; latency paced at the rate shown for "
            f"{settings['duration']:g} s. CPU is in cores (1.00 = one core busy)."
        )

    def markdown(self) -> str:
        lines = [
            self.preamble(),
            "",
            "| workload | server | items loaded | req/s | items/s | server CPU | req per server CPU-s "
            "| client CPU | " + " | ".join(f"vs {other}" for other in YARDSTICKS) + " | paced req/s | p50 ms "
            "| p99 ms | errors |",
            "|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(YARDSTICKS) + "---:|---:|---:|---:|",
        ]
        for r in self.results:
            sat, paced = r.saturation, r.paced
            lines.append(
                f"| {r.workload} | {r.server} | {r.items_loaded:,} | {sat.throughput:,.0f} "
                f"| {sat.throughput * r.items_per_request:,.0f} "
                f"| {sat.server_cpu_seconds / sat.seconds:.2f} | {per_cpu_second(sat):,.0f} "
                f"| {sat.client_cpu_seconds / sat.seconds:.2f} "
                f"| {' | '.join(_format_ratio(self.vs(r, other)) for other in YARDSTICKS)} "
                f"| {r.paced_rate:,.0f} | {paced.percentile_ms(0.5):.2f} | {paced.percentile_ms(0.99):.2f} "
                f"| {sat.errors + paced.errors} |"
            )
        lines.append("")
        lines.extend(
            f"- {'met' if check.met else 'MISSED'}: {check.description}: {check.measured}"
            for check in self.targets()
        )
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "environment": self.environment,
            "settings": self.settings,
            "results": [
                {
                    "workload": r.workload,
                    "server": r.server,
                    "items_loaded": r.items_loaded,
                    "items_per_request": r.items_per_request,
                    "saturation": r.saturation.summary(),
                    "requests_per_server_cpu_second": round(per_cpu_second(r.saturation), 1),
                    **{f"vs_{other}": self.vs(r, other) for other in YARDSTICKS},
                    "paced_rate": round(r.paced_rate, 1),
                    "paced": r.paced.summary(),
                }
                for r in self.results
            ],
            "reader_staleness": self.staleness,
            "targets": [check.__dict__ for check in self.targets()],
        }

    def write(self, out: Path) -> None:
        write_json(out / "load.json", self.to_json())
        self.plot(out / "load.png")

    def plot(self, path: Path) -> None:
        plt = pyplot()

        workloads = list(dict.fromkeys(r.workload for r in self.results))
        figure, (throughput_axes, latency_axes) = plt.subplots(1, 2, figsize=(13, 4.8))
        width = 0.8 / len(self.servers)
        for offset, server in enumerate(self.servers):
            values = [self._throughput(w, server) for w in workloads]
            positions = [i + (offset - (len(self.servers) - 1) / 2) * width for i in range(len(workloads))]
            bars = throughput_axes.bar(positions, values, width, label=server)
            throughput_axes.bar_label(bars, labels=[f"{v:,.0f}" if v else "" for v in values], fontsize=5,
                                      rotation=90)
        throughput_axes.set_yscale("log")
        throughput_axes.set_title("Saturated throughput (req/s, log scale)")
        throughput_axes.set_xticks(range(len(workloads)), workloads, fontsize=8)
        throughput_axes.legend(loc="upper right", fontsize=8)

        series = [(server, 0.99) for server in self.servers if server != CEILING]
        width = 0.8 / len(series)
        for offset, (server, fraction) in enumerate(series):
            values = []
            for workload in workloads:
                result = self._by_key.get((workload, server))
                latency = result.paced.percentile_ms(fraction) if result else math.nan
                values.append(latency)
            positions = [i + (offset - (len(series) - 1) / 2) * width for i in range(len(workloads))]
            bars = latency_axes.bar(positions, values, width, label=f"{server} p{fraction * 100:g}")
            latency_axes.bar_label(bars, labels=[f"{v:.1f}" for v in values], fontsize=5, rotation=90)
        latency_axes.set_yscale("log")
        latency_axes.set_title("Latency at a fixed moderate rate (ms, log scale)")
        latency_axes.set_xticks(range(len(workloads)), workloads, fontsize=8)
        latency_axes.legend(fontsize=8)
        figure.suptitle(
            f"python -m bench load, {self.environment.get('cpus')} CPUs, {self.environment.get('started_utc')}"
        )
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
