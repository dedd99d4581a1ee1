"""A leader and its followers as real ``dynovault serve`` processes, for the
replication tests and the replication-lag benchmark; and nodes in cluster mode, whose
leader etcd elects."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from dynovault.signing import PeerCredentials
from dynovault.testing.processes import ServerProcess


def get_json(url: str, credentials: PeerCredentials | None = None) -> dict:
    """GET a JSON endpoint, SigV4-signed when ``credentials`` are given."""
    headers = credentials.sign("GET", url).headers if credentials else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as reply:
        return orjson.loads(reply.read())


def post_json(url: str, body: dict, credentials: PeerCredentials | None = None) -> dict:
    data = orjson.dumps(body)
    headers = {"Content-Type": "application/json"}
    if credentials is not None:
        headers = credentials.sign("POST", url, data, headers).headers
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as reply:
        return orjson.loads(reply.read())


def replication_status(server: ServerProcess, credentials: PeerCredentials | None = None) -> dict:
    return get_json(server.url + "/replication/status", credentials)


@dataclass
class Cluster:
    """``leader`` and ``followers`` share ``root``; each keeps its port across restarts."""

    root: Path
    follower_count: int = 2
    leader_args: list[str] = field(default_factory=list)
    follower_args: list[str] = field(default_factory=list)
    # Signs status requests when the nodes verify signatures.
    credentials: PeerCredentials | None = None
    leader: ServerProcess | None = None
    followers: list[ServerProcess] = field(default_factory=list)

    def start(self) -> Cluster:
        self.root.mkdir(parents=True, exist_ok=True)
        self.leader = ServerProcess(self.root / "leader", self.leader_args).start()
        self.followers = [self.start_follower(f"follower{i}") for i in range(1, self.follower_count + 1)]
        return self

    def start_follower(self, name: str) -> ServerProcess:
        args = ["--role", "follower", "--leader", self.leader.url, *self.follower_args]
        return ServerProcess(self.root / name, args).start()

    @property
    def nodes(self) -> list[ServerProcess]:
        return [self.leader, *self.followers]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def wait_caught_up(self, timeout: float = 60.0, followers: list[ServerProcess] | None = None) -> int:
        """Wait until every follower applied the leader's last LSN; return that LSN."""
        deadline = time.monotonic() + timeout
        while True:
            target = replication_status(self.leader, self.credentials)["last_lsn"]
            applied = [_applied_lsn(f, self.credentials) for f in followers or self.followers]
            if all(lsn == target for lsn in applied):
                return target
            if time.monotonic() > deadline:
                raise TimeoutError(f"followers at {applied}, leader at {target}")
            time.sleep(0.05)


def _applied_lsn(follower: ServerProcess, credentials: PeerCredentials | None) -> int | None:
    try:
        status = replication_status(follower, credentials)
    except (urllib.error.URLError, OSError):
        return None
    return status["last_lsn"] if status.get("connected") else None


@dataclass
class ElectedCluster:
    """``size`` nodes in cluster mode on an etcd (``etcd_url``, e.g. an ``EtcdCluster``'s),
    each keeping its port, data directory and acknowledgement log across restarts."""

    root: Path
    etcd_url: str
    size: int = 3
    node_args: list[str] = field(default_factory=list)
    name: str = "test"
    # Signs status requests when the nodes verify signatures.
    credentials: PeerCredentials | None = None
    nodes: list[ServerProcess] = field(default_factory=list)

    def start(self) -> ElectedCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        self.nodes = [
            ServerProcess(self.root / f"node{i}", ["--cluster", self.etcd_url, "--cluster-name", self.name,
                                                   "--ack-log", str(self.root / f"node{i}.acks"), *self.node_args])
            for i in range(self.size)
        ]
        for node in self.nodes:
            node.start()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def statuses(self, nodes: list[ServerProcess] | None = None) -> dict[int, dict]:
        """The status of every node that answers, by port."""
        found = {}
        for node in nodes or self.nodes:
            try:
                found[node.port] = replication_status(node, self.credentials)
            except (urllib.error.URLError, OSError):
                continue
        return found

    def wait_leader(self, among: list[ServerProcess] | None = None, timeout: float = 60.0) -> ServerProcess:
        """The node holding the leader lease once every other live node follows it."""
        among = among or [node for node in self.nodes if node.process and node.process.poll() is None]
        deadline = time.monotonic() + timeout
        while True:
            statuses = self.statuses(among)
            leaders = [node for node in among if statuses.get(node.port, {}).get("holds_leader_lease")]
            if len(leaders) == 1 and all(
                status.get("leader") == leaders[0].url and status.get("connected")
                for port, status in statuses.items() if port != leaders[0].port
            ) and len(statuses) == len(among):
                return leaders[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no single leader followed by every node: {statuses}")
            time.sleep(0.05)

    def acknowledgements(self) -> list[tuple[int, int, float, int]]:
        """Every node's acknowledgement log as (epoch, LSN, time, node index)."""
        found = []
        for index in range(self.size):
            path = self.root / f"node{index}.acks"
            if path.exists():
                for line in path.read_text().splitlines():
                    epoch, lsn, at = line.split()
                    found.append((int(epoch), int(lsn), float(at), index))
        return found
