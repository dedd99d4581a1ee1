"""Replication's part of the ``dynovault`` command: ``serve`` options and ``promote``."""

from __future__ import annotations

import argparse
import socket
import sys
import urllib.error
import urllib.request

import orjson

from dynovault.replication.config import ReplicationConfig, Role
from dynovault.replication.protocol import FOLLOW_PATH, PROMOTE_PATH


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group("replication")
    group.add_argument("--role", choices=[r.value for r in Role], default=Role.LEADER.value,
                       help="leader (default; also a standalone server) or follower")
    group.add_argument("--leader", metavar="URL", help="the leader's URL, for --role follower")
    group.add_argument("--sync-replicas", type=int, default=0, metavar="K",
                       help="answer a write only after K followers applied it (default 0: asynchronous)")
    group.add_argument("--sync-timeout", type=float, default=5.0, metavar="SECONDS",
                       help="how long a write waits for its K acknowledgements before failing (default 5)")
    group.add_argument("--log-retention-bytes", type=int, default=256 * 1024 * 1024, metavar="BYTES",
                       help="keep at most this much replication log (default 256 MiB)")
    group.add_argument("--log-retention-seconds", type=float, default=24 * 3600.0, metavar="SECONDS",
                       help="drop log records older than this (default 86400)")


def config_from(args: argparse.Namespace) -> ReplicationConfig:
    if args.role == Role.FOLLOWER.value and not args.leader:
        raise SystemExit("dynovault serve: --role follower needs --leader URL")
    return ReplicationConfig(
        role=Role(args.role),
        leader_url=args.leader,
        node_name=f"{_reachable_host(args.host)}:{args.port}",
        sync_replicas=args.sync_replicas,
        sync_timeout=args.sync_timeout,
        retention_bytes=args.log_retention_bytes,
        retention_seconds=args.log_retention_seconds,
    )


def _reachable_host(host: str) -> str:
    """The host part of this node's name: a wildcard address would name every follower
    that listens on the same port alike, so it becomes the machine's name."""
    return socket.gethostname() if host in ("0.0.0.0", "::", "") else host


def register(commands: argparse._SubParsersAction) -> None:
    promote = commands.add_parser(
        "promote",
        help="make a follower the leader (new epoch) and re-point other followers to it",
    )
    promote.add_argument("node", metavar="URL", help="the follower to promote")
    promote.add_argument("--followers", nargs="*", default=[], metavar="URL",
                         help="other nodes to re-point to the new leader")
    promote.set_defaults(run=promote_command)


def promote_command(args: argparse.Namespace) -> int:
    new_leader = args.node.rstrip("/")
    status = post_json(new_leader + PROMOTE_PATH, {})
    print(f"{new_leader}: {status['role']}, epoch {status['epoch']}, last LSN {status['last_lsn']}")
    for follower in args.followers:
        status = post_json(follower.rstrip("/") + FOLLOW_PATH, {"leader": new_leader})
        print(f"{follower}: {status['role']} of {status.get('leader')}")
    return 0


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return orjson.loads(reply.read())
    except urllib.error.URLError as error:
        print(f"dynovault promote: {url}: {error}", file=sys.stderr)
        raise SystemExit(1) from None
