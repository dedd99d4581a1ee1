"""What GetItem, BatchGetItem, Query and Scan share: choosing a projection and writing
items into a response, splicing stored bytes when nothing must be cut out of them."""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from dynovault.api.request_expressions import READ_ITEM, parse_expressions
from dynovault.expressions import Projection
from dynovault.storage.engine import stored_json


def projection_for(request: dict) -> Projection | None:
    """The projection a read asks for (ProjectionExpression or legacy AttributesToGet)."""
    return parse_expressions(request, READ_ITEM).projection


def item_bytes(stored: bytes, projection: Projection | None) -> bytes:
    """One item's wire JSON for a response: stored bytes as they are, or projected."""
    if projection is None:
        return stored_json(stored)
    return orjson.dumps(projection.apply(orjson.loads(stored_json(stored))))


def json_list(items: Iterable[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"


def with_members(body: bytes, **members: object) -> bytes:
    """Append members (skipping None) to a serialized JSON object body."""
    present = [(name, value) for name, value in members.items() if value is not None]
    if not present:
        return body
    extra = b"".join(b"," + orjson.dumps(name) + b":" + orjson.dumps(value) for name, value in present)
    if body == b"{}":
        return b"{" + extra[1:] + b"}"
    return body[:-1] + extra + b"}"
