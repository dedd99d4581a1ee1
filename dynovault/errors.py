"""DynamoDB's error vocabulary, shared by every layer that can refuse a request.

Errors carry the code DynamoDB uses after the ``#`` in ``__type`` because clients
(botocore, Feast) branch on that code, not on the message.
"""

from __future__ import annotations

ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"


class StartupError(Exception):
    """A reason the node cannot start (busy port, locked data directory, unreadable
    credentials, conflicting options), said in one line; ``dynovault`` prints it and
    exits with status 2."""


class DynamoError(Exception):
    """A refusal the client should see as DynamoDB would phrase it."""

    code = "InternalServerError"
    status = 400

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def to_body(self) -> dict:
        body: dict = {"__type": ERROR_PREFIX + self.code, "message": self.message}
        body.update(self.extra)
        return body


def _error(code: str, status: int = 400) -> type[DynamoError]:
    return type(code, (DynamoError,), {"code": code, "status": status})


ValidationException = _error("ValidationException")
SerializationException = _error("SerializationException")
UnknownOperationException = _error("UnknownOperationException")
ResourceNotFoundException = _error("ResourceNotFoundException")
ResourceInUseException = _error("ResourceInUseException")
ConditionalCheckFailedException = _error("ConditionalCheckFailedException")
TransactionCanceledException = _error("TransactionCanceledException")
IdempotentParameterMismatchException = _error("IdempotentParameterMismatchException")
DuplicateItemException = _error("DuplicateItemException")
LimitExceededException = _error("LimitExceededException")
UnrecognizedClientException = _error("UnrecognizedClientException")
InvalidSignatureException = _error("InvalidSignatureException")
MissingAuthenticationTokenException = _error("MissingAuthenticationTokenException")
IncompleteSignatureException = _error("IncompleteSignatureException")
AccessDeniedException = _error("AccessDeniedException")
RequestEntityTooLarge = _error("RequestEntityTooLarge", 413)
RequestTimeoutException = _error("RequestTimeoutException", 408)
InternalServerError = _error("InternalServerError", 500)
ServiceUnavailable = _error("ServiceUnavailable", 503)
# Backups, point-in-time recovery, exports and imports.
BackupNotFoundException = _error("BackupNotFoundException")
BackupInUseException = _error("BackupInUseException")
TableNotFoundException = _error("TableNotFoundException")
TableAlreadyExistsException = _error("TableAlreadyExistsException")
TableInUseException = _error("TableInUseException")
PointInTimeRecoveryUnavailableException = _error("PointInTimeRecoveryUnavailableException")
InvalidRestoreTimeException = _error("InvalidRestoreTimeException")
ExportNotFoundException = _error("ExportNotFoundException")
InvalidExportTimeException = _error("InvalidExportTimeException")
ExportConflictException = _error("ExportConflictException")
ImportNotFoundException = _error("ImportNotFoundException")
ImportConflictException = _error("ImportConflictException")


# ---- refusals more than one layer words the same way -----------------------------------

KEY_MISMATCH = "The provided key element does not match the schema"
DUPLICATE_KEYS = "Provided list of item keys contains duplicates"
ONE_ITEM_ONCE = "Transaction request cannot include multiple operations on one item"


def invalid(detail: str) -> ValidationException:
    return ValidationException(f"One or more parameter values were invalid: {detail}")


def empty_key_value(name: str, tag: str) -> ValidationException:
    """A key attribute (in a key, an item or a key condition) holding an empty S or B."""
    kind = "string" if tag == "S" else "binary"
    return ValidationException(
        "One or more parameter values are not valid. The AttributeValue for a key attribute "
        f"cannot contain an empty {kind} value. Key: {name}"
    )


def mixed_parameters(legacy: list[str], expressions: list[str]) -> ValidationException:
    """A request naming both legacy parameters and the expressions that replaced them."""
    return ValidationException(
        "Can not use both expression and non-expression parameters in the same request: "
        f"Non-expression parameters: {{{', '.join(legacy)}}} "
        f"Expression parameters: {{{', '.join(expressions)}}}"
    )
