"""Property: whatever sequence of writes, deletes, table creations and drops the leader
takes, with any node (the leader too) killed or restarted in between, every node ends holding exactly
what the leader acknowledged (a model of the acknowledged puts, updates and deletes)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynovault.testing.cluster import Cluster
from tests.conftest import client_for
from tests.test_replication import assert_nodes_hold, create_table, item

TABLES = 3
KEYS = 6

steps = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, TABLES - 1), st.integers(0, KEYS - 1), st.integers(0, 999)),
        st.tuples(st.just("delete"), st.integers(0, TABLES - 1), st.integers(0, KEYS - 1)),
        st.tuples(st.just("add"), st.integers(0, TABLES - 1), st.integers(0, KEYS - 1), st.integers(1, 9)),
        st.tuples(
            st.just("batch"), st.integers(0, TABLES - 1), st.lists(st.integers(0, KEYS - 1), max_size=KEYS, unique=True)
        ),
        st.tuples(st.just("drop"), st.integers(0, TABLES - 1)),
        st.tuples(st.just("restart"), st.integers(0, 2), st.booleans()),
    ),
    min_size=1,
    max_size=20,
)

_examples = itertools.count()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = Cluster(tmp_path_factory.mktemp("replication-properties")).start()
    yield running
    running.stop()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_every_node_holds_what_was_acknowledged(cluster, steps):
    example = next(_examples)
    leader = client_for(cluster.leader.url)
    model: dict[str, dict[str, dict]] = {}
    for step in steps:
        if step[0] == "restart":
            _restart(cluster, node=step[1], kill=step[2])
            continue
        table = f"prop{example}-t{step[1]}"
        if step[0] == "drop":
            if table in model:
                leader.delete_table(TableName=table)
                del model[table]
            continue
        if table not in model:
            create_table(leader, table)
            model[table] = {}
        _write(leader, table, step, model[table])
    assert_nodes_hold(cluster, model, prefix=f"prop{example}-")


def _write(leader, table: str, step: tuple, items: dict[str, dict]) -> None:
    """Run one step on the leader and apply what it acknowledged to the model."""
    if step[0] == "put":
        items[f"k{step[2]}"] = item(f"k{step[2]}", step[3])
        leader.put_item(TableName=table, Item=items[f"k{step[2]}"])
    elif step[0] == "delete":
        leader.delete_item(TableName=table, Key={"pk": {"S": f"k{step[2]}"}})
        items.pop(f"k{step[2]}", None)
    elif step[0] == "add":
        pk = f"k{step[2]}"
        answer = leader.update_item(TableName=table, Key={"pk": {"S": pk}}, UpdateExpression="ADD v :n",
                                    ExpressionAttributeValues={":n": {"N": str(step[3])}}, ReturnValues="ALL_NEW")
        before = int(items.get(pk, {}).get("v", {}).get("N", "0"))
        items[pk] = {**items.get(pk, {"pk": {"S": pk}}), "v": {"N": str(before + step[3])}}
        assert answer["Attributes"] == items[pk]
    elif step[2]:
        rows = [item(f"k{k}", k) for k in step[2]]
        leader.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": row}} for row in rows]})
        items.update((row["pk"]["S"], row) for row in rows)


def _restart(cluster: Cluster, node: int, kill: bool) -> None:
    """Stop or kill -9 one node (0: the leader) and start it again with its command line."""
    process = cluster.nodes[node]
    if kill:
        process.kill()
    else:
        process.stop()
    process.start()
