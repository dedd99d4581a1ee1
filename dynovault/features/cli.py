"""``dynovault features ...`` and the feature options of ``dynovault serve``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aiohttp import web

from dynovault.api.node import Node

DEFINITIONS_FILE = "features.json"


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--features",
        type=Path,
        help=f"feature definition file served by /get-online-features (default DATA_DIR/{DEFINITIONS_FILE}); "
        "re-read when it changes",
    )


def attach(app: web.Application, node: Node, args: argparse.Namespace) -> None:
    """Add the feature routes to the server being built by ``dynovault serve``."""
    from dynovault.features.http import add_routes

    add_routes(app, node, args.features or Path(args.data_dir) / DEFINITIONS_FILE)


def register(commands: argparse._SubParsersAction) -> None:
    features = commands.add_parser("features", help="feature-store layer: definitions, ingestion, demo")
    sub = features.add_subparsers(dest="features_command", required=True)

    sync = sub.add_parser("sync", help="write a definition file from a Feast repository's registry")
    sync.add_argument("--repo", required=True, type=Path, help="Feast repository (the folder of feature_store.yaml)")
    sync.add_argument(
        "--output", type=Path, default=Path(DEFINITIONS_FILE), help=f"definition file to write (default ./{DEFINITIONS_FILE})"
    )
    sync.set_defaults(run=_sync_command)


def _sync_command(args: argparse.Namespace) -> int:
    from dynovault.features.definitions import save
    from dynovault.features.sync import definitions_from_repo

    definitions = definitions_from_repo(args.repo)
    save(definitions, args.output)
    views = ", ".join(f"{v.name} ({len(v.features)} features)" for v in definitions.feature_views.values())
    print(f"wrote {args.output}: project {definitions.project}: {views or 'no feature views'}", file=sys.stderr)
    return 0
