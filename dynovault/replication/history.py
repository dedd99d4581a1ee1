"""A replicated log's lineage: which cluster it belongs to and where each epoch began.

Every promotion starts a new epoch at the next LSN. A node that reconnects tells its
leader its history and last LSN; unless its epochs began where the leader's did and its
last epoch had not ended before its last LSN, the node holds records the cluster never
kept (it followed a leader that was replaced) and must re-bootstrap rather than continue.
A node that knows a newer epoch than a leader refuses it: an old leader cannot feed anyone.
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
    def new(cls, next_lsn: int, epoch: int = 1) -> History:
        return cls(str(uuid.uuid4()), ((epoch, next_lsn),))

    def promoted(self, next_lsn: int, epoch: int | None = None) -> History:
        """The history of a node that becomes leader and writes its next record at
        ``next_lsn``, under ``epoch`` (a coordinator's) or the next epoch number."""
        return History(self.cluster, (*self.epochs, (epoch or self.epoch + 1, next_lsn)))

    def epoch_of(self, lsn: int) -> int:
        """The epoch that wrote ``lsn`` in this lineage (0 before the first)."""
        return max((number for number, first in self.epochs if first <= lsn), default=0)

    def holds(self, other: History, last_lsn: int) -> bool:
        """Whether a log of ``other``'s lineage ending at ``last_lsn`` is, epoch by epoch,
        a prefix of this lineage: every epoch it wrote in began at the same LSN here, and
        the last of them had not ended here before ``last_lsn``. (Within an epoch, two
        lineages may still differ record by record: see ``lineage``.)"""
        if other.cluster != self.cluster:
            return False
        written = [pair for pair in other.epochs if pair[1] <= last_lsn]
        if not written:
            return True
        if tuple(written) != self.epochs[: len(written)]:
            return False
        return len(written) == len(self.epochs) or last_lsn < self.epochs[len(written)][1]

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
