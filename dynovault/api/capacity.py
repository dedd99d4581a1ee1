"""DynamoDB's capacity arithmetic and the ConsumedCapacity member of an answer."""

from __future__ import annotations

import math


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / 1024)))


def consumed_capacity(request: dict, table_name: str, units: float) -> dict | None:
    """DynamoDB's ConsumedCapacity for one table, shaped by ReturnConsumedCapacity. Outside
    transactions DynamoDB reports the total alone, without a read/write split."""
    mode = request.get("ReturnConsumedCapacity", "NONE")
    if mode == "NONE":
        return None
    capacity: dict = {"TableName": table_name, "CapacityUnits": units}
    if mode == "INDEXES":
        capacity["Table"] = {"CapacityUnits": units}
    return capacity
