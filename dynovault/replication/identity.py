"""A data directory's replication identity: the role it last had, the leader it followed,
and whether it was fenced, kept in the store beside its history.

The command line may only confirm what the data directory already is. A follower's data
started as a leader would write records at LSNs its leader also writes, under the same
epoch: the two logs fork with nothing to tell them apart. So a different ``--role`` is
refused unless ``--force-role`` says the operator means it, and a data directory forced
into leadership (or fenced because a newer leader exists) refuses writes until it is
promoted, which starts a new epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import orjson

from dynovault.errors import StartupError
from dynovault.replication.config import ReplicationConfig, Role
from dynovault.storage.engine import Store

_META_KEY = b"replication/identity"


class RoleConflict(StartupError):
    """The command line asks for a role this data directory cannot safely take."""


@dataclass(frozen=True)
class Identity:
    """``fenced`` says why a leader refuses writes (None while it may take them);
    ``fenced_by_epoch`` is the epoch known to have replaced it; ``cluster_name`` names the
    etcd cluster the node belongs to (None in static mode)."""

    role: Role
    leader_url: str | None = None
    fenced: str | None = None
    fenced_by_epoch: int | None = None
    cluster_name: str | None = None

    def following(self, leader_url: str | None) -> Identity:
        """A follower of ``leader_url`` (None: of whichever leader etcd names next)."""
        return Identity(Role.FOLLOWER, leader_url, cluster_name=self.cluster_name)

    def leading(self) -> Identity:
        return Identity(Role.LEADER, cluster_name=self.cluster_name)

    def fenced_at(self, epoch: int, reason: str) -> Identity:
        return replace(self, fenced=reason, fenced_by_epoch=epoch)

    def to_json(self) -> dict:
        return {"role": self.role.value, "leader": self.leader_url, "fenced": self.fenced,
                "fenced_by_epoch": self.fenced_by_epoch, "cluster_name": self.cluster_name}

    @classmethod
    def from_json(cls, data: dict) -> Identity:
        return cls(Role(data["role"]), data.get("leader"), data.get("fenced"), data.get("fenced_by_epoch"),
                   data.get("cluster_name"))


def load(store: Store) -> Identity | None:
    raw = store.meta.get(_META_KEY)
    return None if raw is None else Identity.from_json(orjson.loads(raw))


def save(store: Store, identity: Identity) -> None:
    store.meta.put(_META_KEY, orjson.dumps(identity.to_json()))


def resolve(persisted: Identity | None, config: ReplicationConfig, epoch: int) -> Identity:
    """The identity a node starts with: what its data directory was, confirmed (or, with
    ``force_role``, overridden) by the command line. Raises RoleConflict otherwise."""
    if config.cluster_url:
        return _clustered(persisted, config)
    if persisted is not None and persisted.cluster_name is not None:
        return _leaving_cluster(persisted, config, epoch)
    # --leader alone means following it.
    requested = config.role or (Role.FOLLOWER if config.leader_url else persisted.role if persisted else Role.LEADER)
    leader_url = config.leader_url or (persisted.leader_url if persisted else None)
    if requested is Role.FOLLOWER and not leader_url:
        raise RoleConflict("a follower needs the leader's URL (--leader)")
    if persisted is None or requested is persisted.role:
        if requested is Role.FOLLOWER:
            return Identity(Role.FOLLOWER, leader_url)
        return persisted or Identity(Role.LEADER)
    if not config.force_role:
        raise RoleConflict(_conflict_message(persisted, requested))
    if requested is Role.FOLLOWER:
        return Identity(Role.FOLLOWER, leader_url)
    return Identity(Role.LEADER).fenced_at(
        epoch, f"its data directory was a follower of {persisted.leader_url}, so it refuses writes until it is promoted"
    )


def _clustered(persisted: Identity | None, config: ReplicationConfig) -> Identity:
    """In cluster mode etcd names the leader: the node starts following nobody, in the
    etcd cluster its data belongs to."""
    if persisted is not None and persisted.cluster_name not in (None, config.cluster_name) and not config.force_role:
        raise RoleConflict(f"this data directory belongs to cluster {persisted.cluster_name!r} on etcd, not "
                           f"{config.cluster_name!r} (pass --force-role to move it)")
    return Identity(Role.FOLLOWER, cluster_name=config.cluster_name)


def _leaving_cluster(persisted: Identity, config: ReplicationConfig, epoch: int) -> Identity:
    """A data directory of an etcd cluster started without --cluster would lead on its own
    beside the cluster's leader: only with --force-role, and then as a follower or as a
    leader that refuses writes until promoted."""
    if not config.force_role:
        raise RoleConflict(
            f"this data directory belongs to cluster {persisted.cluster_name!r} on etcd: start it with "
            f"--cluster etcd://HOST:PORT --cluster-name {persisted.cluster_name} (or pass --force-role to take it "
            "out of the cluster)"
        )
    if config.role is Role.FOLLOWER:
        if not config.leader_url:
            raise RoleConflict("a follower needs the leader's URL (--leader)")
        return Identity(Role.FOLLOWER, config.leader_url)
    return Identity(Role.LEADER).fenced_at(
        epoch, f"it left etcd cluster {persisted.cluster_name!r}, so it refuses writes until it is promoted"
    )


def _conflict_message(persisted: Identity, requested: Role) -> str:
    if persisted.role is Role.FOLLOWER:
        return (f"this data directory was a follower of {persisted.leader_url}; starting it as {requested.value} "
                "would fork its history (start it with --role follower, or pass --force-role to start a leader "
                "that refuses writes until it is promoted)")
    return (f"this data directory was a leader; start it without --role, make it follow with /admin/follow, "
            f"or pass --force-role to start it as {requested.value}")
