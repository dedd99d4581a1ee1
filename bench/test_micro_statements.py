"""Micro benchmarks of PartiQL without HTTP (``pytest bench/``): a GetItem handler against
ExecuteStatement reading the same item by key, with a ``?`` parameter and with the key
written into the statement. The gap is what parsing (cached), preparing and binding a
statement cost per request."""

from __future__ import annotations

import random
from collections.abc import Coroutine

import pytest

from bench.workloads import item, key
from dynovault.api.ops import execute_statement, get_item, put_item
from dynovault.node import Node
from dynovault.storage.engine import Store

ITEMS = 1_000
TABLE = "bench"


def _finished(coroutine: Coroutine):
    """The result of a handler that never waits (a read of the store answers at once)."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value
    raise RuntimeError("the handler waited")


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Node:
    store = Store(tmp_path_factory.mktemp("statements"))
    store.put_table({
        "TableName": TABLE,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    })
    loaded = Node(store)
    for index in range(ITEMS):
        _finished(put_item.handle({"TableName": TABLE, "Item": item(index)}, loaded))
    yield loaded
    store.close()


@pytest.fixture
def probes() -> list[int]:
    rng = random.Random(1)
    return [rng.randrange(ITEMS) for _ in range(200)]


def test_get_item(benchmark, node, probes):
    requests = [{"TableName": TABLE, "Key": key(index)} for index in probes]
    benchmark(lambda: [_finished(get_item.handle(request, node)) for request in requests])


def test_execute_statement_by_key_with_a_parameter(benchmark, node, probes):
    statement = f'SELECT * FROM "{TABLE}" WHERE pk = ?'
    requests = [{"Statement": statement, "Parameters": [key(index)["pk"]]} for index in probes]
    answers = [_finished(execute_statement.handle(request, node)) for request in requests]
    assert all(answer.startswith(b'{"Items":[{') for answer in answers)
    benchmark(lambda: [_finished(execute_statement.handle(request, node)) for request in requests])


def test_execute_statement_by_key_written_into_the_text(benchmark, node, probes):
    requests = [{"Statement": f"SELECT * FROM \"{TABLE}\" WHERE pk = '{key(index)['pk']['S']}'"} for index in probes]
    benchmark(lambda: [_finished(execute_statement.handle(request, node)) for request in requests])
