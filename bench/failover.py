"""Failover on etcd: time from kill -9 of the leader to the first acknowledged write, writes
lost, and what the lease check costs a write.

Starts one etcd member and three ``dynovault serve --cluster`` nodes (sync mode,
``--sync-replicas``), then runs ``--writers`` clients that know every node (each puts
unique keys through whichever node answers, moving on when one refuses or does not
answer). Each round waits for a leader followed by both other nodes, kills it with
SIGKILL, and measures the time until any client next gets a write acknowledged; the
killed node is restarted before the next round. At the end every acknowledged key is
looked for on every node: a missing one is a lost write.

The cost of the lease: one client's sequential PutItem latency (p50/p99) on a static
leader with two followers and on a cluster-mode leader with two followers, with the same
``--sync-replicas``. In cluster mode a write checks the lease deadline before committing
and before answering, and in sync mode waits for etcd to record the acknowledged LSN.

Prints a markdown summary and writes ``failover.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

import boto3
from botocore.config import Config

from bench.progress import done, status
from bench.report import add_out_argument, write_json
from bench.workloads import create_table_request
from dynovault.testing.cluster import Cluster, ElectedCluster
from dynovault.testing.etcd import EtcdCluster
from dynovault.testing.processes import ServerProcess
from dynovault.testing.writers import AnyNodeWriter

TABLE = "bench.failover"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=20, help="leader kills (default 20)")
    parser.add_argument("--writers", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--sync-replicas", type=int, default=1, help="the nodes' --sync-replicas (default 1)")
    parser.add_argument("--latency-writes", type=int, default=2000,
                        help="sequential writes per latency measurement (default 2000)")
    add_out_argument(parser)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="dynovault-bench-failover-") as scratch:
        root = Path(scratch)
        etcd = EtcdCluster(root / "etcd").start()
        try:
            failovers, lost, acknowledged = _kill_rounds(root / "cluster", etcd.url, args)
            latency = _lease_cost(root, etcd.url, args)
        finally:
            etcd.stop()
    results = {
        "environment": {"machine": platform.machine(), "python": platform.python_version(),
                        "cpus": os.cpu_count()},
        "settings": {"rounds": args.rounds, "writers": args.writers, "sync_replicas": args.sync_replicas},
        "failover_seconds": failovers,
        "failover_p50_s": round(_percentile(failovers, 0.50), 3),
        "failover_p99_s": round(_percentile(failovers, 0.99), 3),
        "failover_max_s": round(max(failovers), 3),
        "acknowledged_writes": acknowledged,
        "lost_writes": lost,
        "write_latency_ms": latency,
    }
    write_json(args.out / "failover.json", results)
    print(_markdown(results))
    return 0


def _kill_rounds(root: Path, etcd_url: str, args: argparse.Namespace) -> tuple[list[float], int, int]:
    cluster = ElectedCluster(root, etcd_url, node_args=["--sync-replicas", str(args.sync_replicas),
                                                         "--sync-timeout", "10"]).start()
    stop = threading.Event()
    try:
        leader = cluster.wait_leader()
        _client(leader.url).create_table(**create_table_request(TABLE))
        writers = [AnyNodeWriter([node.url for node in cluster.nodes], TABLE, w, stop).start()
                   for w in range(args.writers)]
        failovers = []
        for round_number in range(1, args.rounds + 1):
            leader = cluster.wait_leader()
            _wait_progress(writers)
            killed_at = time.time()
            leader.kill()
            failovers.append(_first_ack_after(writers, killed_at, leader.url) - killed_at)
            status(f"round {round_number}/{args.rounds}: first acknowledged write {failovers[-1]:.2f} s after the kill")
            leader.start()
        done(f"{args.rounds} leader kills: p50 {_percentile(failovers, 0.5):.2f} s, max {max(failovers):.2f} s")
        stop.set()
        for writer in writers:
            writer.join()
        keys = {pk for writer in writers for pk, _, _ in writer.acknowledged}
        leader = cluster.wait_leader()
        lost = max(len(keys - _keys_on(node, keys)) for node in _caught_up(cluster, leader))
        return failovers, lost, len(keys)
    finally:
        stop.set()
        cluster.stop()


def _wait_progress(writers: list[AnyNodeWriter], writes: int = 50) -> None:
    before = sum(len(writer.acknowledged) for writer in writers)
    while sum(len(writer.acknowledged) for writer in writers) < before + writes:
        time.sleep(0.01)


def _first_ack_after(writers: list[AnyNodeWriter], instant: float, killed: str, timeout: float = 120.0) -> float:
    """When a node other than the killed one first answered a write after ``instant``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        later = [at for writer in writers for _, at, url in writer.acknowledged[-50:] if at > instant and url != killed]
        if later:
            return min(later)
        time.sleep(0.005)
    raise TimeoutError("no write acknowledged after the kill")


