"""Micro benchmarks of a stream's cost without HTTP (``pytest bench/``): an item overwrite
on a plain table against the same overwrite on a table with a ``NEW_AND_OLD_IMAGES``
stream (its record, both images included, rides in the item's WriteBatch), and a
GetRecords page of 100 records shaped from storage."""

from __future__ import annotations

import itertools

import orjson
import pytest

from dynovault.node import Node
from dynovault.storage.engine import ItemChange, Store, Table, stored_value
from dynovault.streams import find_stream, get_records, shard_id, shard_iterator
from dynovault.tables import create_table
from dynovault.values.attributes import canonical_item

ITEMS = 2_000
PAGE = 100


def _row(number: int, version: int) -> dict:
    return {"pk": {"S": f"user#{number:06d}"}, "version": {"N": str(version)}, "payload": {"S": "x" * 900}}


def _change(table: Table, number: int, version: int) -> ItemChange:
    row, size = canonical_item(_row(number, version))
    return ItemChange(table, table.schema.encode(row), stored_value(orjson.dumps(row), size))


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("streams"))
    opened = Node(store)
    for name, specification in (("plain", None), ("streamed", "NEW_AND_OLD_IMAGES")):
        definition = {
            "TableName": name, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST",
        }
        if specification:
            definition["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": specification}
        table = create_table(opened, definition)
        for number in range(ITEMS):
            store.write([_change(table, number, 0)])
    yield opened
    store.close()


@pytest.mark.parametrize("name", ["plain", "streamed"])
def test_put_item_overwrite(benchmark, node, name) -> None:
    table = node.store.tables[name]
    versions = itertools.count(1)
    benchmark(lambda: node.store.write([_change(table, next(versions) % ITEMS, next(versions))]))


def test_get_records_page_of_100(benchmark, node) -> None:
    table = node.store.tables["streamed"]
    arn = node.stream_arn(table.name, table.description["LatestStreamLabel"])
    stream = find_stream(node, arn)
    (shard,) = node.store.streams.shards(stream.sid)
    iterator = shard_iterator(
        node, {"StreamArn": arn, "ShardId": shard_id(stream, shard.first_lsn), "ShardIteratorType": "TRIM_HORIZON"}
    )
    page = benchmark(lambda: get_records(node, iterator, PAGE))
    assert len(orjson.loads(page)["Records"]) == PAGE
