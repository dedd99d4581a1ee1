"""The line formats of DynamoDB's exports and imports: DynamoDB JSON, Amazon Ion text
and CSV, turned into items in DynamoDB's wire form and back.

Ion goes through ``amazon.ion``, Amazon's own implementation: DynamoDB's mapping puts
numbers in Ion decimals, binaries in blobs, and sets in lists annotated
``$dynamodb_SS``/``$dynamodb_NS``/``$dynamodb_BS``; every line starts with the version
marker ``$ion_1_0``.
"""

from __future__ import annotations

import base64
import csv
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation

import orjson
from amazon.ion import simpleion
from amazon.ion.core import IonType
from amazon.ion.simple_types import IonPyBytes, IonPyDict, IonPyList

from dynovault.storage.stored import stored_json

DYNAMODB_JSON = "DYNAMODB_JSON"
ION = "ION"
CSV = "CSV"
_SET_ANNOTATIONS = {"SS": "$dynamodb_SS", "NS": "$dynamodb_NS", "BS": "$dynamodb_BS"}
_SET_OF_ANNOTATION = {annotation: tag for tag, annotation in _SET_ANNOTATIONS.items()}

Item = dict[str, dict]


class BadLine(ValueError):
    """A line of an import source that holds no item."""


# ---- export ------------------------------------------------------------------------------


def export_line(output_format: str, stored: bytes) -> bytes:
    """The line of a full export holding one stored item."""
    if output_format == DYNAMODB_JSON:
        return b'{"Item":' + stored_json(stored) + b"}\n"
    return ion_line({"Item": orjson.loads(stored_json(stored))})


def change_line(output_format: str, fields: dict[str, Item | int]) -> bytes:
    """The line of an incremental export: Metadata (the write's time), Keys, and the
    NewImage and OldImage the view type asks for."""
    micros = fields["Metadata"]
    record: dict = {**fields, "Metadata": {"WriteTimestampMicros": {"N": str(micros)}}}
    if output_format == DYNAMODB_JSON:
        return orjson.dumps(record) + b"\n"
    return ion_line(record)


def ion_line(record: dict) -> bytes:
    """``$ion_1_0`` and a struct whose members are items (or Metadata) in wire form."""
    struct = IonPyDict.from_value(IonType.STRUCT, {name: _ion_item(item) for name, item in record.items()})
    return simpleion.dumps(struct, binary=False).encode() + b"\n"


def _ion_item(item: Item) -> IonPyDict:
    return IonPyDict.from_value(IonType.STRUCT, {name: _ion_value(value) for name, value in item.items()})


def _ion_value(value: dict) -> object:
    (tag, inner), = value.items()
    if tag == "S":
        return inner
    if tag == "N":
        return Decimal(inner)
    if tag == "B":
        return IonPyBytes.from_value(IonType.BLOB, base64.b64decode(inner))
    if tag in ("BOOL", "NULL"):
        return None if tag == "NULL" else inner
    if tag == "M":
        return _ion_item(inner)
    if tag == "L":
        return IonPyList.from_value(IonType.LIST, [_ion_value(member) for member in inner])
    members = [_ion_value({tag[0]: member}) for member in inner]
    return IonPyList.from_value(IonType.LIST, members, annotations=(_SET_ANNOTATIONS[tag],))


# ---- import ------------------------------------------------------------------------------


def dynamodb_json_item(line: bytes) -> Item:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise BadLine(f"not JSON: {error}") from None
    if not isinstance(record, dict) or not isinstance(record.get("Item"), dict):
        raise BadLine("no Item object")
    return record["Item"]


def ion_item(line: bytes) -> Item:
    try:
        record = simpleion.loads(line.decode())
    except Exception as error:  # amazon.ion raises many kinds on malformed text
        raise BadLine(f"not Ion: {error}") from None
    if not isinstance(record, Mapping) or not isinstance(record.get("Item"), Mapping):
        raise BadLine("no Item struct")
    return {name: _wire_value(value) for name, value in record["Item"].items()}


def _wire_value(value: object) -> dict:
    ion_type = getattr(value, "ion_type", None)
    if ion_type is IonType.NULL or value is None or getattr(value, "is_null", False):
        return {"NULL": True}
    if ion_type is IonType.BOOL or isinstance(value, bool):
        return {"BOOL": bool(value)}
    if ion_type in (IonType.STRING, IonType.SYMBOL) or isinstance(value, str):
        return {"S": str(value)}
    if ion_type in (IonType.DECIMAL, IonType.INT, IonType.FLOAT) or isinstance(value, (int, float, Decimal)):
        return {"N": _number_text(value)}
    if ion_type in (IonType.BLOB, IonType.CLOB) or isinstance(value, bytes):
        return {"B": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, Mapping):
        return {"M": {name: _wire_value(member) for name, member in value.items()}}
    if isinstance(value, list):
        annotations = [getattr(a, "text", a) for a in getattr(value, "ion_annotations", ())]
        tag = next((_SET_OF_ANNOTATION[a] for a in annotations if a in _SET_OF_ANNOTATION), None)
        if tag is None:
            return {"L": [_wire_value(member) for member in value]}
        return {tag: [next(iter(_wire_value(member).values())) for member in value]}
    raise BadLine(f"an Ion {ion_type} has no DynamoDB type")


def _number_text(value: object) -> str:
    try:
        return str(Decimal(str(value)))
    except InvalidOperation:
        raise BadLine(f"{value} is not a number DynamoDB holds") from None


def csv_items(text: str, delimiter: str, header: list[str] | None, key_types: dict[str, str]
              ) -> Iterator[Item | BadLine]:
    """The items of a CSV source: the first row names the columns unless ``header`` does;
    key columns take their defined type, every other non-empty cell is a string."""
    rows = csv.reader(text.splitlines(), delimiter=delimiter)
    names = header
    for row in rows:
        if names is None:
            names = row
            continue
        if len(row) > len(names):
            yield BadLine(f"{len(row)} values for {len(names)} columns")
            continue
        item: Item = {}
        for name, cell in zip(names, row):
            if cell == "" and name not in key_types:
                continue
            item[name] = {key_types.get(name, "S"): cell}
        yield item
