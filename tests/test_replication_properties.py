"""Property: whatever sequence of writes, deletes, table creations and drops the leader
takes, with followers killed and restarted in between, every replica ends identical."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynovault.testing.cluster import Cluster
from tests.conftest import client_for
from tests.test_replication import assert_replicas_equal, create_table, item

TABLES = 3
KEYS = 6

steps = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, TABLES - 1), st.integers(0, KEYS - 1), st.integers(0, 999)),
        st.tuples(st.just("delete"), st.integers(0, TABLES - 1), st.integers(0, KEYS - 1)),
        st.tuples(
            st.just("batch"), st.integers(0, TABLES - 1), st.lists(st.integers(0, KEYS - 1), max_size=KEYS, unique=True)
        ),
        st.tuples(st.just("drop"), st.integers(0, TABLES - 1)),
        st.tuples(st.just("restart"), st.integers(0, 1), st.booleans()),
    ),
    min_size=1,
    max_size=10,
)

_examples = itertools.count()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = Cluster(tmp_path_factory.mktemp("replication-properties")).start()
    yield running
    running.stop()


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_replicas_end_identical(cluster, steps):
    example = next(_examples)
    leader = client_for(cluster.leader.url)
    live: set[str] = set()
    tracked: dict[str, set[str]] = {}
    for step in steps:
        if step[0] == "restart":
            _restart(cluster, follower=step[1], kill=step[2])
            continue
        table = f"prop{example}-t{step[1]}"
        if step[0] == "drop":
            if table in live:
                leader.delete_table(TableName=table)
                live.discard(table)
            continue
        if table not in live:
            create_table(leader, table)
            live.add(table)
        _write(leader, table, step, tracked.setdefault(table, set()))
    assert_replicas_equal(cluster, tracked)


def _write(leader, table: str, step: tuple, keys: set[str]) -> None:
    if step[0] == "put":
        leader.put_item(TableName=table, Item=item(f"k{step[2]}", step[3]))
        keys.add(f"k{step[2]}")
    elif step[0] == "delete":
        leader.delete_item(TableName=table, Key={"pk": {"S": f"k{step[2]}"}})
    elif step[2]:
        requests = [{"PutRequest": {"Item": item(f"k{k}", k)}} for k in step[2]]
        leader.batch_write_item(RequestItems={table: requests})
        keys.update(f"k{k}" for k in step[2])


def _restart(cluster: Cluster, follower: int, kill: bool) -> None:
    node = cluster.followers[follower]
    if kill:
        node.kill()
    else:
        node.stop()
    node.start()
