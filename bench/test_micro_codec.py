"""Micro benchmarks of the key codec and attribute canonicalisation (``pytest bench/``).

Every write encodes its key and canonicalises its item, and every read encodes its key,
so these costs are paid per request on top of the HTTP layer."""

from __future__ import annotations

import base64

import orjson
import pytest

from bench.workloads import item
from dynovault.storage.keycodec import KeyCodec, encode_value
from dynovault.values.attributes import canonical_item

STRING_KEY = "user#00012345"
NUMBER_KEY = "-12345.678901234567890123"
BINARY_KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    ("type_tag", "value"),
    [("S", STRING_KEY), ("N", NUMBER_KEY), ("B", BINARY_KEY)],
    ids=["S", "N", "B"],
)
def test_encode_key_attribute(benchmark, type_tag: str, value: str) -> None:
    encoded = benchmark(encode_value, type_tag, value)
    assert encoded


def test_encode_hash_key(benchmark) -> None:
    schema = KeyCodec("pk", "S")
    key = {"pk": {"S": STRING_KEY}}
    assert schema.decode(benchmark(schema.encode, key)) == key


def test_encode_composite_key(benchmark) -> None:
    schema = KeyCodec("pk", "S", "sk", "N")
    key = {"pk": {"S": STRING_KEY}, "sk": {"N": "1700000000.125"}}
    assert schema.decode(benchmark(schema.encode, key)) == key


def test_decode_composite_key(benchmark) -> None:
    schema = KeyCodec("pk", "S", "sk", "N")
    key = {"pk": {"S": STRING_KEY}, "sk": {"N": "1700000000.125"}}
    assert benchmark(schema.decode, schema.encode(key)) == key


def test_canonical_item_1kb(benchmark) -> None:
    row = item(12345)
    canonical, size = benchmark(canonical_item, row)
    assert canonical == row and 0 < size < len(orjson.dumps(row))
