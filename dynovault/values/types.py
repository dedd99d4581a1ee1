"""DynamoDB's attribute type tags and the families of them that rules refer to."""

from __future__ import annotations

TYPE_TAGS = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})
# The only types a key attribute may have, and the only ones ``<``/``>`` order.
SCALAR_TAGS = ("S", "N", "B")
SET_TAGS = frozenset({"SS", "NS", "BS"})
SET_MEMBER_TAG = {"SS": "S", "NS": "N", "BS": "B"}
SET_NAMES = {"SS": "string", "NS": "number", "BS": "binary"}
# How DynamoDB names a type in messages about operand types.
TYPE_WORDS = {
    "S": "STRING",
    "N": "NUMBER",
    "B": "BINARY",
    "BOOL": "BOOLEAN",
    "NULL": "NULL",
    "M": "MAP",
    "L": "LIST",
    "SS": "STRING_SET",
    "NS": "NUMBER_SET",
    "BS": "BINARY_SET",
}


def type_of(value: dict) -> str:
    """The tag of a canonical (single-tag) AttributeValue."""
    return next(iter(value))
