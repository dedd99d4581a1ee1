"""Micro benchmarks of secondary-index cost without HTTP (``pytest bench/``): an item put on
a table with two GSIs and one LSI against the same put on a plain table (the index
entries ride in the item's WriteBatch), and a page of 100 read from a GSI against the
same page read from the table."""

from __future__ import annotations

import itertools

import orjson
import pytest

from dynovault.storage import keycodec
from dynovault.storage.engine import ItemChange, Store, Table, stored_value
from dynovault.values.attributes import canonical_item

ITEMS = 2_000
PAGE = 100
_KEYS = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]}
_DEFINITIONS = [{"AttributeName": n, "AttributeType": t} for n, t in (("pk", "S"), ("sk", "N"), ("g", "S"), ("h", "N"))]
_INDEXES = {
    "GlobalSecondaryIndexes": [
        {"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "ALL"}},
        {"IndexName": "by_h", "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}],
         "Projection": {"ProjectionType": "KEYS_ONLY"}},
    ],
    "LocalSecondaryIndexes": [
        {"IndexName": "by_pk_h", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "h", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "ALL"}},
    ],
}


def _row(number: int) -> dict:
    return {"pk": {"S": f"p{number % 20}"}, "sk": {"N": str(number)}, "g": {"S": "group"}, "h": {"N": str(number % 7)},
            "payload": {"S": "x" * 200}}


def _change(table: Table, number: int) -> ItemChange:
    row, size = canonical_item(_row(number))
    return ItemChange(table, table.schema.encode(row), stored_value(orjson.dumps(row), size))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    opened = Store(tmp_path_factory.mktemp("indexes"))
    for name, extra in (("plain", {}), ("indexed", _INDEXES)):
        attributes = _DEFINITIONS if extra else _DEFINITIONS[:2]
        table = opened.put_table({"TableName": name, **_KEYS, "AttributeDefinitions": attributes, **extra})
        for number in range(ITEMS):
            opened.write([_change(table, number)])
    yield opened
    opened.close()


@pytest.mark.parametrize("name", ["plain", "indexed"])
def test_put_item(benchmark, store, name) -> None:
    table = store.tables[name]
    numbers = itertools.count(ITEMS)
    benchmark(lambda: store.write([_change(table, next(numbers))]))


def test_page_of_100_from_the_table(benchmark, store) -> None:
    table = store.tables["indexed"]
    prefix = keycodec.partition_prefix("S", "p3")
    page = benchmark(lambda: list(itertools.islice(store.iterate(table, prefix, None), PAGE)))
    assert len(page) == PAGE


def test_page_of_100_from_a_gsi(benchmark, store) -> None:
    table = store.tables["indexed"]
    index = table.index("by_g")
    prefix = index.layout.partition_prefix([{"S": "group"}])
    page = benchmark(lambda: list(itertools.islice(store.iterate(index, prefix, None), PAGE)))
    assert len(page) == PAGE
