"""``python -m bench failover`` end to end on a tiny run: it starts etcd and its nodes,
kills a leader, measures and writes its table and JSON (the numbers are not judged here,
beyond nothing acknowledged being lost)."""

from __future__ import annotations

import orjson
import pytest

from bench.cli import main
from dynovault.testing.etcd import etcd_available

pytestmark = pytest.mark.skipif(not etcd_available(), reason="etcd is not installed (Debian: etcd-server)")


def test_failover_bench_runs_and_reports(tmp_path, capsys):
    assert main(["failover", "--rounds", "1", "--writers", "2", "--latency-writes", "20", "--out", str(tmp_path)]) == 0
    assert "| leader kills | writers | sync K |" in capsys.readouterr().out
    report = orjson.loads((tmp_path / "failover.json").read_bytes())
    assert len(report["failover_seconds"]) == 1 and report["failover_seconds"][0] > 0
    assert report["lost_writes"] == 0
    assert set(report["write_latency_ms"]) == {"static", "cluster"}
