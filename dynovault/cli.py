"""The ``dynovault`` command."""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

import uvloop
from aiohttp import web

from dynovault import logs
from dynovault.api.auth import authenticator_for
from dynovault.app import NodeSettings, serving_app
from dynovault.features import cli as features_cli
from dynovault.replication import cli as replication_cli


def _serve_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="run the DynamoDB-compatible server")
    serve.add_argument("--data-dir", default="./data", type=Path, help="RocksDB directory (default ./data)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", default=8000, type=int)
    serve.add_argument("--region", default="us-east-1", help="region reported in table ARNs")
    serve.add_argument(
        "--credentials-file",
        type=Path,
        help="file of 'ACCESS_KEY_ID SECRET_ACCESS_KEY' lines; when given, SigV4 signatures are verified",
    )
    serve.add_argument(
        "--fsync",
        action="store_true",
        help="fsync the WAL on every write (default: WAL written, fsync left to the OS)",
    )
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    features_cli.add_serve_options(serve)
    replication_cli.add_serve_options(serve)
    serve.set_defaults(run=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    logs.configure(args.log_level)
    app = serving_app(
        NodeSettings(
            data_dir=args.data_dir,
            fsync=args.fsync,
            region=args.region,
            address=f"{args.host}:{args.port}",
            features=features_cli.definitions_path(args),
            replication=replication_cli.config_from(args),
            authenticate=authenticator_for(args.credentials_file),
        )
    )
    print(
        f"dynovault listening on http://{args.host}:{args.port} (data: {args.data_dir})",
        file=sys.stderr,
        flush=True,
    )
    # What startup built lives as long as the process: frozen, it stays out of the
    # collector's full passes, whose pauses would otherwise land in request latency.
    gc.collect()
    gc.freeze()
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None, loop=uvloop.new_event_loop())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dynovault", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _serve_parser(commands)
    features_cli.register(commands)
    replication_cli.register(commands)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
