"""A leader and its followers as real ``dynovault serve`` processes, for the
replication tests and the replication-lag benchmark."""

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
