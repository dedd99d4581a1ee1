"""``python -m bench replication-lag`` end to end on a tiny run: it starts its servers,
measures, and writes its table, JSON and plot (what it measured is not judged here)."""

from __future__ import annotations

import orjson
import pytest

pytest.importorskip("matplotlib")

from bench.cli import main  # noqa: E402


def test_replication_lag_runs_and_reports(tmp_path, capsys):
    code = main([
        "replication-lag", "--followers", "1", "--rates", "50", "--sync-replicas", "0,1",
        "--duration", "0.5", "--warmup", "0.2", "--probe-rate", "20", "--out", str(tmp_path),
    ])
    assert code == 0
    table = capsys.readouterr().out
    assert "| sync K | item B | rate/s |" in table
    report = orjson.loads((tmp_path / "replication-lag.json").read_bytes())
    runs = report["results"]
    assert [(run["sync_replicas"], run["rate"], run["followers"]) for run in runs] == [(0, 50, 1), (1, 50, 1)]
    for run in runs:
        assert run["writes"]["errors"] == 0
        assert run["lag_ms"]["probes"] > 0
    assert (tmp_path / "replication-lag.png").stat().st_size > 0
