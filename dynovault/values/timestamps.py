"""Timestamps in requests: what the JSON protocol sends for a ``timestamp`` member."""

from __future__ import annotations

from datetime import UTC, datetime

from dynovault.errors import SerializationException


def epoch_seconds(value: float | str) -> float:
    """A request's timestamp as epoch seconds: a number (what SDKs send), a number in a
    string, or an ISO 8601 date and time; anything else is DynamoDB's refusal to read it."""
    if not isinstance(value, str):
        return float(value)
    try:
        return float(value)
    except ValueError:
        pass
    try:
        # Python 3.11 reads a "Z" but not a lowercase "z".
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise SerializationException(f"STRING_VALUE cannot be converted to Date: {value[:100]}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
