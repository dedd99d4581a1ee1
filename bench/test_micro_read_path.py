"""Micro benchmarks of the read path without HTTP (``pytest bench/``): a RocksDB lookup
with the stored bytes spliced into the response, against decoding and re-encoding the
item as a generic server would. The gap is what the splice saves per item."""

from __future__ import annotations

import random

import orjson
import pytest

from bench.workloads import BATCH_GET_KEYS, item
from dynovault.api.reads import item_bytes, json_list
from dynovault.storage.engine import ItemChange, Store, Table, stored_json, stored_value
from dynovault.storage.keycodec import KeyCodec
from dynovault.values.attributes import canonical_item

ITEMS = 10_000


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> tuple[Store, Table, list[bytes]]:
    """A store holding ``ITEMS`` ~1 KB items, and the storage keys of random probes."""
    store = Store(tmp_path_factory.mktemp("read-path"))
    table = store.put_table({
        "TableName": "bench",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    })
    schema = KeyCodec("pk", "S")
    keys = []
    for index in range(ITEMS):
        row, size = canonical_item(item(index))
        keys.append(schema.encode(row))
        store.write([ItemChange(table, keys[-1], stored_value(orjson.dumps(row), size))])
    rng = random.Random(1)
    yield store, table, [rng.choice(keys) for _ in range(1000)]
    store.close()


def _probes(keys: list[bytes]):
    position = 0

    def next_key() -> bytes:
        nonlocal position
        position = (position + 1) % len(keys)
        return keys[position]

    return next_key


def test_get_item_spliced(benchmark, loaded) -> None:
    store, table, keys = loaded
    next_key = _probes(keys)
    body = benchmark(lambda: b'{"Item":' + item_bytes(store.get(table, next_key()), None) + b"}")
    assert orjson.loads(body)["Item"]["pk"]


def test_get_item_decoded_and_encoded(benchmark, loaded) -> None:
    store, table, keys = loaded
    next_key = _probes(keys)
    body = benchmark(lambda: orjson.dumps({"Item": orjson.loads(stored_json(store.get(table, next_key())))}))
    assert orjson.loads(body)["Item"]["pk"]


def _batches(keys: list[bytes]) -> list[list[bytes]]:
    return [keys[start : start + BATCH_GET_KEYS] for start in range(0, len(keys), BATCH_GET_KEYS)]


def test_batch_get_100_spliced(benchmark, loaded) -> None:
    store, table, keys = loaded
    next_batch = _probes(_batches(keys))
    body = benchmark(lambda: json_list(item_bytes(v, None) for v in store.get_many(table, next_batch())))
    assert len(orjson.loads(body)) == BATCH_GET_KEYS


def test_batch_get_100_decoded_and_encoded(benchmark, loaded) -> None:
    store, table, keys = loaded
    next_batch = _probes(_batches(keys))
    body = benchmark(lambda: orjson.dumps([orjson.loads(stored_json(v)) for v in store.get_many(table, next_batch())]))
    assert len(orjson.loads(body)) == BATCH_GET_KEYS
