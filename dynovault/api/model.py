"""Request validation driven by botocore's DynamoDB model (and its DynamoDB Streams model,
for the Streams API served on the same endpoint).

The model carries every constraint DynamoDB's front end checks before an operation runs
(required members, lengths, patterns, enums, ranges). Checking against it here gives every
operation the same "N validation errors detected" answer DynamoDB gives, in one place.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, NamedTuple

import botocore.loaders

from dynovault.errors import SerializationException, ValidationException

# Shapes whose contents are checked with DynamoDB's own messages by the attribute codec.
_OPAQUE_SHAPES = frozenset({"AttributeValue"})
# Maps of attribute values whose entries key validation and the attribute codec check where
# they are used; here only their JSON type is. Walking their entries twice would double the
# cost of the hot paths (100 keys a batch).
_SHALLOW_MAPS = frozenset({"Key", "PutItemInputAttributeMap", "AttributeMap"})
_MAX_REPORTED = 10
# Members DynamoDB requires although the model marks them optional: they became optional
# only for creating a replica from ``GlobalTableSourceArn``, which this server does not do.
_ALSO_REQUIRED = {"CreateTableInput": ("AttributeDefinitions", "KeySchema")}
# Members whose absence DynamoDB answers with a sentence of its own, before any other
# check of the request (wording quoted by the AWS SDKs' issue threads and DynamoDB Local).
_REQUIRED_FIRST = {
    "CreateTable": ("TableName", "The parameter 'TableName' is required but was not present in the request"),
    "BatchGetItem": ("RequestItems", "The requestItems parameter is required for BatchGetItem"),
    "BatchWriteItem": ("RequestItems", "The requestItems parameter is required for BatchWriteItem"),
}
# Enumerations DynamoDB lists in an order of its own (that of its Java enum sets) rather
# than the model's, as its validation messages show them.
_ENUM_ORDER = {
    "ReturnValue": ("ALL_NEW", "UPDATED_OLD", "ALL_OLD", "NONE", "UPDATED_NEW"),
    "Select": ("SPECIFIC_ATTRIBUTES", "COUNT", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES"),
    "ConditionalOperator": ("OR", "AND"),
    "ComparisonOperator": (
        "IN", "NULL", "BETWEEN", "LT", "NOT_CONTAINS", "EQ", "GT", "NOT_NULL", "NE", "LE", "BEGINS_WITH", "GE",
        "CONTAINS",
    ),
    "ScalarAttributeType": ("B", "N", "S"),
    "AttributeAction": ("ADD", "DELETE", "PUT"),
}


DYNAMODB = "dynamodb"
STREAMS = "dynamodbstreams"


@cache
def service_model(service: str = DYNAMODB) -> dict:
    model = botocore.loaders.Loader().load_service_model(service, "service-2")
    if service == DYNAMODB:
        for name, order in _ENUM_ORDER.items():
            model["shapes"][name] = {**model["shapes"][name], "enum": list(order)}
    return model


def operation_names(service: str = DYNAMODB) -> frozenset[str]:
    return frozenset(service_model(service)["operations"])


def _coral_name(member: str) -> str:
    return member[:1].lower() + member[1:]


def _render(value: Any) -> str:
    """A value as DynamoDB quotes it in validation messages (its Java ``toString``)."""
    return "null" if value is None else f"'{_java_text(value)}'"


def _java_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_java_text(element) for element in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={_java_text(element)}" for key, element in value.items()) + "}"
    return "null" if value is None else str(value)


# The wire types botocore's model names, as DynamoDB's deserializer calls them.
_JAVA_TYPES = {
    "string": "String",
    "integer": "Integer",
    "long": "Long",
    "boolean": "Boolean",
    "double": "Double",
    "timestamp": "Date",
    "blob": "ByteBuffer",
}


def _type_mismatch(kind: str, value: Any) -> SerializationException:
    """DynamoDB's answer to a JSON value of the wrong type for its member."""
    if isinstance(value, dict):
        return SerializationException("Start of structure or map found where not expected.")
    if isinstance(value, list):
        return SerializationException("Start of list found where not expected")
    if kind == "list":
        return SerializationException("Expected list or null")
    if kind == "map":
        return SerializationException("Expected map or null")
    if kind == "structure":
        return SerializationException("Expected null")
    if isinstance(value, bool):
        token = "BOOLEAN_VALUE"
    else:
        token = "STRING_VALUE" if isinstance(value, str) else "NUMBER_VALUE"
    return SerializationException(f"{token} cannot be converted to {_JAVA_TYPES[kind]}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Which JSON values each scalar wire type accepts.
_SCALAR_ACCEPTS = {
    "boolean": lambda value: isinstance(value, bool),
    "double": _is_number,
    "timestamp": lambda value: _is_number(value) or isinstance(value, str),
    "blob": lambda value: isinstance(value, str),
}


def _constraints(shape: dict) -> list[str]:
    """Every constraint a shape puts on a value, worded and ordered as DynamoDB lists them
    for map keys and values."""
    worded = []
    if "enum" in shape:
        return [f"Member must satisfy enum value set: [{', '.join(shape['enum'])}]"]
    if "max" in shape:
        worded.append(f"Member must have length less than or equal to {shape['max']}")
    if "min" in shape:
        worded.append(f"Member must have length greater than or equal to {shape['min']}")
    if "pattern" in shape:
        worded.append(f"Member must satisfy regular expression pattern: {shape['pattern']}")
    return worded


class _Checker:
    def __init__(self, service: str) -> None:
        self.service = service
        self.shapes = service_model(service)["shapes"]
        self.violations: list[str] = []

    def fail(self, value: Any, path: str, constraint: str) -> None:
        self.violations.append(
            f"Value {_render(value)} at '{path}' failed to satisfy constraint: {constraint}"
        )

    def shape(self, shape_name: str, value: Any) -> dict:
        """The shape a value is checked against. Members that accept a table name or ARN
        (``TableArn``) hold DynamoDB's table-name rules when given a plain name."""
        if shape_name == "TableArn" and isinstance(value, str) and not value.startswith("arn:"):
            shape_name = "TableName"
        return self.shapes[shape_name]

    def check(self, shape_name: str, value: Any, path: str) -> None:
        if shape_name in _OPAQUE_SHAPES:
            return
        if shape_name in _SHALLOW_MAPS:
            if not isinstance(value, dict):
                raise _type_mismatch("map", value)
            return
        shape = self.shape(shape_name, value)
        kind = shape["type"]
        if kind == "structure":
            self._structure(_members_of(self.service, shape_name), value, path)
        elif kind == "list":
            self._list(shape, value, path)
        elif kind == "map":
            self._map(shape, value, path)
        elif kind == "string":
            self._string(shape, value, path)
        elif kind in ("integer", "long"):
            self._integer(shape, kind, value, path)
        elif not _SCALAR_ACCEPTS[kind](value):
            raise _type_mismatch(kind, value)

    def _structure(self, members: _Members, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _type_mismatch("structure", value)
        # A null member means an absent one, as in DynamoDB's deserializer; dropping it here
        # lets handlers read optional members with ``request.get(name, default)``.
        if None in value.values():
            for name in [name for name, member_value in value.items() if member_value is None]:
                del value[name]
        prefix = f"{path}." if path else ""
        for name, coral in members.required:
            if value.get(name) is None:
                self.fail(None, prefix + coral, "Member must not be null")
        for name, member_value in value.items():
            member = members.shapes.get(name)
            if member is not None:
                self.check(member[0], member_value, prefix + member[1])

    def _sized(self, shape: dict, value: Any, length: int, path: str) -> None:
        if "min" in shape and length < shape["min"]:
            self.fail(value, path, f"Member must have length greater than or equal to {shape['min']}")
        if "max" in shape and length > shape["max"]:
            self.fail(value, path, f"Member must have length less than or equal to {shape['max']}")

    def _list(self, shape: dict, value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise _type_mismatch("list", value)
        self._sized(shape, value, len(value), path)
        for index, element in enumerate(value, 1):
            self._element(shape["member"]["shape"], element, f"{path}.{index}.member")

    def _element(self, shape_name: str, element: Any, path: str) -> None:
        """A list element or map value. Null ones are refused here so handlers never meet
        them, except AttributeValues, whose own validation words that refusal."""
        if element is not None:
            self.check(shape_name, element, path)
        elif shape_name not in _OPAQUE_SHAPES:
            self.fail(None, path, "Member must not be null")

    def _map(self, shape: dict, value: Any, path: str) -> None:
        """Map keys and non-structure map values are reported once for the whole map,
        listing every constraint of the key or value shape, as DynamoDB does."""
        if not isinstance(value, dict):
            raise _type_mismatch("map", value)
        self._sized(shape, value, len(value), path)
        for key in value:
            key_shape = self.shape(shape["key"]["shape"], key)
            if not self._within(key_shape, key):
                constraints = ", ".join(_constraints(key_shape))
                self.fail(value, path, f"Map keys must satisfy constraint: [{constraints}]")
                break
        value_name = shape["value"]["shape"]
        value_shape = self.shapes[value_name]
        if value_shape["type"] == "structure" or value_name in _OPAQUE_SHAPES:
            for key, element in value.items():
                self._element(value_name, element, f"{path}.{key}.member")
            return
        for key, element in value.items():
            if element is None:
                self.fail(None, f"{path}.{key}.member", "Member must not be null")
            else:
                self._check_type(value_shape, element)
        if any(element is not None and not self._within(value_shape, element) for element in value.values()):
            constraints = ", ".join(_constraints(value_shape))
            self.fail(value, path, f"Map value must satisfy constraint: [{constraints}]")
        if value_shape["type"] == "list":
            member_shape = value_shape["member"]["shape"]
            for key, element in value.items():
                for index, member in enumerate(element or (), 1):
                    self._element(member_shape, member, f"{path}.{key}.member.{index}.member")

    def _check_type(self, shape: dict, value: Any) -> None:
        kind = shape["type"]
        if kind == "list" and not isinstance(value, list):
            raise _type_mismatch(kind, value)
        if kind == "string" and not isinstance(value, str):
            raise _type_mismatch(kind, value)

    @staticmethod
    def _within(shape: dict, value: Any) -> bool:
        """Whether a map key or non-structure map value meets its shape's own constraints."""
        if "enum" in shape:
            return value in shape["enum"]
        length = len(value)
        if length < shape.get("min", 0) or length > shape.get("max", length):
            return False
        return _matches(shape.get("pattern"), value)

    def _string(self, shape: dict, value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise _type_mismatch("string", value)
        if "enum" in shape:
            if value not in shape["enum"]:
                allowed = ", ".join(shape["enum"])
                self.fail(value, path, f"Member must satisfy enum value set: [{allowed}]")
            return
        self._sized(shape, value, len(value), path)
        pattern = shape.get("pattern")
        # DynamoDB reports an empty string's length alone, not the pattern it cannot match.
        if value and not _matches(pattern, value):
            self.fail(value, path, f"Member must satisfy regular expression pattern: {pattern}")

    def _integer(self, shape: dict, kind: str, value: Any, path: str) -> None:
        # Fractional numbers are refused rather than truncated so handlers only ever see ints.
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_mismatch(kind, value)
        if "min" in shape and value < shape["min"]:
            self.fail(value, path, f"Member must have value greater than or equal to {shape['min']}")
        if "max" in shape and value > shape["max"]:
            self.fail(value, path, f"Member must have value less than or equal to {shape['max']}")


def _matches(pattern: str | None, value: str) -> bool:
    regex = _compiled(pattern) if pattern else None
    return regex is None or regex.fullmatch(value) is not None


@cache
def _compiled(pattern: str) -> re.Pattern | None:
    """The model's (Java) pattern as a Python regex; the few Python cannot express
    (``\\p{Print}``, surrogate ranges) belong to operations not served here and go unchecked."""
    try:
        return re.compile(pattern)
    except re.error:
        return None


class _Members(NamedTuple):
    """A structure's members as the check walks them: member name -> (shape name, name in
    messages), and the required members with their names in messages."""

    shapes: dict[str, tuple[str, str]]
    required: tuple[tuple[str, str], ...]


@cache
def _members_of(service: str, shape_name: str) -> _Members:
    """Worked out once per structure shape: the check runs on every request."""
    shape = service_model(service)["shapes"][shape_name]
    required = (*shape.get("required", ()), *_ALSO_REQUIRED.get(shape_name, ()))
    return _Members(
        {name: (member["shape"], _coral_name(name)) for name, member in shape["members"].items()},
        tuple((name, _coral_name(name)) for name in required),
    )


def validate_request(operation: str, request: Any, service: str = DYNAMODB) -> None:
    """Raise DynamoDB's ValidationException (or SerializationException) for a request
    that breaks the operation's input shape. Null structure members are removed from the
    request in place."""
    input_shape = service_model(service)["operations"][operation].get("input")
    if input_shape is None:
        return
    required_first = _REQUIRED_FIRST.get(operation)
    if required_first is not None and isinstance(request, dict) and request.get(required_first[0]) in (None, {}):
        raise ValidationException(required_first[1])
    checker = _Checker(service)
    checker.check(input_shape["shape"], request, "")
    violations = checker.violations
    if violations:
        count = len(violations)
        noun = "error" if count == 1 else "errors"
        shown = "; ".join(violations[:_MAX_REPORTED])
        raise ValidationException(f"{count} validation {noun} detected: {shown}")
