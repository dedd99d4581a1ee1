"""``python -m bench reads`` end to end at tiny sizes: it runs, every answer is a correct
page, and it writes its table, JSON and plot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from bench.reads import FILTERED_SCAN, QUERY


def test_reads_subcommand_runs_and_reports(tmp_path: Path) -> None:
    # Phases of 1.5 s: moto answers a Query of 100 in about a third of a second, so a
    # shorter phase can end before its first answer on a busy machine.
    finished = subprocess.run(
        [sys.executable, "-m", "bench", "reads", "--partitions", "1", "--moto-partitions", "1",
         "--scan-sizes", "1000", "2000", "--scan-walks", "1", "--duration", "1.5", "--warmup", "0.1",
         "--connections", "2", "--out", str(tmp_path)],
        check=False, capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1],
    )
    assert finished.returncode == 0, finished.stderr
    assert "| Query(page of 100) | dynovault |" in finished.stdout
    written = orjson.loads((tmp_path / "reads.json").read_bytes())
    measured = {(r["workload"], r["server"]) for r in written["results"]}
    assert measured == {(w, s) for w in (QUERY, FILTERED_SCAN) for s in ("dynovault", "moto", "ceiling")}
    assert all(r["saturation"]["errors"] == 0 and r["saturation"]["requests"] > 0 for r in written["results"])
    scan = next(r for r in written["results"] if (r["workload"], r["server"]) == (FILTERED_SCAN, "dynovault"))
    assert 0.08 <= scan["items_returned_per_request"] / scan["items_read_per_request"] <= 0.12
    assert [(s["server"], s["items"]) for s in written["full_scans"]] == [
        ("dynovault", 1000), ("dynovault", 2000), ("moto", 1000)]
    assert (tmp_path / "reads.png").stat().st_size > 0
