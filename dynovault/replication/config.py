"""How a node takes part in replication, as given on the command line."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from dynovault.signing import PeerCredentials


class Role(str, Enum):
    LEADER = "leader"
    FOLLOWER = "follower"


@dataclass
class ReplicationConfig:
    """``node_name`` names this node to its leader (metrics labels, status); the leader
    URL is where a follower streams from and forwards writes to. ``credentials`` sign this
    node's requests to its leader (None when the server verifies no signatures);
    ``scratch_dir`` holds checkpoints in transit and must be on the data's volume;
    ``client_ssl`` verifies the leader's certificate when the cluster speaks TLS;
    ``force_role`` lets ``role`` differ from the one the data directory had."""

    # None: the role the data directory had (a new one leads).
    role: Role | None = None
    force_role: bool = False
    leader_url: str | None = None
    node_name: str = "node"
    sync_replicas: int = 0
    sync_timeout: float = 5.0
    retention_bytes: int = 256 * 1024 * 1024
    retention_seconds: float = 24 * 3600.0
    retention_interval: float = 1.0
    credentials: PeerCredentials | None = None
    scratch_dir: Path | None = None
    # Each checkpoint in flight pins a directory of hard links (and the disk space of every
    # file compacted away meanwhile): few at once, and none held by a reader that stopped.
    checkpoints_at_once: int = 2
    checkpoint_write_timeout: float = 60.0
    client_ssl: ssl.SSLContext | None = None
    # Cluster mode: etcd's endpoints (etcd://HOST:PORT[,HOST:PORT...]) and the cluster's name
    # there; this node's URL as the others reach it.
    cluster_url: str | None = None
    cluster_name: str = "dynovault"
    advertise_url: str = "http://127.0.0.1:8000"
    # Appends "epoch LSN unix-time" for every write this node acknowledged, for audits.
    ack_log: Path | None = None

    def __post_init__(self) -> None:
        self.role = None if self.role is None else Role(self.role)
        if self.leader_url:
            self.leader_url = self.leader_url.rstrip("/")