def _caught_up(cluster: ElectedCluster, leader: ServerProcess) -> list[ServerProcess]:
    target = cluster.statuses([leader])[leader.port]["last_lsn"]
    while any(status["last_lsn"] < target for status in cluster.statuses().values()):
        time.sleep(0.05)
    return cluster.nodes


def _keys_on(node: ServerProcess, keys: set[str]) -> set[str]:
    pages = _client(node.url).get_paginator("scan").paginate(TableName=TABLE, ProjectionExpression="pk")
    return {row["pk"]["S"] for page in pages for row in page["Items"]} & keys


def _lease_cost(root: Path, etcd_url: str, args: argparse.Namespace) -> dict:
    """Sequential PutItem latency on a static leader and on a cluster-mode leader."""
    sync = ["--sync-replicas", str(args.sync_replicas)]
    static = Cluster(root / "static", leader_args=sync).start()
    try:
        status("write latency: static leader")
        static_ms = _latency(static.leader, args.latency_writes)
    finally:
        static.stop()
    clustered = ElectedCluster(root / "latency", etcd_url, name="latency", node_args=sync).start()
    try:
        status("write latency: cluster-mode leader")
        cluster_ms = _latency(clustered.wait_leader(), args.latency_writes)
    finally:
        clustered.stop()
    done("write latency measured")
    return {"static": static_ms, "cluster": cluster_ms}


def _latency(leader: ServerProcess, writes: int) -> dict:
    client = _client(leader.url)
    client.create_table(**create_table_request(TABLE))
    item = {"pk": {"S": ""}, "pad": {"S": "x" * 1000}}
    for i in range(200):  # warm-up
        client.put_item(TableName=TABLE, Item={**item, "pk": {"S": f"warm{i}"}})
    samples = []
    for i in range(writes):
        started = time.perf_counter()
        client.put_item(TableName=TABLE, Item={**item, "pk": {"S": f"k{i}"}})
        samples.append((time.perf_counter() - started) * 1000)
    return {"p50": round(_percentile(samples, 0.50), 3), "p99": round(_percentile(samples, 0.99), 3),
            "mean": round(statistics.fmean(samples), 3)}


def _client(url: str):
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                        aws_secret_access_key="bench", config=Config(retries={"total_max_attempts": 1}, read_timeout=30))


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _markdown(results: dict) -> str:
    latency = results["write_latency_ms"]
    return "\n".join([
        "| leader kills | writers | sync K | failover p50 s | failover p99 s | max s | acknowledged | lost |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {results['settings']['rounds']} | {results['settings']['writers']} | {results['settings']['sync_replicas']} "
        f"| {results['failover_p50_s']:.2f} | {results['failover_p99_s']:.2f} | {results['failover_max_s']:.2f} "
        f"| {results['acknowledged_writes']:,} | {results['lost_writes']} |",
        "",
        "| PutItem, one client | p50 ms | p99 ms | mean ms |",
        "|---|---:|---:|---:|",
        *(f"| {name} leader | {row['p50']:.2f} | {row['p99']:.2f} | {row['mean']:.2f} |" for name, row in latency.items()),
    ])
