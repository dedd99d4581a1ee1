"""The batch lane as a PySpark job in local mode: the same change detection as the pyarrow lane."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import urllib3

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("PySpark needs Java", allow_module_level=True)

from pyspark.sql import SparkSession

from dynovault.features.definitions import Definitions, save
from dynovault.features.spark import ingest_dataframe
from dynovault.testing.processes import ServerProcess

ROWS = 300
DEFINITIONS = {
    "project": "spark",
    "feature_views": {
        "user_doc": {
            "join_keys": {"user_id": "INT64", "doc_id": "STRING"},
            "features": {"opens": "INT64", "score": "DOUBLE", "tags": "STRING_LIST"},
        }
    },
}
START = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark")
    save(Definitions.from_json(DEFINITIONS), root / "features.json")
    server = ServerProcess(root / "data", extra_args=["--features", str(root / "features.json")]).start()
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (SparkSession.builder.master("local[2]").appName("dynovault-test")
             .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false").getOrCreate())
    yield server, spark, Definitions.from_json(DEFINITIONS).feature_views["user_doc"]
    spark.stop()
    server.stop()


def _rows(opens: list[int], when: datetime) -> list[tuple]:
    return [(n % 30, f"doc-{n}", value, n / 8, [f"t{n % 3}"], when) for n, value in enumerate(opens)]


def _frame(spark, rows: list[tuple]):
    return spark.createDataFrame(rows, "user_id long, doc_id string, opens long, score double, "
                                       "tags array<string>, event_timestamp timestamp")


def _served(server, count: int) -> list:
    body = {"features": ["user_doc:opens"], "entities": {"user_id": [n % 30 for n in range(count)],
                                                         "doc_id": [f"doc-{n}" for n in range(count)]}}
    reply = urllib3.request("POST", server.url + "/get-online-features", body=orjson.dumps(body))
    return orjson.loads(reply.data)["results"][2]["values"]


def test_spark_job_detects_changes_like_the_local_lane(setup):
    server, spark, view = setup
    base = list(range(ROWS))
    first = ingest_dataframe(_frame(spark, _rows(base, START)), view, server.url)
    assert (first.rows_read, first.rows_written) == (ROWS, ROWS)
    again = ingest_dataframe(_frame(spark, _rows(base, START + timedelta(hours=1))), view, server.url)
    assert (again.rows_read, again.rows_written, again.rows_skipped) == (ROWS, 0, ROWS)
    changed = set(range(0, ROWS, 33))
    day2 = [n + 1000 if n in changed else n for n in base]
    second = ingest_dataframe(_frame(spark, _rows(day2, START + timedelta(days=1))), view, server.url)
    assert (second.rows_written, second.rows_skipped) == (len(changed), ROWS - len(changed))
    assert _served(server, ROWS) == day2


def test_the_latest_row_of_an_entity_wins_across_partitions(setup):
    server, spark, view = setup
    rows = [(1, "dup", opens, 0.0, [], START + timedelta(hours=hour)) for opens, hour in ((5, 3), (9, 7), (2, 1))]
    ingest_dataframe(_frame(spark, rows).repartition(3), view, server.url)
    reply = urllib3.request("POST", server.url + "/get-online-features", body=orjson.dumps(
        {"features": ["user_doc:opens"], "entities": {"user_id": [1], "doc_id": ["dup"]}}))
    assert orjson.loads(reply.data)["results"][2]["values"] == [9]


def test_cli_runs_the_spark_job(setup, tmp_path):
    server, spark, _ = setup
    _frame(spark, _rows([7, 8, 9], START)).write.parquet(str(tmp_path / "rows.parquet"))
    definitions = tmp_path / "features.json"
    save(Definitions.from_json(DEFINITIONS), definitions)
    done = subprocess.run(
        [sys.executable, "-m", "dynovault", "features", "ingest", "--spark", "local[1]", "--file",
         str(tmp_path / "rows.parquet"), "--feature-view", "user_doc", "--definitions", str(definitions),
         "--endpoint", server.url],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert orjson.loads(done.stdout.strip().splitlines()[-1])["rows_read"] == 3
    assert _served(server, 3) == [7, 8, 9]
