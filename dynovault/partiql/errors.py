"""DynamoDB's words for a statement it cannot read."""

from __future__ import annotations

from dynovault.errors import ValidationException

NOT_WELL_FORMED = "Statement wasn't well formed, can't be processed: "
LEFTOVER = "Unexpected token after expression"
UNEXPECTED_TERM = "Unexpected term"
UNEXPECTED_KEYWORD = "Unexpected keyword"
UNEXPECTED_OPERATOR = "Unexpected operator"
MISSING_RIGHT_SIDE = "Missing right-hand side expression of infix operator"
EXPECTED_IDENTIFIER = "Expected identifier for simple path"
EXPECTED_TYPE = "Expected type name"
ALIASING = "Aliasing is not supported"
KEY_EQUALITY = "Where clause does not contain a mandatory equality on all key attributes"
PARAMETER_COUNT = "Number of parameters in request and statement don't match."


def not_well_formed(detail: str) -> ValidationException:
    return ValidationException(NOT_WELL_FORMED + detail)


def unsupported(what: str) -> ValidationException:
    return ValidationException(f"Unsupported operation: {what}")
