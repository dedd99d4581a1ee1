"""Record-by-record lineage: whether two logs hold the same record under an LSN, and which
of a node's records a checkpoint it is about to take does not hold.

Epoch numbers alone cannot tell two histories apart: two nodes promoted by mistake from
the same point both start epoch 2 at the same LSN and write different records there. So
a follower sends the fingerprint of its last record, the leader compares it with its own
record at that LSN (and answers with its own, which the follower checks too), and a
follower that has to re-bootstrap finds the point where its log and the checkpoint's
part, record by record, and keeps everything after it (``discarded``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rocksdict import AccessType, Options, Rdict

from dynovault.replication.history import History
from dynovault.storage.engine import REPLOG_CF, Store
from dynovault.storage.replog import LSN, LogRecord, lsn_key


def fingerprint(raw: bytes | None) -> str | None:
    return None if raw is None else hashlib.blake2b(raw, digest_size=12).hexdigest()


def tail_of(store: Store) -> str | None:
    """The fingerprint of this node's last record (None with an empty log)."""
    return fingerprint(store.replog.get(lsn_key(store.last_lsn))) if store.last_lsn else None


def same_record(store: Store, lsn: int, their_fingerprint: object) -> bool:
    """Whether our record at ``lsn`` is the one fingerprinted; True when we no longer hold
    it (retention dropped it), where the histories' comparison has to do."""
    ours = store.replog.get(lsn_key(lsn))
    return ours is None or fingerprint(ours) == their_fingerprint


@contextmanager
def _checkpoint_log(directory: Path) -> Iterator[Rdict]:
    db = Rdict(str(directory), options=Options(raw_mode=True),
               column_families={REPLOG_CF: Options(raw_mode=True)}, access_type=AccessType.read_only())
    try:
        yield db.get_column_family(REPLOG_CF)
    finally:
        db.close()


def records_not_in(store: Store, ours: History | None, checkpoint: Path, theirs: History) -> list[tuple[int, LogRecord]]:
    """Our records that the checkpoint does not hold: everything after the last LSN where
    both logs hold the same record. Below the checkpoint's oldest retained record the
    histories decide: our log continues theirs there, or all of it is ours alone."""
    if store.last_lsn == 0:
        return []
    with _checkpoint_log(checkpoint) as their_log:
        it = their_log.iter()
        it.seek_to_first()
        their_oldest = LSN.unpack(it.key())[0] if it.valid() else None
        del it
        common = _last_common_lsn(store, their_log, their_oldest)
    if common is None:
        below = their_oldest - 1 if their_oldest else store.last_lsn
        common = min(below, store.last_lsn) if ours is not None and theirs.holds(ours, min(below, store.last_lsn)) else 0
    return [(lsn, LogRecord.decode(raw)) for lsn, raw in store.iterate_log(common + 1)]


def _last_common_lsn(store: Store, their_log: Rdict, their_oldest: int | None) -> int | None:
    """Walking down from our last record, the first LSN where both logs hold the same
    record; None when none of the records both still retain match."""
    if their_oldest is None:
        return None
    for lsn in range(store.last_lsn, max(their_oldest, store.oldest_lsn) - 1, -1):
        mine = store.replog.get(lsn_key(lsn))
        if mine is not None and mine == their_log.get(lsn_key(lsn)):
            return lsn
    return None
