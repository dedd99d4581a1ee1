"""Batch ingest with change detection, against a real server, as the CLI runs it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import urllib3

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from dynovault.features.ddbclient import DynamoClient
from dynovault.features.definitions import Definitions, save
from dynovault.features.ingest import ingest, parquet_columns
from dynovault.testing.processes import ServerProcess

ROWS = 2000
DEFINITIONS = {
    "project": "batch",
    "feature_views": {
        "doc_stats": {
            "join_keys": {"doc_id": "STRING"},
            "features": {"views": "INT64", "quality": "DOUBLE", "lang": "STRING"},
        }
    },
}
START = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ingest")
    save(Definitions.from_json(DEFINITIONS), root / "features.json")
    server = ServerProcess(root / "data", extra_args=["--features", str(root / "features.json")]).start()
    yield server, root, Definitions.from_json(DEFINITIONS).feature_views["doc_stats"]
    server.stop()


def _table(views: list[int], when: datetime) -> dict[str, list]:
    return {
        "doc_id": [f"doc-{n}" for n in range(len(views))],
        "views": views,
        "quality": [n / 7 for n in range(len(views))],
        "lang": ["en" if n % 2 else "fr" for n in range(len(views))],
        "event_timestamp": [when] * len(views),
    }


def _write_parquet(path, columns: dict[str, list]) -> None:
    pq.write_table(pa.table(columns), path)


def _served_views(server, docs: list[str]) -> list:
    reply = urllib3.request("POST", server.url + "/get-online-features",
                            body=orjson.dumps({"features": ["doc_stats:views"], "entities": {"doc_id": docs}}))
    return orjson.loads(reply.data)["results"][1]["values"]


def test_second_ingest_writes_nothing_and_three_percent_changed_writes_exactly_those(setup):
    server, root, view = setup
    client = DynamoClient(server.url)
    base = list(range(ROWS))
    _write_parquet(root / "day1.parquet", _table(base, START))
    first = ingest(client, view, parquet_columns(root / "day1.parquet", batch_rows=700))
    assert (first.rows_read, first.rows_written, first.rows_skipped) == (ROWS, ROWS, 0)

    _write_parquet(root / "day1-again.parquet", _table(base, START + timedelta(hours=1)))
    again = ingest(client, view, parquet_columns(root / "day1-again.parquet"))
    assert (again.rows_read, again.rows_changed, again.rows_written, again.rows_skipped) == (ROWS, 0, 0, ROWS)

    changed_rows = set(range(0, ROWS, 33))  # 61 of 2000: about 3%
    day2 = [n + 1_000_000 if n in changed_rows else n for n in base]
    _write_parquet(root / "day2.parquet", _table(day2, START + timedelta(days=1)))
    second = ingest(client, view, parquet_columns(root / "day2.parquet", batch_rows=512))
    assert (second.rows_changed, second.rows_written, second.rows_skipped) == (
        len(changed_rows), len(changed_rows), ROWS - len(changed_rows))
    assert _served_views(server, [f"doc-{n}" for n in range(ROWS)]) == day2


def test_without_change_detection_everything_is_written(setup):
    server, root, view = setup
    _write_parquet(root / "small.parquet", _table(list(range(50)), START))
    report = ingest(DynamoClient(server.url), view, parquet_columns(root / "small.parquet"), detect_changes=False)
    assert (report.rows_read, report.rows_written) == (50, 50)


def test_the_latest_row_of_an_entity_wins_within_a_file(setup):
    server, root, view = setup
    columns = {
        "doc_id": ["dup", "dup", "dup"],
        "views": [1, 3, 2],
        "event_timestamp": [START, START + timedelta(hours=2), START + timedelta(hours=1)],
    }
    _write_parquet(root / "dups.parquet", columns)
    report = ingest(DynamoClient(server.url), view, parquet_columns(root / "dups.parquet"))
    assert (report.rows_read, report.rows_written, report.rows_skipped) == (3, 1, 2)
    assert _served_views(server, ["dup"]) == [3]


def test_cli_reports_counts_and_progress(setup):
    server, root, _ = setup
    _write_parquet(root / "cli.parquet", _table(list(range(10)), START))
    done = subprocess.run(
        [sys.executable, "-m", "dynovault", "features", "ingest", "--file", str(root / "cli.parquet"),
         "--feature-view", "doc_stats", "--definitions", str(root / "features.json"), "--endpoint", server.url],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = orjson.loads(done.stdout)
    assert summary["rows_read"] == 10 and summary["rows_written"] + summary["rows_skipped"] == 10
    assert "rows/s" in done.stderr


def test_items_other_writers_changed_are_compared_value_by_value(setup):
    """Feast's own writes carry no digest, and its UpdateItem keeps ours while changing
    values and event_ts: both must fall back to comparing the values themselves."""
    server, root, view = setup
    client = DynamoClient(server.url)
    columns = {"doc_id": ["w1", "w2", "w3"], "views": [1, 2, 3], "event_timestamp": [START] * 3}
    _write_parquet(root / "others.parquet", columns)
    assert ingest(client, view, parquet_columns(root / "others.parquet")).rows_written == 3
    stored = client.batch_get(view.table, [view.codec.entity_id([doc]) for doc in ("w1", "w2", "w3")])
    by_doc = {doc: stored[view.codec.entity_id([doc])] for doc in ("w1", "w2", "w3")}
    feast_like = {k: v for k, v in by_doc["w1"].items() if k != "dv_digest"}
    updated = {**by_doc["w2"], "event_ts": {"S": "2031-01-01 00:00:00+00:00"},
               "values": {"M": {"views": {"B": "IGM="}}}}  # views = 99, digest left behind
    client.batch_put(view.table, [feast_like, updated])
    report = ingest(client, view, parquet_columns(root / "others.parquet"))
    assert (report.rows_written, report.rows_skipped) == (1, 2)
    assert _served_views(server, ["w1", "w2", "w3"]) == [1, 2, 3]
