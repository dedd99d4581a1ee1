"""Index entries an item implies (dynovault.storage.indexes): keys, projections, sparse
items, multi-attribute keys and ordering — pure functions, no server."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from dynovault.storage.indexes import (
    ENTRY_OVERHEAD_BYTES,
    index_column_family,
    layouts_of,
)
from dynovault.storage.keycodec import HASH_BYTES, KeyCodec
from dynovault.storage.stored import stored_json, stored_size, stored_value
from dynovault.values.attributes import canonical_item

TABLE_ID = "0b5e2c7e-1d2f-4a51-9a3b-2f8e1c3d4e5f"


def description(**indexes) -> dict:
    definitions = {"pk": "S", "sk": "N", "gp": "S", "gs": "N", "a": "S", "b": "N", "c": "B", "d": "S"}
    return {
        "TableName": "t",
        "TableId": TABLE_ID,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in definitions.items()],
        **indexes,
    }


def gsi(name: str, hash_names, range_names=(), projection=None) -> dict:
    return {
        "IndexName": name,
        "KeySchema": [{"AttributeName": n, "KeyType": "HASH"} for n in hash_names]
        + [{"AttributeName": n, "KeyType": "RANGE"} for n in range_names],
        "Projection": projection or {"ProjectionType": "ALL"},
    }


def stored(item: dict) -> tuple[bytes, bytes]:
    canonical, size = canonical_item(item)
    table_key = KeyCodec.of(description()).encode(canonical)
    return table_key, stored_value(orjson.dumps(canonical), size)


ITEM = {
    "pk": {"S": "p1"},
    "sk": {"N": "7"},
    "gp": {"S": "g"},
    "gs": {"N": "3.5"},
    "other": {"S": "x" * 10},
    "d": {"S": "dee"},
}


def test_all_projection_reuses_the_stored_item_and_appends_the_table_key():
    (layout,) = layouts_of(description(GlobalSecondaryIndexes=[gsi("by_g", ["gp"], ["gs"])]))
    table_key, value = stored(ITEM)
    key, entry_value = layout.entry(ITEM, table_key, value)
    assert entry_value == value
    assert key.endswith(table_key)
    index_key, rest = layout.decode(key)
    assert index_key == {"gp": {"S": "g"}, "gs": {"N": "3.5"}}
    assert rest == table_key
    assert key.startswith(layout.partition_prefix([{"S": "g"}]))


def test_keys_only_and_include_projections_hold_the_keys_and_the_included_attributes():
    layouts = layouts_of(
        description(
            GlobalSecondaryIndexes=[
                gsi("keys", ["gp"], projection={"ProjectionType": "KEYS_ONLY"}),
                gsi("incl", ["gp"], projection={"ProjectionType": "INCLUDE", "NonKeyAttributes": ["d", "missing"]}),
            ]
        )
    )
    table_key, value = stored(ITEM)
    projected = [orjson.loads(stored_json(layout.entry(ITEM, table_key, value)[1])) for layout in layouts]
    assert projected[0] == {"pk": ITEM["pk"], "sk": ITEM["sk"], "gp": ITEM["gp"]}
    assert projected[1] == {"pk": ITEM["pk"], "sk": ITEM["sk"], "gp": ITEM["gp"], "d": ITEM["d"]}
    entry = layouts[0].entry(ITEM, table_key, value)[1]
    assert stored_size(entry) == canonical_item(projected[0])[1]
    assert ENTRY_OVERHEAD_BYTES == 100


def test_items_lacking_an_index_key_attribute_or_holding_another_type_are_not_indexed():
    (layout,) = layouts_of(description(GlobalSecondaryIndexes=[gsi("by_g", ["gp"], ["gs"])]))
    for item in (
        {"pk": {"S": "p"}, "sk": {"N": "1"}, "gp": {"S": "g"}},
        {"pk": {"S": "p"}, "sk": {"N": "1"}, "gs": {"N": "1"}},
        {"pk": {"S": "p"}, "sk": {"N": "1"}, "gp": {"S": "g"}, "gs": {"S": "not a number"}},
    ):
        table_key, value = stored(item)
        assert layout.entry(item, table_key, value) is None


def test_local_index_shares_the_table_partition_prefix():
    lsi = {
        "IndexName": "by_d",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "d", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }
    (layout,) = layouts_of(description(LocalSecondaryIndexes=[lsi]))
    assert not layout.is_global
    table_key, value = stored(ITEM)
    key, _ = layout.entry(ITEM, table_key, value)
    partition_length = len(layout.partition_prefix([ITEM["pk"]]))
    assert key[:partition_length] == table_key[:partition_length]


def test_multi_attribute_keys_hash_every_partition_attribute_and_order_by_sort_attributes():
    (layout,) = layouts_of(description(GlobalSecondaryIndexes=[gsi("multi", ["a", "b"], ["gs", "d", "c"])]))
    base = {"pk": {"S": "p"}, "sk": {"N": "1"}, "a": {"S": "x"}, "b": {"N": "2"}}
    keys = []
    for gs, d, c in [("1", "b", "AA=="), ("1", "a", "AQ=="), ("-1", "z", "AA=="), ("1", "a", "AA==")]:
        item = {**base, "gs": {"N": gs}, "d": {"S": d}, "c": {"B": c}}
        table_key, value = stored(item)
        keys.append(layout.entry(item, table_key, value)[0])
    prefix = layout.partition_prefix([{"S": "x"}, {"N": "2"}])
    assert all(key.startswith(prefix) for key in keys)
    assert sorted(range(4), key=lambda i: keys[i]) == [2, 3, 1, 0]
    other = layout.partition_prefix([{"S": "x"}, {"N": "3"}])
    assert other[:HASH_BYTES] != prefix[:HASH_BYTES]
    decoded, _ = layout.decode(keys[0])
    assert list(decoded) == ["a", "b", "gs", "d", "c"]


def test_column_families_are_named_after_the_table_and_the_index():
    first = index_column_family(TABLE_ID, "x" * 255)
    assert first.startswith("i_" + TABLE_ID.replace("-", ""))
    assert first != index_column_family(TABLE_ID, "y")
    (layout,) = layouts_of(description(GlobalSecondaryIndexes=[gsi("y", ["gp"])]))
    assert layout.column_family == index_column_family(TABLE_ID, "y")


@given(st.lists(st.tuples(st.integers(-50, 50), st.text(max_size=4)), min_size=2, max_size=20))
def test_entry_keys_sort_as_dynamodb_orders_the_index_sort_key(rows):
    (layout,) = layouts_of(description(GlobalSecondaryIndexes=[gsi("by_g", ["gp"], ["gs"])]))
    entries = []
    for position, (number, text) in enumerate(rows):
        item = {"pk": {"S": text or "p"}, "sk": {"N": str(position)}, "gp": {"S": "same"}, "gs": {"N": str(number)}}
        table_key, value = stored(item)
        entries.append((layout.entry(item, table_key, value)[0], number))
    ordered = [number for _, number in sorted(entries)]
    assert ordered == sorted(number for number, _ in rows)
