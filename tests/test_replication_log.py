"""The pieces of replication that need no network: epoch histories, log retention, and a
follower store applying a leader store's log."""

from __future__ import annotations

import asyncio
import time

from dynovault.replication.history import History
from dynovault.replication.retention import LogRetention
from dynovault.storage.engine import ItemChange, Store, stored_value
from dynovault.storage.replog import LogRecord

DESCRIPTION = {
    "TableName": "items",
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
}


def _put(store: Store, key: bytes, size: int = 10, commit_time_us: int | None = None) -> None:
    table = store.tables["items"]
    store.write([ItemChange(table, key, stored_value(b'{"pk":{"S":"x"}}', size))], commit_time_us)


def _leader(tmp_path, puts: int = 0) -> Store:
    store = Store(tmp_path / "leader")
    store.put_table(dict(DESCRIPTION))
    for number in range(puts):
        _put(store, f"k{number}".encode())
    return store


def test_a_history_holds_only_what_its_epochs_kept():
    history = History("c", ((1, 1), (2, 101), (3, 151)))
    assert history.holds(History("c", ((1, 1),)), 100)
    assert not history.holds(History("c", ((1, 1),)), 101)  # wrote past the point where epoch 2 took over
    assert history.holds(History("c", ((1, 1), (2, 101))), 150)
    assert history.holds(History("c", ((1, 1), (2, 101), (3, 151))), 10_000)
    assert not history.holds(History("other", ((1, 1), (2, 101), (3, 151))), 10)
    assert not history.holds(History("c", ((1, 1), (2, 101), (4, 151))), 160)
    # The same epoch number begun at another LSN is another lineage.
    assert not history.holds(History("c", ((1, 1), (2, 90))), 95)
    # Epochs adopted but not yet written in do not count.
    assert history.holds(History("c", ((1, 1), (2, 101), (9, 120))), 110)
    assert history.promoted(200).epochs[-1] == (4, 200)
    assert history.promoted(200, epoch=17).epochs[-1] == (17, 200)


def test_follower_store_applies_a_leader_log_with_the_same_lsns_and_statistics(tmp_path):
    leader = _leader(tmp_path, puts=5)
    table = leader.tables["items"]
    leader.write([ItemChange(table, b"k1", None), ItemChange(table, b"k2", stored_value(b"{}", 99))])
    follower = Store(tmp_path / "follower")
    follower.apply((lsn, LogRecord.decode(raw)) for lsn, raw in leader.iterate_log(1))
    copy = follower.tables["items"]
    assert follower.last_lsn == leader.last_lsn
    assert list(follower.iterate_log(1)) == list(leader.iterate_log(1))
    assert list(copy.data.items()) == list(table.data.items())
    assert (copy.item_count, copy.size_bytes) == (table.item_count, table.size_bytes) == (4, 129)


def test_retention_by_size_keeps_the_newest_records_and_always_the_last(tmp_path):
    store = _leader(tmp_path, puts=100)
    record_bytes = len(next(iter(store.iterate_log(store.last_lsn)))[1])
    retention = LogRetention(max_bytes=10 * record_bytes, max_age_seconds=3600)
    asyncio.run(retention.enforce(store))
    assert store.last_lsn - store.oldest_lsn + 1 == 10
    asyncio.run(LogRetention(max_bytes=0, max_age_seconds=3600).enforce(store))
    assert store.oldest_lsn == store.last_lsn


def test_retention_by_age_drops_old_records_only(tmp_path):
    store = Store(tmp_path / "leader")
    an_hour_ago = int((time.time() - 3600) * 1e6)
    store.put_table(dict(DESCRIPTION), commit_time_us=an_hour_ago)
    for number in range(5):
        _put(store, f"old{number}".encode(), commit_time_us=an_hour_ago)
    first_new = store.last_lsn + 1
    for number in range(5):
        _put(store, f"new{number}".encode())
    asyncio.run(LogRetention(max_bytes=1 << 30, max_age_seconds=60).enforce(store))
    assert store.oldest_lsn == first_new


def test_checkpoint_replaces_a_store_in_place(tmp_path):
    leader = _leader(tmp_path, puts=3)
    follower = Store(tmp_path / "follower")
    leader.create_checkpoint(tmp_path / "checkpoint")
    follower = follower.replaced_by(tmp_path / "checkpoint")
    assert follower.last_lsn == leader.last_lsn
    assert follower.tables["items"].item_count == 3
    assert not (tmp_path / "checkpoint").exists()
