"""DynamoDB's error vocabulary, shared by every layer that can refuse a request.

Errors carry the code DynamoDB uses after the ``#`` in ``__type`` because clients
(botocore, Feast) branch on that code, not on the message.
"""

from __future__ import annotations

ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"

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
LimitExceededException = _error("LimitExceededException")
UnrecognizedClientException = _error("UnrecognizedClientException")
InvalidSignatureException = _error("InvalidSignatureException")
MissingAuthenticationTokenException = _error("MissingAuthenticationTokenException")
IncompleteSignatureException = _error("IncompleteSignatureException")
AccessDeniedException = _error("AccessDeniedException")
RequestEntityTooLarge = _error("RequestEntityTooLarge", 413)
InternalServerError = _error("InternalServerError", 500)
ServiceUnavailable = _error("ServiceUnavailable", 503)
