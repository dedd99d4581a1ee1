"""Real etcd processes on free ports (Debian's ``etcd-server`` package), one node or a
cluster of several, for cluster-mode tests and benchmarks.

Each member keeps its data in a fresh directory, on ``/dev/shm`` when the machine has
it: etcd fsyncs every write, and a test machine's disk shared by several jobs can stall
an fsync for longer than a node's lease.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from dynovault.testing.processes import ChildServer, free_port

ETCD = "etcd"


def etcd_available() -> bool:
    return shutil.which(ETCD) is not None


@dataclass
class EtcdProcess(ChildServer):
    """One etcd member; ``initial_cluster`` names every member's peer URL."""

    name: str
    log_dir: Path
    peer_port: int = 0
    initial_cluster: str = ""
    data_dir: Path | None = None
    ready_path: str = field(default="/health", kw_only=True)

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def argv(self) -> list[str]:
        return [
            ETCD, "--name", self.name, "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
            "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", self.initial_cluster or f"{self.name}={self.peer_url}",
            "--initial-cluster-state", "new", "--log-level", "warn",
            # A quick raft on loopback: a member that lost its leader finds a new one in ~0.5 s.
            "--heartbeat-interval", "50", "--election-timeout", "500",
        ]

    def default_log_path(self) -> Path:
        return self.log_dir / f"etcd-{self.name}-{self.port}.log"


@dataclass
class EtcdCluster:
    """``size`` etcd members started together (a cluster needs its quorum to be ready)."""

    log_dir: Path
    size: int = 1
    members: list[EtcdProcess] = field(default_factory=list)

    def start(self) -> EtcdCluster:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        shm = Path("/dev/shm")
        root = Path(tempfile.mkdtemp(prefix="dynovault-etcd-", dir=shm if shm.is_dir() else None))
        self.members = [
            EtcdProcess(name=f"etcd{i}", log_dir=self.log_dir, port=free_port(), peer_port=free_port(),
                        data_dir=root / f"etcd{i}")
            for i in range(self.size)
        ]
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        for member in self.members:
            member.initial_cluster = initial
        errors: list[Exception] = []
        threads = [threading.Thread(target=_start, args=(member, errors)) for member in self.members]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            self.stop()
            raise errors[0]
        return self

    @property
    def url(self) -> str:
        """What ``dynovault serve --cluster`` takes."""
        return "etcd://" + ",".join(f"127.0.0.1:{m.port}" for m in self.members)

    def stop(self) -> None:
        for member in self.members:
            member.stop()
        for member in self.members:
            if member.data_dir is not None:
                shutil.rmtree(member.data_dir.parent, ignore_errors=True)


def _start(member: EtcdProcess, errors: list[Exception]) -> None:
    try:
        member.start(timeout=60)
    except Exception as error:  # reported by the thread that started them all
        errors.append(error)
