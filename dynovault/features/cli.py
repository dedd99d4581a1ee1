"""``dynovault features ...`` and the feature options of ``dynovault serve``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dynovault.features.definitions import FeatureView
    from dynovault.features.ingest import IngestReport

DEFINITIONS_FILE = "features.json"


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--features",
        type=Path,
        help=f"feature definition file served by /get-online-features (default DATA_DIR/{DEFINITIONS_FILE}); "
        "re-read when it changes",
    )


def definitions_path(args: argparse.Namespace) -> Path:
    """The definition file ``dynovault serve`` serves features from."""
    return args.features or Path(args.data_dir) / DEFINITIONS_FILE


def register(commands: argparse._SubParsersAction) -> None:
    features = commands.add_parser("features", help="feature-store layer: definitions, ingestion, demo")
    sub = features.add_subparsers(dest="features_command", required=True)

    sync = sub.add_parser("sync", help="write a definition file from a Feast repository's registry")
    sync.add_argument("--repo", required=True, type=Path, help="Feast repository (the folder of feature_store.yaml)")
    sync.add_argument(
        "--output", type=Path, default=Path(DEFINITIONS_FILE), help=f"definition file to write (default ./{DEFINITIONS_FILE})"
    )
    sync.set_defaults(run=_sync_command)

    ingest = sub.add_parser("ingest", help="batch-load a Parquet file into a feature view, writing only changed rows")
    ingest.add_argument("--file", required=True, type=Path, help="Parquet file: join keys, features, event_timestamp")
    ingest.add_argument("--feature-view", required=True)
    ingest.add_argument("--definitions", type=Path, default=Path(DEFINITIONS_FILE), help="definition file")
    ingest.add_argument("--endpoint", default="http://127.0.0.1:8000", help="Dynovault (or any DynamoDB) endpoint")
    ingest.add_argument("--region", default="us-east-1")
    ingest.add_argument("--concurrency", type=int, default=4, help="chunks in flight (default 4)")
    ingest.add_argument(
        "--no-change-detection", action="store_true", help="write every row, without reading what is stored"
    )
    ingest.add_argument(
        "--spark",
        metavar="MASTER",
        help="run as a PySpark job on this master (e.g. local[*]); needs pyspark and Java",
    )
    ingest.set_defaults(run=_ingest_command)

    reader = sub.add_parser(
        "serve", help="serve /get-online-features in a process of its own, reading a node's data directory"
    )
    reader.add_argument("--data-dir", required=True, type=Path, help="the data directory of a running node")
    reader.add_argument("--features", type=Path, help=f"definition file (default DATA_DIR/{DEFINITIONS_FILE})")
    reader.add_argument("--host", default="127.0.0.1")
    reader.add_argument("--port", default=6566, type=int, help="default 6566, Feast's feature-server port")
    reader.add_argument("--refresh", default=0.1, type=float, help="seconds between catch-ups with the node")
    reader.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    reader.set_defaults(run=_reader_command)

    demo = sub.add_parser("demo", help="load a Dash-like ranking dataset through all three lanes and query it")
    demo.add_argument("--endpoint", default="http://127.0.0.1:8000", help="a running 'dynovault serve'")
    demo.add_argument(
        "--definitions",
        type=Path,
        default=Path("data") / DEFINITIONS_FILE,
        help=f"the server's definition file, overwritten with the demo's (default data/{DEFINITIONS_FILE})",
    )
    demo.add_argument("--users", type=int, default=500)
    demo.add_argument("--documents", type=int, default=5000)
    demo.add_argument("--candidates", type=int, default=100,
                      help="documents retrieved for the example ranking request (at most 100, SearchVectors' TopK)")
    demo.add_argument("--show", type=int, default=3, help="candidates printed from the response")
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(run=_demo_command)


def _ingest_command(args: argparse.Namespace) -> int:
    import orjson

    from dynovault.features.ddbclient import DynamoClient
    from dynovault.features.definitions import load
    from dynovault.features.ingest import Progress, ingest, parquet_columns

    view = load(args.definitions).feature_views.get(args.feature_view)
    if view is None:
        raise SystemExit(f"{args.definitions} defines no feature view {args.feature_view!r}")
    if args.spark:
        report = _spark_ingest(args, view)
        print(orjson.dumps(report.summary()).decode())
        return 0
    report = ingest(
        DynamoClient(args.endpoint, args.region),
        view,
        parquet_columns(args.file),
        detect_changes=not args.no_change_detection,
        concurrency=args.concurrency,
        progress=Progress(),
    )
    print(orjson.dumps(report.summary()).decode())
    return 0


def _reader_command(args: argparse.Namespace) -> int:
    from dynovault.features.reader import serve

    definitions = args.features or args.data_dir / DEFINITIONS_FILE
    return serve(args.data_dir, definitions, args.host, args.port, args.refresh, args.log_level)


def _demo_command(args: argparse.Namespace) -> int:
    from dynovault.features import demo

    example = demo.run(args.endpoint, args.definitions, args.users, args.documents, args.candidates, args.seed)
    print()
    print(demo.show(example, args.show))
    return 0


def _spark_ingest(args: argparse.Namespace, view: FeatureView) -> IngestReport:
    from pyspark.sql import SparkSession

    from dynovault.features.spark import ingest_dataframe

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master(args.spark).appName("dynovault-features-ingest")
             .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    try:
        return ingest_dataframe(spark.read.parquet(str(args.file)), view, args.endpoint, args.region,
                                detect_changes=not args.no_change_detection)
    finally:
        spark.stop()


def _sync_command(args: argparse.Namespace) -> int:
    from dynovault.features.definitions import save
    from dynovault.features.sync import definitions_from_repo

    definitions = definitions_from_repo(args.repo)
    save(definitions, args.output)
    views = ", ".join(f"{v.name} ({len(v.features)} features)" for v in definitions.feature_views.values())
    print(f"wrote {args.output}: project {definitions.project}: {views or 'no feature views'}", file=sys.stderr)
    return 0
