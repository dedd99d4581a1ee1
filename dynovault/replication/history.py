"""A replicated log's lineage: which cluster it belongs to and where each epoch began.

Every promotion starts a new epoch at the next LSN. A node that reconnects tells its
leader its cluster, epoch and last LSN; if that epoch ended earlier in the leader's
history than the node's last LSN, the node holds records the cluster never kept (it
followed a leader that was replaced) and must re-bootstrap rather than continue. A node
that knows a newer epoch than a leader refuses it: an old leader cannot feed anyone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
from rocksdict import AccessType, Options, Rdict

from dynovault.storage.engine import META_CF, Store

_META_KEY = b"replication/history"


@dataclass(frozen=True)
class History:
    cluster: str
    epochs: tuple[tuple[int, int], ...]  # (epoch, first LSN of that epoch), ascending

    @property
    def epoch(self) -> int:
        return self.epochs[-1][0]

    @classmethod
    def new(cls, next_lsn: int) -> History:
        return cls(str(uuid.uuid4()), ((1, next_lsn),))

    def promoted(self, next_lsn: int) -> History:
        """The history of a node that becomes leader and writes its next record at ``next_lsn``."""
        return History(self.cluster, (*self.epochs, (self.epoch + 1, next_lsn)))

    def last_lsn_of(self, epoch: int) -> int | None:
        """The last LSN written under ``epoch`` (None while it is the current epoch)."""
        for (number, _), (_, next_first) in zip(self.epochs, self.epochs[1:]):
            if number == epoch:
                return next_first - 1
        return None

    def contains(self, cluster: str | None, epoch: int, last_lsn: int) -> bool:
        """Whether a node of ``cluster`` at ``epoch`` whose log ends at ``last_lsn`` holds
        only records that are also in this history."""
        if cluster != self.cluster or epoch not in {number for number, _ in self.epochs}:
            return False
        end = self.last_lsn_of(epoch)
        return end is None or last_lsn <= end

    def to_json(self) -> dict:
        return {"cluster": self.cluster, "epochs": [list(pair) for pair in self.epochs]}

    @classmethod
    def from_json(cls, data: dict) -> History:
        return cls(data["cluster"], tuple((int(e), int(lsn)) for e, lsn in data["epochs"]))


def load(store: Store) -> History | None:
    raw = store.meta.get(_META_KEY)
    return None if raw is None else History.from_json(orjson.loads(raw))


def load_from_checkpoint(directory: Path) -> History | None:
    """The history a downloaded checkpoint carries, read without taking it over: None when
    it is not a store of this kind (no history, or not a database at all)."""
    try:
        db = Rdict(str(directory), options=Options(raw_mode=True),
                   column_families={META_CF: Options(raw_mode=True)}, access_type=AccessType.read_only())
    except Exception:  # rocksdict raises plain Exception for a missing or corrupt database
        return None
    try:
        raw = db.get_column_family(META_CF).get(_META_KEY)
        return None if raw is None else History.from_json(orjson.loads(raw))
    except (ValueError, KeyError, TypeError):
        return None
    finally:
        db.close()


def save(store: Store, history: History) -> None:
    store.meta.put(_META_KEY, orjson.dumps(history.to_json()))
