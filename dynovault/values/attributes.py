"""Attribute values in DynamoDB's wire form: validation, canonical form and item size.

An item is stored exactly as it will be returned (canonical numbers, canonical base64),
so reads can pass stored bytes through without decoding them.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from dynovault.errors import SerializationException, ValidationException, invalid
from dynovault.values.numbers import canonical_number, format_number, number_size, parse_number
from dynovault.values.types import SET_NAMES, TYPE_TAGS

MAX_ITEM_SIZE = 400 * 1024
# Levels of a document, the top-level attribute's value being the first.
MAX_NESTING_DEPTH = 32
# An attribute name holds up to 64 KB less one byte (DynamoDB Local's limit message).
MAX_NAME_BYTES = 65535

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]


def decode_binary(value: Any) -> bytes:
    if not isinstance(value, str):
        raise SerializationException("Start of structure or map found where not expected")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SerializationException("Base64 encoded length is expected a multiple of 4 bytes but found: " + str(len(value)))


def attribute_type(value: Any) -> str:
    """The single type tag of an AttributeValue, or DynamoDB's refusal."""
    if not isinstance(value, dict):
        raise SerializationException("Unexpected value type in payload: expected an AttributeValue object")
    if len(value) == 1:
        (tag,) = value
        if tag in TYPE_TAGS:
            return tag
    if not value or not (value.keys() & TYPE_TAGS):
        raise ValidationException(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        )
    raise ValidationException(
        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
    )


def canonical_value(value: Any, depth: int = 0) -> tuple[AttributeValue, int]:
    """Validate one AttributeValue; return its canonical form and its DynamoDB size."""
    if depth >= MAX_NESTING_DEPTH:
        raise ValidationException(
            "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond "
            "supported limit"
        )
    tag = attribute_type(value)
    inner = value[tag]
    if tag == "S":
        if not isinstance(inner, str):
            raise SerializationException("Unexpected value type in payload: S must be a string")
        return value, len(inner.encode())
    if tag == "N":
        if not isinstance(inner, str):
            raise SerializationException("Unexpected value type in payload: N must be a string")
        text, size = canonical_number(inner)
        return {"N": text}, size
    if tag == "B":
        raw = decode_binary(inner)
        return {"B": base64.b64encode(raw).decode()}, len(raw)
    if tag == "BOOL":
        if not isinstance(inner, bool):
            raise SerializationException("Unexpected value type in payload: BOOL must be a boolean")
        return value, 1
    if tag == "NULL":
        if inner is not True:
            raise invalid("Null attribute value types must have the value of true")
        return value, 1
    if tag == "M":
        if not isinstance(inner, dict):
            raise SerializationException("Unexpected value type in payload: M must be an object")
        out, size = {}, 3
        for name, member in inner.items():
            out[name], member_size = canonical_value(member, depth + 1)
            size += len(name.encode()) + member_size + 1
        return {"M": out}, size
    if tag == "L":
        if not isinstance(inner, list):
            raise SerializationException("Unexpected value type in payload: L must be a list")
        out_list, size = [], 3
        for member in inner:
            # Lists of numbers (embeddings) are common and long: numbers skip the general path.
            if type(member) is dict and len(member) == 1 and type(member.get("N")) is str:
                text, member_size = canonical_number(member["N"])
                canonical = member if text is member["N"] else {"N": text}
            else:
                canonical, member_size = canonical_value(member, depth + 1)
            out_list.append(canonical)
            size += member_size + 1
        return {"L": out_list}, size
    return _canonical_set(tag, inner)


def _canonical_set(tag: str, members: Any) -> tuple[AttributeValue, int]:
    if not isinstance(members, list):
        raise SerializationException(f"Unexpected value type in payload: {tag} must be a list")
    if not members:
        # DynamoDB's own wordings, the double space included (dynalite's recorded answers).
        raise invalid("Binary sets should not be empty" if tag == "BS" else f"An {SET_NAMES[tag]} set  may not be empty")
    if tag == "SS":
        if not all(isinstance(m, str) for m in members):
            raise SerializationException("Unexpected value type in payload: SS members must be strings")
        canonical = members
        size = sum(len(m.encode()) for m in members)
        identities: list[Any] = members
    elif tag == "NS":
        numbers = [parse_number(m) for m in members]
        canonical = [format_number(n) for n in numbers]
        size = sum(number_size(n) for n in numbers)
        identities = numbers
    else:
        raws = [decode_binary(m) for m in members]
        canonical = [base64.b64encode(r).decode() for r in raws]
        size = sum(len(r) for r in raws)
        identities = raws
    if len(set(identities)) != len(identities):
        raise _duplicates(tag, canonical, identities)
    # DynamoDB returns a set's members in its own order: strings and binaries bytewise,
    # numbers by value (a string's code points order as its UTF-8 bytes do).
    ordered = [member for _, member in sorted(zip(identities, canonical), key=lambda pair: pair[0])]
    return {tag: ordered}, size


def _duplicates(tag: str, members: list[str], identities: list) -> ValidationException:
    """DynamoDB's refusal of a set with a repeated member. It names the members it had
    taken in (in their sort order) up to the repeat, the repeat, then the rest as sent;
    a number set's members go unnamed."""
    if tag == "NS":
        return invalid("Input collection contains duplicates.")
    taken: dict = {}
    listing: list[str] = []
    for index, (member, identity) in enumerate(zip(members, identities)):
        if identity in taken:
            listing = [taken[key] for key in sorted(taken)] + [member] + members[index + 1 :]
            break
        taken[identity] = member
    quoted = [json.dumps(member, ensure_ascii=False) for member in listing]
    if tag == "BS":
        return invalid(f"Input collection [{','.join(quoted)}]of type BS contains duplicates.")
    return invalid(f"Input collection [{', '.join(quoted)}] contains duplicates.")


def canonical_item(item: Any, what: str = "item") -> tuple[Item, int]:
    """Validate a whole item; return its canonical form and its DynamoDB size in bytes."""
    if not isinstance(item, dict):
        raise SerializationException(f"Unexpected value type in payload: {what} must be an object")
    out: Item = {}
    size = 0
    for name, value in item.items():
        if not name:
            raise invalid("An attribute name may not be empty")
        name_size = len(name.encode())
        if name_size > MAX_NAME_BYTES:
            raise ValidationException(f"Attribute name is too large, must be less than {MAX_NAME_BYTES + 1} bytes")
        out[name], value_size = canonical_value(value)
        size += name_size + value_size
    return out, size

