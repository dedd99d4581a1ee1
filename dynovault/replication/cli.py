"""Replication's part of the ``dynovault`` command: ``serve`` options, ``promote`` and
``cluster status``."""

from __future__ import annotations

import argparse
import asyncio
import socket
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import orjson

from dynovault import tls
from dynovault.errors import StartupError
from dynovault.replication.config import ReplicationConfig, Role
from dynovault.replication.coordinator import ClusterView, cluster_prefix
from dynovault.replication.etcd import EtcdClient, EtcdUnavailable, parse_endpoints
from dynovault.replication.identity import RoleConflict
from dynovault.replication.protocol import FOLLOW_PATH, PROMOTE_PATH
from dynovault.signing import PeerCredentials, first_credentials, load_credentials


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group("replication")
    group.add_argument("--role", choices=[r.value for r in Role],
                       help="leader or follower (default: the role the data directory had; a new one leads)")
    group.add_argument("--force-role", action="store_true",
                       help="start with a --role other than the data directory's (a follower's data started as "
                            "leader refuses writes until promoted)")
    group.add_argument("--leader", metavar="URL", help="the leader's URL, for --role follower")
    group.add_argument("--sync-replicas", type=int, default=0, metavar="K",
                       help="answer a write only after K followers applied it (default 0: asynchronous)")
    group.add_argument("--sync-timeout", type=float, default=5.0, metavar="SECONDS",
                       help="how long a write waits for its K acknowledgements before failing (default 5)")
    group.add_argument("--log-retention-bytes", type=int, default=256 * 1024 * 1024, metavar="BYTES",
                       help="keep at most this much replication log (default 256 MiB)")
    group.add_argument("--log-retention-seconds", type=float, default=24 * 3600.0, metavar="SECONDS",
                       help="drop log records older than this (default 86400)")
    group.add_argument("--peer-key", metavar="ACCESS_KEY_ID",
                       help="key of --credentials-file this node signs its requests to the leader with "
                            "(default: the file's first)")
    group.add_argument("--replication-scratch-dir", type=Path, metavar="DIR",
                       help="where checkpoints in transit are kept; must be on the data directory's volume "
                            "(default: beside the data directory)")
    group.add_argument("--checkpoints-at-once", type=int, default=2, metavar="N",
                       help="checkpoints the leader streams at the same time (default 2)")
    group.add_argument("--cluster", metavar="etcd://HOST:PORT[,HOST:PORT...]",
                       help="cluster mode: leadership is an etcd lease, roles and the leader come from etcd")
    group.add_argument("--cluster-name", default="dynovault", metavar="NAME",
                       help="the cluster's name in etcd (default dynovault)")
    group.add_argument("--advertise-url", metavar="URL",
                       help="this node's URL as the other nodes reach it (default: from --host and --port)")
    group.add_argument("--ack-log", type=Path, metavar="FILE",
                       help="append 'epoch LSN unix-time' for every write this node acknowledges")
    group.add_argument("--checkpoint-write-timeout", type=float, default=60.0, metavar="SECONDS",
                       help="drop a checkpoint download whose reader stops reading this long (default 60)")


def config_from(args: argparse.Namespace) -> ReplicationConfig:
    if args.cluster and (args.role or args.leader):
        raise RoleConflict("with --cluster, etcd decides who leads: --role and --leader are not given")
    if args.cluster:
        try:
            parse_endpoints(args.cluster)
        except ValueError as error:
            raise RoleConflict(f"--cluster: {error}") from None
    scheme = "https" if args.tls_cert else "http"
    return ReplicationConfig(
        role=Role(args.role) if args.role else None,
        force_role=args.force_role,
        leader_url=args.leader,
        node_name=f"{_reachable_host(args.host)}:{args.port}",
        sync_replicas=args.sync_replicas,
        sync_timeout=args.sync_timeout,
        retention_bytes=args.log_retention_bytes,
        retention_seconds=args.log_retention_seconds,
        credentials=_peer_credentials(args),
        scratch_dir=args.replication_scratch_dir,
        checkpoints_at_once=args.checkpoints_at_once,
        checkpoint_write_timeout=args.checkpoint_write_timeout,
        client_ssl=tls.client_context(args.tls_ca),
        cluster_url=args.cluster,
        cluster_name=args.cluster_name,
        advertise_url=(args.advertise_url or f"{scheme}://{_reachable_host(args.host)}:{args.port}").rstrip("/"),
        ack_log=args.ack_log,
    )


