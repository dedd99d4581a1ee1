"""The Dash demo, as a newcomer runs it against a fresh server."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("pyarrow")

from dynovault.testing.processes import ServerProcess


def test_demo_loads_all_lanes_and_answers_a_ranking_request(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    try:
        argv = [sys.executable, "-m", "dynovault", "features", "demo", "--endpoint", server.url,
                "--definitions", str(tmp_path / "data" / "features.json"), "--users", "50", "--documents", "200"]
        first = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert first.returncode == 0, first.stderr
        assert "'rows_written': 200" in first.stdout
        assert "100 documents nearest the query" in first.stdout
        assert "66 pushes" in first.stdout and "100 scores written" in first.stdout
        assert '"IndexName":"by_title","TopK":100' in first.stdout
        assert '"feature_service":"dash_ranking"' in first.stdout
        assert '"statuses":["PRESENT","PRESENT","PRESENT"]' in first.stdout
        again = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert again.returncode == 0, again.stderr
        assert "'rows_written': 0, 'rows_skipped': 200" in again.stdout
    finally:
        server.stop()
