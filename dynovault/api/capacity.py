"""DynamoDB's capacity arithmetic and the ConsumedCapacity member of an answer."""

from __future__ import annotations

import math
from collections import Counter

import orjson

from dynovault.storage.engine import Table, stored_json, stored_size


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / 1024)))


def consumed_capacity(
    request: dict, table_name: str, units: float, indexes: dict[tuple[str, bool], float] | None = None
) -> dict | None:
    """DynamoDB's ConsumedCapacity for one table, shaped by ReturnConsumedCapacity. Outside
    transactions DynamoDB reports the total alone, without a read/write split.
    ``indexes`` holds the units spent on each index, keyed by (name, whether global):
    they count in the total, and INDEXES reports them apart from the table's."""
    mode = request.get("ReturnConsumedCapacity", "NONE")
    if mode == "NONE":
        return None
    indexes = indexes or {}
    capacity: dict = {"TableName": table_name, "CapacityUnits": units + sum(indexes.values())}
    if mode == "INDEXES":
        capacity["Table"] = {"CapacityUnits": units}
        for (name, is_global), index_units in indexes.items():
            member = "GlobalSecondaryIndexes" if is_global else "LocalSecondaryIndexes"
            capacity.setdefault(member, {})[name] = {"CapacityUnits": index_units}
    return capacity


def index_write_units(request: dict, table: Table, key: bytes, old: bytes | None, new: bytes | None) -> Counter:
    """The write units each index of ``table`` spends on one item change, keyed by (index
    name, whether global): a put of the new entry and a delete of the old one (both when
    the index key changes), nothing when the entry stays the same. Worked out only when
    the request asks for its capacity."""
    spent: Counter = Counter()
    if not table.indexes or request.get("ReturnConsumedCapacity", "NONE") == "NONE":
        return spent
    old_item = orjson.loads(stored_json(old)) if old is not None else None
    new_item = orjson.loads(stored_json(new)) if new is not None else None
    for index in table.indexes:
        layout = index.layout
        before = layout.entry(old_item, key, old) if old_item is not None else None
        after = layout.entry(new_item, key, new) if new_item is not None else None
        if before == after:
            continue
        name = (layout.name, layout.is_global)
        if before is not None and (after is None or before[0] != after[0]):
            spent[name] += write_units(stored_size(before[1]))
        if after is not None:
            spent[name] += write_units(stored_size(after[1]))
    return spent