def _peer_credentials(args: argparse.Namespace) -> PeerCredentials | None:
    """The key this process signs its requests to other nodes with, from the same
    credentials file the cluster verifies signatures against."""
    if args.credentials_file is None:
        return None
    try:
        return first_credentials(load_credentials(args.credentials_file), args.region, args.peer_key)
    except (OSError, ValueError) as error:
        raise StartupError(f"credentials file: {error}") from None


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
    promote.add_argument("--credentials-file", type=Path,
                         help="the cluster's credentials file: admin calls are signed with a key from it")
    promote.add_argument("--peer-key", metavar="ACCESS_KEY_ID",
                         help="key of --credentials-file to sign with (default: the file's first)")
    promote.add_argument("--region", default="us-east-1", help="the cluster's --region (default us-east-1)")
    promote.add_argument("--tls-ca", type=Path, metavar="FILE", help="CA certificate the nodes' TLS certificates chain to")
    promote.set_defaults(run=promote_command)
    cluster = commands.add_parser("cluster", help="cluster mode: what etcd says about a cluster")
    actions = cluster.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="members, roles, epochs, applied LSNs and lag")
    status.add_argument("--cluster", required=True, metavar="etcd://HOST:PORT[,HOST:PORT...]")
    status.add_argument("--cluster-name", default="dynovault", metavar="NAME")
    status.set_defaults(run=cluster_status_command)


def cluster_status_command(args: argparse.Namespace) -> int:
    try:
        view = asyncio.run(read_cluster(parse_endpoints(args.cluster), args.cluster_name))
    except (ValueError, EtcdUnavailable) as error:
        print(f"dynovault cluster status: {error}", file=sys.stderr)
        return 1
    print("\n".join(describe_cluster(args.cluster_name, view)))
    return 0


async def read_cluster(endpoints: list[str], name: str) -> ClusterView:
    async with aiohttp.ClientSession() as session:
        prefix = cluster_prefix(name)
        return ClusterView.read(prefix, await EtcdClient(endpoints, session).range_prefix(prefix))


def describe_cluster(name: str, view: ClusterView) -> list[str]:
    """The lines ``dynovault cluster status`` prints."""
    leader = view.leader
    lines = [f"cluster {name}: " + (f"leader {leader['name']} ({leader['url']}), epoch {leader['epoch']}" if leader
                                     else f"no leader (last epoch {view.epoch})")]
    if view.acked:
        lines.append(f"acknowledged through LSN {view.acked['lsn']} of epoch {view.acked['epoch']}")
    reasons = {member["read_only"] for member in view.members.values() if member.get("read_only")}
    lines += [f"read-only: {reason}" for reason in sorted(reasons)]
    leader_lsn = view.members.get(leader["name"], {}).get("last_lsn") if leader else None
    rows = [("NAME", "URL", "ROLE", "EPOCH", "APPLIED LSN", "LAG", "STREAMING")]
    for member_name, member in sorted(view.members.items()):
        lag = "-" if leader_lsn is None else str(max(0, leader_lsn - member["last_lsn"]))
        streaming = "-" if member["role"] == Role.LEADER.value else ("yes" if member["connected"] else "no")
        rows.append((member_name, member["url"], member["role"], str(member["epoch"]), str(member["last_lsn"]),
                     lag, streaming))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return lines


def promote_command(args: argparse.Namespace) -> int:
    credentials = _peer_credentials(args)
    context = tls.client_context(args.tls_ca)
    new_leader = args.node.rstrip("/")
    status = post_json(new_leader + PROMOTE_PATH, {}, credentials, context)
    print(f"{new_leader}: {status['role']}, epoch {status['epoch']}, last LSN {status['last_lsn']}")
    for follower in args.followers:
        status = post_json(follower.rstrip("/") + FOLLOW_PATH, {"leader": new_leader}, credentials, context)
        print(f"{follower}: {status['role']} of {status.get('leader')}")
    return 0


def post_json(url: str, body: dict, credentials: PeerCredentials | None = None,
              context: ssl.SSLContext | None = None) -> dict:
    data = orjson.dumps(body)
    headers = {"Content-Type": "application/json"}
    if credentials is not None:
        headers = credentials.sign("POST", url, data, headers).headers
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as reply:
            return orjson.loads(reply.read())
    except urllib.error.HTTPError as error:
        print(f"dynovault promote: {url}: {error}: {error.read()[:1000].decode(errors='replace')}", file=sys.stderr)
        raise SystemExit(1) from None
    except urllib.error.URLError as error:
        print(f"dynovault promote: {url}: {error}", file=sys.stderr)
        raise SystemExit(1) from None
