"""DynamoDB's capacity arithmetic and the ConsumedCapacity member of an answer."""

from __future__ import annotations

import math
from collections import Counter

import orjson

from dynovault.storage.engine import Table, stored_json, stored_size
from dynovault.storage.keycodec import HASH_BYTES
from dynovault.storage.vectors import entry_size

# The kind, in an index_write_units key, of a vector index: what it spends is reported as
# VectorWriteRequestBytes, apart from capacity units.
VECTOR_INDEX = None
# The least a write to a vector index is charged (DynamoDB's 1 KB floor).
MIN_VECTOR_WRITE_BYTES = 1024


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / 1024)))


# A new on-demand table starts on four partitions (as DynamoDB's engineers describe its
# 12,000 RCU first peak); a provisioned one on one per 3,000 RCU and 1,000 WCU.
ON_DEMAND_PARTITIONS = 4
_HASH_BITS = 8 * HASH_BYTES


def partition_count(description: dict) -> int:
    if description.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST":
        return ON_DEMAND_PARTITIONS
    throughput = description.get("ProvisionedThroughput", {})
    return max(1, math.ceil(throughput.get("ReadCapacityUnits", 0) / 3000 + throughput.get("WriteCapacityUnits", 0) / 1000))


class ScanReads:
    """What one Scan page read in each partition it passed. DynamoDB charges a Scan
    partition by partition, each rounded up to 4 KB on its own, empty ones included: the
    long-noticed 4 units (2 eventually consistent) for a Scan of one small item on a new
    on-demand table are its four partitions' minimums. Partitions are equal ranges of the
    partition-hash prefix every storage key starts with."""

    def __init__(self, partitions: int, start: bytes, end: bytes | None) -> None:
        self.partitions = partitions
        self.first = self._partition(int.from_bytes(start[:HASH_BYTES].ljust(HASH_BYTES, b"\0"), "big"))
        self.last = partitions - 1 if end is None else self._partition(int.from_bytes(end, "big") - 1)
        self.bytes: Counter = Counter()

    def _partition(self, hash_value: int) -> int:
        return max(0, hash_value) * self.partitions >> _HASH_BITS

    def add(self, key: bytes, size: int) -> None:
        self.bytes[self._partition(int.from_bytes(key[:HASH_BYTES], "big"))] += size

    def units(self, stopped_at: bytes | None, consistent: bool) -> float:
        """The page's units: every partition from its start to where it stopped (its
        last key), or to its end when it read everything."""
        last = self.last if stopped_at is None else self._partition(int.from_bytes(stopped_at[:HASH_BYTES], "big"))
        return sum(read_units(self.bytes[partition], consistent) for partition in range(self.first, max(self.first, last) + 1))


def scan_reads(request: dict, table: Table, start: bytes, end: bytes | None) -> ScanReads | None:
    """A table Scan page's partition accounting, kept only when its capacity is asked for."""
    if request.get("ReturnConsumedCapacity", "NONE") == "NONE":
        return None
    return ScanReads(partition_count(table.description), start, end)


def consumed_capacity(
    request: dict, table_name: str, units: float, indexes: dict[tuple[str, bool], float] | None = None
) -> dict | None:
    """DynamoDB's ConsumedCapacity for one table, shaped by ReturnConsumedCapacity. Outside
    transactions DynamoDB reports the total alone, without a read/write split.
    ``indexes`` holds the units spent on each index, keyed by (name, whether global):
    they count in the total, and INDEXES reports them apart from the table's. Vector
    indexes' bytes (keyed (name, VECTOR_INDEX)) are reported in VectorIndexes either way."""
    mode = request.get("ReturnConsumedCapacity", "NONE")
    if mode == "NONE":
        return None
    secondary = secondary_units(indexes)
    capacity: dict = {"TableName": table_name, "CapacityUnits": units + sum(secondary.values())}
    if mode == "INDEXES":
        capacity["Table"] = {"CapacityUnits": units}
        for (name, is_global), index_units in secondary.items():
            member = "GlobalSecondaryIndexes" if is_global else "LocalSecondaryIndexes"
            capacity.setdefault(member, {})[name] = {"CapacityUnits": index_units}
    written = {name: {"VectorWriteRequestBytes": float(spent)}
               for (name, kind), spent in (indexes or {}).items() if kind is VECTOR_INDEX}
    if written:
        capacity["VectorIndexes"] = written
    return capacity


def secondary_units(indexes: dict[tuple[str, bool | None], float] | None) -> dict[tuple[str, bool], float]:
    """The capacity units of secondary indexes among what indexes spent."""
    return {key: spent for key, spent in (indexes or {}).items() if key[1] is not VECTOR_INDEX}


# DynamoDB charges a transaction twice what the same reads and writes cost on their own
# (a prepare and a commit).
TRANSACTION_FACTOR = 2


def transaction_capacity(
    request: dict, table_name: str, reads: float, writes: float, indexes: dict[tuple[str, bool], float] | None = None
) -> dict | None:
    """A transaction's ConsumedCapacity for one table: already doubled units, reported
    with the read/write split DynamoDB gives transactions (index units are writes)."""
    capacity = consumed_capacity(request, table_name, reads + writes, indexes)
    if capacity is None:
        return None
    _split(capacity, reads, writes + sum(secondary_units(indexes).values()))
    if "Table" in capacity:
        _split(capacity["Table"], reads, writes)
        for member in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            for index_capacity in capacity.get(member, {}).values():
                _split(index_capacity, 0.0, index_capacity["CapacityUnits"])
    return capacity


def _split(capacity: dict, reads: float, writes: float) -> None:
    if reads:
        capacity["ReadCapacityUnits"] = reads
    if writes:
        capacity["WriteCapacityUnits"] = writes


def index_write_units(request: dict, table: Table, key: bytes, old: bytes | None, new: bytes | None) -> Counter:
    """The write units each index of ``table`` spends on one item change, keyed by (index
    name, whether global): a put of the new entry and a delete of the old one (both when
    the index key changes), nothing when the entry stays the same; and the bytes each
    vector index spends, keyed by (name, VECTOR_INDEX): the entry written (or removed),
    at least 1 KB. Worked out only when the request asks for its capacity."""
    spent: Counter = Counter()
    if not (table.indexes or table.vector_indexes) or request.get("ReturnConsumedCapacity", "NONE") == "NONE":
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
    for vector_index in table.vector_indexes:
        layout = vector_index.layout
        before = layout.entry(old_item) if old_item is not None else None
        after = layout.entry(new_item) if new_item is not None else None
        changed = (after or before) if (before and before[0]) != (after and after[0]) else None
        if changed is not None:
            spent[(layout.name, VECTOR_INDEX)] += max(MIN_VECTOR_WRITE_BYTES, entry_size(changed[0]))
    return spent


def merged_capacities(capacities: list[dict]) -> list[dict]:
    """Several requests' ConsumedCapacity summed per table, as one batch reports them."""
    merged: dict[str, dict] = {}
    for capacity in capacities:
        total = merged.setdefault(capacity["TableName"], {"TableName": capacity["TableName"]})
        _add_units(total, capacity)
    return list(merged.values())


def _add_units(total: dict, capacity: dict) -> None:
    for member, value in capacity.items():
        if isinstance(value, dict):
            _add_units(total.setdefault(member, {}), value)
        elif member != "TableName":
            total[member] = total.get(member, 0.0) + value
