"""The load benchmark's results: a markdown table, JSON, a plot, and the issue's targets."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.loadgen import Measurement

DYNOVAULT, MOTO, CEILING = "dynovault", "moto", "ceiling"
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
SERVERS = (DYNOVAULT, MOTO, CEILING)
GET_ITEM, BATCH_GET = "GetItem", "BatchGetItem(100)"
MIN_SHARE_OF_CEILING = 0.5
MIN_TIMES_MOTO = 10.0
MAX_BATCH_GET_P99_MS = 5.0


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


def _format_ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×" if value < 10 else f"{value:.0f}×"


class Report:
    def __init__(self, environment: dict, settings: dict, results: list[Result]) -> None:
        self.environment = environment
        self.settings = settings
        self.results = results
        self._by_key = {(r.workload, r.server): r for r in results}

    def _throughput(self, workload: str, server: str) -> float:
        result = self._by_key.get((workload, server))
        return result.saturation.throughput if result else 0.0

    def vs(self, result: Result, other: str) -> float | None:
        """Throughput relative to ``other`` on the same workload; the ceiling answers a
        fixed 1 KB body, so it is a yardstick only for single-item requests."""
        if result.server == other or (CEILING in (other, result.server) and result.items_per_request > 1):
            return None
        return _ratio(result.saturation.throughput, self._throughput(result.workload, other))

    def _ratios(self, result: Result, other: str) -> tuple[float, float]:
        """Throughput and CPU-normalised throughput relative to ``other``. On a shared machine a
        server may get less than the core it could use; per CPU-second it is judged by the
        rate one full core would give it. A target is met only when both ratios meet it."""
        reference = self._by_key[(result.workload, other)]
        return (
            result.saturation.throughput / reference.saturation.throughput,
            per_cpu_second(result.saturation) / per_cpu_second(reference.saturation),
        )

    def targets(self) -> list[TargetCheck]:
        checks = []
        get_item = self._by_key.get((GET_ITEM, DYNOVAULT))
        if get_item and (GET_ITEM, CEILING) in self._by_key:
            share, efficiency = self._ratios(get_item, CEILING)
            checks.append(TargetCheck(
                f"GetItem throughput ≥ {MIN_SHARE_OF_CEILING:.0%} of the bare aiohttp ceiling",
                f"{share:.0%} by req/s, {efficiency:.0%} by req per server CPU-second",
                min(share, efficiency) >= MIN_SHARE_OF_CEILING))
        if get_item and (GET_ITEM, MOTO) in self._by_key:
            times, efficiency = self._ratios(get_item, MOTO)
            checks.append(TargetCheck(
                f"GetItem throughput ≥ {MIN_TIMES_MOTO:.0f}× moto",
                f"{_format_ratio(times)} by req/s, {_format_ratio(efficiency)} by req per server CPU-second",
                min(times, efficiency) >= MIN_TIMES_MOTO))
        batch = self._by_key.get((BATCH_GET, DYNOVAULT))
        if batch:
            p99 = batch.paced.percentile_ms(0.99)
            checks.append(TargetCheck(
                f"BatchGetItem(100) p99 ≤ {MAX_BATCH_GET_P99_MS:g} ms at {batch.paced_rate:,.0f} req/s",
                f"{p99:.2f} ms", p99 <= MAX_BATCH_GET_P99_MS))
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
            "| client CPU | vs ceiling | vs moto | paced req/s | p50 ms | p99 ms | errors |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.results:
            sat, paced = r.saturation, r.paced
            lines.append(
                f"| {r.workload} | {r.server} | {r.items_loaded:,} | {sat.throughput:,.0f} "
                f"| {sat.throughput * r.items_per_request:,.0f} "
                f"| {sat.server_cpu_seconds / sat.seconds:.2f} | {per_cpu_second(sat):,.0f} "
                f"| {sat.client_cpu_seconds / sat.seconds:.2f} "
                f"| {_format_ratio(self.vs(r, CEILING))} | {_format_ratio(self.vs(r, MOTO))} "
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
                    "vs_ceiling": self.vs(r, CEILING),
                    "vs_moto": self.vs(r, MOTO),
                    "paced_rate": round(r.paced_rate, 1),
                    "paced": r.paced.summary(),
                }
                for r in self.results
            ],
            "targets": [check.__dict__ for check in self.targets()],
        }

    def write(self, out: Path) -> None:
        write_json(out / "load.json", self.to_json())
        self.plot(out / "load.png")

    def plot(self, path: Path) -> None:
        plt = pyplot()

        workloads = list(dict.fromkeys(r.workload for r in self.results))
        figure, (throughput_axes, latency_axes) = plt.subplots(1, 2, figsize=(13, 4.8))
        width = 0.8 / len(SERVERS)
        for offset, server in enumerate(SERVERS):
            values = [self._throughput(w, server) for w in workloads]
            positions = [i + (offset - 1) * width for i in range(len(workloads))]
            bars = throughput_axes.bar(positions, values, width, label=server)
            throughput_axes.bar_label(bars, labels=[f"{v:,.0f}" if v else "" for v in values], fontsize=7)
        throughput_axes.set_yscale("log")
        throughput_axes.set_title("Saturated throughput (req/s, log scale)")
        throughput_axes.set_xticks(range(len(workloads)), workloads, fontsize=8)
        throughput_axes.legend(loc="upper right", fontsize=8)

        series = [(server, fraction) for server in (DYNOVAULT, MOTO) for fraction in (0.5, 0.99)]
        width = 0.8 / len(series)
        for offset, (server, fraction) in enumerate(series):
            values = []
            for workload in workloads:
                result = self._by_key.get((workload, server))
                latency = result.paced.percentile_ms(fraction) if result else math.nan
                values.append(latency)
            positions = [i + (offset - (len(series) - 1) / 2) * width for i in range(len(workloads))]
            bars = latency_axes.bar(positions, values, width, label=f"{server} p{fraction * 100:g}")
            latency_axes.bar_label(bars, labels=[f"{v:.1f}" for v in values], fontsize=7)
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
