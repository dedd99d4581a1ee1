"""DynamoDB semantics on wire-form attribute values (``{"N": "1.5"}``, ``{"SS": [...]}``).

Values reaching these functions are canonical (stored items and request values both pass
through the storage codec), so equal scalars have equal wire text; numbers are compared
as decimals, strings by code point (the same order as their UTF-8 bytes), binaries by bytes.
"""

from __future__ import annotations

import base64
from decimal import Context, Decimal
from typing import Any

from dynovault.errors import ValidationException
from dynovault.values.numbers import (
    MAX_DIGITS,
    OVERFLOW,
    check_number,
    format_number,
    significant_digits,
)
from dynovault.values.types import SET_MEMBER_TAG, SET_TAGS

AttributeValue = dict[str, Any]

# Exact for any two in-range numbers, so a sum DynamoDB cannot store is refused, not rounded.
_EXACT = Context(prec=300, Emax=999, Emin=-999)


def equal(left: AttributeValue | None, right: AttributeValue | None) -> bool:
    """DynamoDB equality: same type and same value; sets ignore order."""
    if left is None or right is None:
        return False
    (tag,) = left
    if tag not in right:
        return False
    a, b = left[tag], right[tag]
    if tag in SET_TAGS:
        return len(a) == len(b) and set(a) == set(b)
    if tag == "L":
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if tag == "M":
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return a == b


def ordering_key(value: AttributeValue) -> tuple[str, Any] | None:
    """What ``<``/``>`` compare: numbers, strings and binaries only."""
    (tag,) = value
    if tag == "N":
        return tag, Decimal(value["N"])
    if tag == "S":
        return tag, value["S"]
    if tag == "B":
        return tag, base64.b64decode(value["B"])
    return None


def compare(operator: str, left: AttributeValue | None, right: AttributeValue | None) -> bool:
    """One comparator applied as DynamoDB does: a missing operand or operands of
    different types make every comparison false except ``<>``."""
    if operator == "=":
        return equal(left, right)
    if operator == "<>":
        return not equal(left, right)
    if left is None or right is None:
        return False
    a, b = ordering_key(left), ordering_key(right)
    if a is None or b is None or a[0] != b[0]:
        return False
    if operator == "<":
        return a[1] < b[1]
    if operator == "<=":
        return a[1] <= b[1]
    if operator == ">":
        return a[1] > b[1]
    return a[1] >= b[1]


def begins_with(value: AttributeValue | None, prefix: AttributeValue | None) -> bool:
    if value is None or prefix is None:
        return False
    (tag,) = value
    if tag not in ("S", "B") or tag not in prefix:
        return False
    if tag == "S":
        return value["S"].startswith(prefix["S"])
    return base64.b64decode(value["B"]).startswith(base64.b64decode(prefix["B"]))


def contains(value: AttributeValue | None, operand: AttributeValue | None) -> bool:
    """Substring for strings and binaries, membership for sets and lists."""
    if value is None or operand is None:
        return False
    (tag,) = value
    if tag == "S":
        return "S" in operand and operand["S"] in value["S"]
    if tag == "B":
        return "B" in operand and base64.b64decode(operand["B"]) in base64.b64decode(value["B"])
    if tag in SET_TAGS:
        member = SET_MEMBER_TAG[tag]
        return member in operand and operand[member] in value[tag]
    if tag == "L":
        return any(equal(element, operand) for element in value["L"])
    return False


def size_of(value: AttributeValue | None) -> int | None:
    """``size()``: UTF-8 bytes of a string, bytes of a binary, members of a collection."""
    if value is None:
        return None
    (tag,) = value
    if tag == "S":
        return len(value["S"].encode())
    if tag == "B":
        return len(base64.b64decode(value["B"]))
    if tag in SET_TAGS or tag in ("L", "M"):
        return len(value[tag])
    return None


def describe(value: AttributeValue) -> str:
    """How DynamoDB prints an operand inside an error message."""
    (tag,) = value
    return f"AttributeValue: {{{tag}:{value[tag]}}}"


def add_numbers(left: str, right: str, negate_right: bool = False) -> AttributeValue:
    """``left + right`` (or ``-``) of two number texts, as a number DynamoDB can store.
    A sum past 38 digits is refused, never rounded, and DynamoDB calls that an overflow
    too (``1e50 + 1``)."""
    b = Decimal(right)
    total = _EXACT.add(Decimal(left), -b if negate_right else b)
    if significant_digits(total) > MAX_DIGITS:
        raise ValidationException(OVERFLOW)
    return {"N": format_number(check_number(total))}
