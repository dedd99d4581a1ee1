"""What the backup, point-in-time recovery, export and import tests share: tables with
every attribute type, waiting for background work, reading whole tables."""

from __future__ import annotations

import base64
import time
from decimal import Decimal

from boto3.dynamodb.types import TypeDeserializer

_deserialize = TypeDeserializer().deserialize


def every_type_item(i: int) -> dict:
    """An item holding every DynamoDB attribute type, keyed ``pk`` (S) and ``sk`` (N)."""
    return {
        "pk": {"S": f"p{i % 7}"},
        "sk": {"N": str(i)},
        "s": {"S": f"text ✓ {i}"},
        "n": {"N": f"-{i}.5e-3"},
        "b": {"B": bytes([i % 256, 0, 255])},
        "ss": {"SS": ["a", f"b{i}"]},
        "ns": {"NS": ["1", str(i + 2)]},
        "bs": {"BS": [b"\x00", bytes([i % 256 or 1])]},
        "m": {"M": {"nested": {"L": [{"S": "x"}, {"N": "1"}, {"NULL": True}]}, "flag": {"BOOL": i % 2 == 0}}},
        "l": {"L": [{"M": {}}, {"L": []}, {"B": b"raw"}]},
        "nul": {"NULL": True},
        "t": {"BOOL": False},
        "g": {"S": f"g{i % 3}"},
    }


def create_keyed_table(ddb, name: str, with_indexes: bool = True, billing: str = "PAY_PER_REQUEST") -> None:
    """A table keyed ``pk``/``sk``, with a GSI ``by-g`` and an LSI ``by-s`` unless told not to."""
    definition: dict = {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"}],
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        definition["ProvisionedThroughput"] = {"ReadCapacityUnits": 7, "WriteCapacityUnits": 8}
    if with_indexes:
        definition["AttributeDefinitions"] += [{"AttributeName": "g", "AttributeType": "S"},
                                               {"AttributeName": "s", "AttributeType": "S"}]
        gsi: dict = {"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                     "Projection": {"ProjectionType": "ALL"}}
        if billing == "PROVISIONED":
            gsi["ProvisionedThroughput"] = {"ReadCapacityUnits": 2, "WriteCapacityUnits": 3}
        definition["GlobalSecondaryIndexes"] = [gsi]
        definition["LocalSecondaryIndexes"] = [{
            "IndexName": "by-s",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "s", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }]
    ddb.create_table(**definition)


def put_items(ddb, name: str, items: list[dict]) -> None:
    for start in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]})


def scan_all(ddb, name: str, index: str | None = None, consistent: bool = True) -> list[dict]:
    """Every item of a table (read consistently unless told not to), or of an index."""
    items, start = [], None
    while True:
        page = ddb.scan(TableName=name, ConsistentRead=consistent and index is None,
                        **({"IndexName": index} if index else {}),
                        **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if start is None:
            return items


def by_key(items: list[dict]) -> dict:
    """Items by their (pk, sk), as plain values (sets compare as sets)."""
    return {(item["pk"]["S"], Decimal(item["sk"]["N"])): {k: _deserialize(v) for k, v in item.items()}
            for item in items}


def wait_for(check, what: str, timeout: float = 120.0, interval: float = 0.1):
    """Poll ``check()`` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not done in {timeout}s")
        time.sleep(interval)


def wait_table_active(ddb, name: str) -> dict:
    def active():
        table = ddb.describe_table(TableName=name)["Table"]
        return table if table["TableStatus"] == "ACTIVE" else None

    return wait_for(active, f"table {name} ACTIVE")


def wait_backup_available(ddb, arn: str) -> dict:
    def available():
        description = ddb.describe_backup(BackupArn=arn)["BackupDescription"]
        return description if description["BackupDetails"]["BackupStatus"] == "AVAILABLE" else None

    return wait_for(available, f"backup {arn} AVAILABLE")


def from_wire(item: dict) -> dict:
    """An item as DynamoDB JSON writes it (binaries in base64) as boto3 returns it."""
    return {name: _from_wire_value(value) for name, value in item.items()}


def _from_wire_value(value: dict) -> dict:
    (tag, inner), = value.items()
    if tag == "B":
        return {"B": base64.b64decode(inner)}
    if tag == "BS":
        return {"BS": [base64.b64decode(member) for member in inner]}
    if tag == "M":
        return {"M": from_wire(inner)}
    if tag == "L":
        return {"L": [_from_wire_value(member) for member in inner]}
    return value
