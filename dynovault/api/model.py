"""Request validation driven by botocore's DynamoDB model.

The model carries every constraint DynamoDB's front end checks before an operation runs
(required members, lengths, patterns, enums, ranges). Checking against it here gives every
operation the same "N validation errors detected" answer DynamoDB gives, in one place.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import botocore.loaders

from dynovault.errors import SerializationException, ValidationException

# Shapes whose contents are checked with DynamoDB's own messages by the storage codec.
_OPAQUE_SHAPES = frozenset({"AttributeValue"})
_MAX_REPORTED = 10


@cache
def service_model() -> dict:
    return botocore.loaders.Loader().load_service_model("dynamodb", "service-2")


def operation_names() -> frozenset[str]:
    return frozenset(service_model()["operations"])


def _coral_name(member: str) -> str:
    return member[:1].lower() + member[1:]


def _render(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    return f"'{value}'"


class _Checker:
    def __init__(self) -> None:
        self.shapes = service_model()["shapes"]
        self.violations: list[str] = []

    def fail(self, value: Any, path: str, constraint: str) -> None:
        self.violations.append(
            f"Value {_render(value)} at '{path}' failed to satisfy constraint: {constraint}"
        )

    def check(self, shape_name: str, value: Any, path: str) -> None:
        if shape_name in _OPAQUE_SHAPES:
            return
        shape = self.shapes[shape_name]
        kind = shape["type"]
        if kind == "structure":
            self._structure(shape, value, path)
        elif kind == "list":
            self._list(shape, value, path)
        elif kind == "map":
            self._map(shape, value, path)
        elif kind == "string":
            self._string(shape, value, path)
        elif kind in ("integer", "long"):
            self._integer(shape, value, path)
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise SerializationException(f"Unexpected value type at '{path}': expected a boolean")
        elif kind == "double":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SerializationException(f"Unexpected value type at '{path}': expected a number")
        elif kind == "timestamp":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise SerializationException(f"Unexpected value type at '{path}': expected a timestamp")
        elif kind == "blob":
            if not isinstance(value, str):
                raise SerializationException(f"Unexpected value type at '{path}': expected base64 text")

    def _structure(self, shape: dict, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise SerializationException(
                f"Unexpected value type at '{path or 'request'}': expected an object"
            )
        members = shape["members"]
        prefix = f"{path}." if path else ""
        for name in shape.get("required", ()):
            if value.get(name) is None:
                self.fail(None, prefix + _coral_name(name), "Member must not be null")
        for name, member_value in value.items():
            member = members.get(name)
            if member is not None and member_value is not None:
                self.check(member["shape"], member_value, prefix + _coral_name(name))

    def _sized(self, shape: dict, value: Any, length: int, path: str) -> None:
        if "min" in shape and length < shape["min"]:
            self.fail(value, path, f"Member must have length greater than or equal to {shape['min']}")
        if "max" in shape and length > shape["max"]:
            self.fail(value, path, f"Member must have length less than or equal to {shape['max']}")

    def _list(self, shape: dict, value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise SerializationException(f"Unexpected value type at '{path}': expected a list")
        self._sized(shape, value, len(value), path)
        for index, element in enumerate(value, 1):
            if element is not None:
                self.check(shape["member"]["shape"], element, f"{path}.{index}.member")

    def _map(self, shape: dict, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise SerializationException(f"Unexpected value type at '{path}': expected an object")
        self._sized(shape, value, len(value), path)
        for key, element in value.items():
            self.check(shape["key"]["shape"], key, f"{path}.key")
            if element is not None:
                self.check(shape["value"]["shape"], element, f"{path}.{key}.member")

    def _string(self, shape: dict, value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise SerializationException(f"Unexpected value type at '{path}': expected a string")
        if "enum" in shape:
            if value not in shape["enum"]:
                allowed = ", ".join(shape["enum"])
                self.fail(value, path, f"Member must satisfy enum value set: [{allowed}]")
            return
        self._sized(shape, value, len(value), path)
        pattern = shape.get("pattern")
        if pattern and not _compiled(pattern).fullmatch(value):
            self.fail(value, path, f"Member must satisfy regular expression pattern: {pattern}")

    def _integer(self, shape: dict, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise SerializationException(f"Unexpected value type at '{path}': expected an integer")
        if "min" in shape and value < shape["min"]:
            self.fail(value, path, f"Member must have value greater than or equal to {shape['min']}")
        if "max" in shape and value > shape["max"]:
            self.fail(value, path, f"Member must have value less than or equal to {shape['max']}")


@cache
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def validate_request(operation: str, request: Any) -> None:
    """Raise DynamoDB's ValidationException (or SerializationException) for a request
    that breaks the operation's input shape."""
    input_shape = service_model()["operations"][operation].get("input")
    if input_shape is None:
        return
    checker = _Checker()
    checker.check(input_shape["shape"], request, "")
    violations = checker.violations
    if violations:
        count = len(violations)
        noun = "error" if count == 1 else "errors"
        shown = "; ".join(violations[:_MAX_REPORTED])
        raise ValidationException(f"{count} validation {noun} detected: {shown}")
