"""The batch lane as a PySpark job, for data that outgrows one machine.

The same change detection as ``ingest.py``: each partition turns its rows into Feast
items, reads what is stored (BatchGetItem) and writes only what differs (BatchWriteItem),
straight from the executors to the DynamoDB endpoint. Rows are first partitioned by their
join keys and sorted by event time, so every entity is handled by one task and its latest
row is written last.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from dynovault.features.ddbclient import DynamoClient
from dynovault.features.definitions import FeatureView
from dynovault.features.ingest import (
    CHUNK_ROWS,
    IngestReport,
    latest_per_entity,
    sync_chunk,
)
from dynovault.features.writes import TIMESTAMP_COLUMNS, feature_rows


def _partition_sync(view_json: dict, view_name: str, endpoint: str, region: str, detect_changes: bool):
    """The function each Spark task runs; it rebuilds the view from plain data, so only
    JSON-able values travel to the executors."""

    def sync(rows: Iterable[Any]) -> Iterator[tuple[int, int]]:
        view = FeatureView(name=view_name, **view_json)
        client = DynamoClient(endpoint, region)
        chunk: list[dict] = []
        for row in rows:
            chunk.append(row.asDict(recursive=True))
            if len(chunk) == CHUNK_ROWS:
                yield _sync_rows(client, view, chunk, detect_changes)
                chunk = []
        if chunk:
            yield _sync_rows(client, view, chunk, detect_changes)

    return sync


def _sync_rows(client: DynamoClient, view: FeatureView, records: list[dict], detect_changes: bool) -> tuple[int, int]:
    columns = {name: [record[name] for record in records] for name in records[0]}
    rows = latest_per_entity(feature_rows(view, columns))
    return len(records), sync_chunk(client, view.table, rows, detect_changes)


def ingest_dataframe(
    dataframe: Any,
    view: FeatureView,
    endpoint: str,
    region: str = "us-east-1",
    detect_changes: bool = True,
) -> IngestReport:
    """Sync a Spark DataFrame (join keys, features, optionally ``event_timestamp``) into
    ``view``'s table; counts are summed over all tasks."""
    started = time.monotonic()
    DynamoClient(endpoint, region).ensure_feast_table(view.table)
    columns = [name for name in dataframe.columns if name in view.join_keys or name in view.features
               or name in TIMESTAMP_COLUMNS]
    ordered = dataframe.select(*columns).repartition(*view.join_keys)
    stamp = next((name for name in TIMESTAMP_COLUMNS if name in columns), None)
    if stamp is not None:
        ordered = ordered.sortWithinPartitions(stamp)
    counts = ordered.rdd.mapPartitions(_partition_sync(view.to_json(), view.name, endpoint, region, detect_changes)).collect()
    report = IngestReport(
        rows_read=sum(read for read, _ in counts),
        rows_written=sum(written for _, written in counts),
    )
    report.rows_changed = report.rows_written
    report.rows_skipped = report.rows_read - report.rows_written
    report.seconds = time.monotonic() - started
    return report
