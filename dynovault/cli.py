"""The ``dynovault`` command."""

from __future__ import annotations

import argparse
import gc
import ipaddress
import ssl
import sys
from pathlib import Path

from dynovault import logs, serving, tls, workers
from dynovault.api.auth import authenticator_for
from dynovault.api.connections import ConnectionLimits
from dynovault.app import NodeSettings, serving_app
from dynovault.errors import StartupError
from dynovault.backups import cli as backups_cli
from dynovault.features import cli as features_cli
from dynovault.replication import cli as replication_cli
from dynovault.replication.identity import RoleConflict
from dynovault.storage.streams import DEFAULT_SHARD_LIMITS, ShardLimits
from dynovault.storage.vectors import DEFAULT_EXACT_LIMIT


def _serve_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="run the DynamoDB-compatible server")
    serve.add_argument("--data-dir", default="./data", type=Path, help="RocksDB directory (default ./data)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", default=8000, type=int)
    serve.add_argument(
        "--region", default="us-east-1",
        help="region reported in table ARNs; with --credentials-file, the region signatures must be scoped to",
    )
    serve.add_argument("--allowed-regions", nargs="+", default=[], metavar="REGION",
                       help="further regions a signature's scope may name")
    serve.add_argument(
        "--credentials-file",
        type=Path,
        help="file of 'ACCESS_KEY_ID SECRET_ACCESS_KEY' lines; when given, SigV4 signatures are verified "
             "on every endpoint but /health",
    )
    serve.add_argument("--open-metrics", action="store_true",
                       help="with --credentials-file, serve /metrics to unsigned scrapes too")
    serve.add_argument("--tls-cert", type=Path, metavar="FILE", help="serve HTTPS with this certificate chain")
    serve.add_argument("--tls-key", type=Path, metavar="FILE", help="the private key of --tls-cert")
    serve.add_argument("--tls-ca", type=Path, metavar="FILE",
                       help="CA certificate the leader's certificate chains to, for a follower's connections")
    serve.add_argument(
        "--fsync",
        action="store_true",
        help="fsync the WAL on every write (default: WAL written, fsync left to the OS)",
    )
    serve.add_argument("--ttl-interval", default=1.0, type=_positive_seconds, metavar="SECONDS",
                       help="seconds between the leader's passes deleting items whose TTL passed (default 1)")
    serve.add_argument("--vector-exact-limit", default=DEFAULT_EXACT_LIMIT, type=int, metavar="VECTORS",
                       help="vector index partitions up to this size are searched exactly, larger ones "
                       f"through an HNSW graph (default {DEFAULT_EXACT_LIMIT})")
    serve.add_argument("--stream-shard-records", default=DEFAULT_SHARD_LIMITS.records, type=int, metavar="N",
                       help="records after which a stream's shard closes and a child opens (default "
                            f"{DEFAULT_SHARD_LIMITS.records}; shards also close after 4 hours); the same on every node")
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--workers", default=1, type=_workers, metavar="N",
        help="processes serving the port: one writer and N-1 readers answering eventually consistent reads "
             "(auto: one per usable core; default 1, which keeps eventually consistent reads read-your-writes)",
    )
    # How the writer of --workers N starts its readers.
    serve.add_argument("--reader-of", type=Path, help=argparse.SUPPRESS)
    serve.add_argument("--reader-index", type=int, default=0, help=argparse.SUPPRESS)
    _connection_options(serve)
    features_cli.add_serve_options(serve)
    backups_cli.add_serve_options(serve)
    replication_cli.add_serve_options(serve)
    serve.set_defaults(run=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    """Checks what needs no socket, binds the port, opens the node, then says it listens:
    a failure at any step is one line (``main``) and exit status 2."""
    logs.configure(args.log_level)
    if (args.tls_cert is None) != (args.tls_key is None):
        raise StartupError("--tls-cert and --tls-key go together")
    ssl_context = _tls_context(args)
    settings = _node_settings(args)
    limits = ConnectionLimits(
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        idle_timeout=args.idle_timeout,
        max_connections=args.max_connections,
    )
    if args.reader_of is not None:
        workers.serve_reader(settings, args.host, args.port, args.reader_of, args.reader_index, ssl_context, limits)
        return 0
    sock = serving.bind(args.host, args.port, reuse_port=args.workers > 1)
    if args.credentials_file is None and not _loopback(args.host):
        serving.say(
            f"dynovault: WARNING: listening on {args.host} without --credentials-file: "
            "anyone who can reach this port can read and write every table"
        )
    writer_socket = None
    try:
        if args.workers > 1:
            app, writer_socket = workers.writer_app(settings, args.workers)
        else:
            app = serving_app(settings)
    except RoleConflict as conflict:
        raise StartupError(f"{args.data_dir}: {conflict}") from None
    scheme = "https" if ssl_context else "http"
    announcement = (
        f"dynovault listening on {scheme}://{args.host}:{args.port} (data: {args.data_dir}, "
        f"{args.workers} worker{'s' if args.workers > 1 else ''})"
    )
    # What startup built lives as long as the process: frozen, it stays out of the
    # collector's full passes, whose pauses would otherwise land in request latency.
    gc.collect()
    gc.freeze()
    serving.run(
        app,
        sock,
        serving.Serving(limits=limits, ssl_context=ssl_context, shutdown_timeout=args.shutdown_timeout,
                        unix_path=writer_socket),
        lambda: serving.say(announcement),
    )
    return 0


def _tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if args.tls_cert is None:
        return None
    try:
        return tls.server_context(args.tls_cert, args.tls_key)
    except (OSError, ssl.SSLError) as error:
        raise StartupError(f"TLS certificate or key: {error}") from None


def _connection_options(serve: argparse.ArgumentParser) -> None:
    defaults = ConnectionLimits()
    group = serve.add_argument_group("connections")
    group.add_argument("--header-timeout", default=defaults.header_timeout, type=_positive_seconds, metavar="SECONDS",
                       help="a request head must arrive within this many seconds of its first byte "
                            f"(default {defaults.header_timeout:g}); else 408 and the connection closes")
    group.add_argument("--body-timeout", default=defaults.body_timeout, type=_positive_seconds, metavar="SECONDS",
                       help="the longest a request body may stall (default "
                            f"{defaults.body_timeout:g}); else 408 and the connection closes")
    group.add_argument("--idle-timeout", default=defaults.idle_timeout, type=_positive_seconds, metavar="SECONDS",
                       help=f"close a keep-alive connection idle this long (default {defaults.idle_timeout:g})")
    group.add_argument("--max-connections", default=defaults.max_connections, type=_positive_int, metavar="N",
                       help="connections served at once; more are answered 503 ServiceUnavailable and closed "
                            f"(default {defaults.max_connections})")
    group.add_argument("--shutdown-timeout", default=serving.Serving.shutdown_timeout, type=_positive_seconds,
                       metavar="SECONDS", help="on SIGTERM, how long requests in flight may take to finish "
                                               f"(default {serving.Serving.shutdown_timeout:g})")


def _positive_int(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return number


def _workers(text: str) -> int:
    count = workers.usable_cores() if text == "auto" else int(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (or auto), not {text}")
    return count


def _node_settings(args: argparse.Namespace) -> NodeSettings:
    return NodeSettings(
        data_dir=args.data_dir,
        fsync=args.fsync,
        region=args.region,
        address=f"{args.host}:{args.port}",
        features=features_cli.definitions_path(args),
        replication=replication_cli.config_from(args),
        authenticate=authenticator_for(args.credentials_file, frozenset({args.region, *args.allowed_regions})),
        open_metrics=args.open_metrics,
        ttl_interval=args.ttl_interval,
        archives=backups_cli.archives_from(args),
        pitr_snapshot_interval=args.pitr_snapshot_interval,
        vector_exact_limit=args.vector_exact_limit,
        shard_limits=ShardLimits(records=args.stream_shard_records),
    )


def _positive_seconds(text: str) -> float:
    seconds = float(text)
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return seconds


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dynovault", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _serve_parser(commands)
    features_cli.register(commands)
    replication_cli.register(commands)
    backups_cli.register(commands)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except StartupError as error:
        print(f"dynovault {args.command}: {error}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
