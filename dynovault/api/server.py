"""The HTTP front: one POST route that dispatches on ``X-Amz-Target``, to the DynamoDB
operations (``DynamoDB_20120810.*``) or the DynamoDB Streams ones
(``DynamoDBStreams_20120810.*``), each checked against its own service model.

Everything per request that is not strictly needed costs throughput directly (the HTTP
layer is the ceiling of a Python server), so the path is: read body, orjson parse, model
check, handler, one orjson dump (or stored bytes spliced by the handler), CRC32 header.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
import zlib
from http import HTTPStatus
from typing import Any, Protocol

import orjson
from aiohttp import web

from dynovault.api import stream_ops
from dynovault.api.bodies import (
    MIN_COMPRESSED_ANSWER_BYTES,
    accepts_gzip,
    gzipped,
    request_payload,
)
from dynovault.api.cors import add_cors, allow_origin
from dynovault.api.model import DYNAMODB, STREAMS, validate_request
from dynovault.api.ops import Handler, load_operations
from dynovault.errors import (
    ERROR_PREFIX,
    DynamoError,
    InternalServerError,
    RequestEntityTooLarge,
    SerializationException,
    ServiceUnavailable,
    UnknownOperationException,
)
from dynovault.guard import Forwardable, Guard, LeaderAnswer, Passthrough, run_here
from dynovault.node import Node

log = logging.getLogger(__name__)

TARGET_PREFIX = "DynamoDB_20120810."
STREAMS_TARGET_PREFIX = "DynamoDBStreams_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
# DynamoDB accepts requests up to 16 MB (a full BatchWriteItem).
MAX_REQUEST_BYTES = 16 * 1024 * 1024

# A body above this size waits for one of LARGE_BODIES_AT_ONCE slots before it is read, so
# many slow large uploads hold connections but not memory.
LARGE_BODY_BYTES = 1024 * 1024
LARGE_BODIES_AT_ONCE = 16


class Authenticator(Protocol):
    """A request's signature, checked in two steps: what needs no body, before the body is
    read (so a forged or stale request costs no memory), then the signature over it."""

    def check_headers(self, request: web.Request) -> Any: ...

    def verify(self, request: web.Request, body: bytes, checked: Any) -> Any: ...


NODE_KEY = web.AppKey("node", Node)
# Which of a node's processes answers (``--workers``): "writer", "reader-1", ...
WORKER_KEY = web.AppKey("worker", str)
# A random per-process prefix and a counter: as unique as a uuid4 per answer, at a tenth
# of its cost on the hot path.
_REQUEST_ID_PREFIX = uuid.uuid4().hex[:20].upper()
_request_numbers = itertools.count()


def _request_id() -> str:
    return f"{_REQUEST_ID_PREFIX}{next(_request_numbers):012X}"


def _response(body: bytes, status: int = 200, content_encoding: str | None = None) -> web.Response:
    """The CRC32 is of the bytes sent, compressed or not, as DynamoDB computes it."""
    headers = {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": _request_id(), "x-amz-crc32": str(zlib.crc32(body))}
    if content_encoding is not None:
        headers["Content-Encoding"] = content_encoding
    return web.Response(body=body, status=status, headers=headers)


def _error_body(error: DynamoError) -> bytes:
    body = error.to_body()
    try:
        return orjson.dumps(body)
    except TypeError:
        # Messages may quote request headers, whose bytes need not be UTF-8 (aiohttp keeps
        # them as surrogate escapes); quote those bytes as replacement characters instead.
        message = error.message.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return orjson.dumps({**body, "message": message})


def error_response(error: DynamoError) -> web.Response:
    return _response(_error_body(error), error.status)


def raw_error_answer(error: DynamoError) -> bytes:
    """The whole HTTP answer of ``error``, for a connection that has no request to answer
    through aiohttp (its head never arrived); the connection closes after it."""
    body = _error_body(error)
    head = (
        f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}\r\nContent-Type: {CONTENT_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nx-amzn-RequestId: {_request_id()}\r\n"
        f"x-amz-crc32: {zlib.crc32(body)}\r\n\r\n"
    )
    return head.encode() + body


def _outcome(request: web.Request, **fields: object) -> dict:
    """Log fields of one request's outcome."""
    return {"target": request.headers.get("X-Amz-Target"), "remote": request.remote, **fields}


async def _read_body(request: web.Request, large_bodies: asyncio.Semaphore) -> bytes:
    """The body as sent; one above ``LARGE_BODY_BYTES`` (or of unknown length) waits for
    a slot first."""
    try:
        length = request.content_length
        if length is not None and length <= LARGE_BODY_BYTES:
            return await request.read()
        if length is not None and length > MAX_REQUEST_BYTES:
            # Refused unread: the connection closes after the answer (api/connections.py).
            raise RequestEntityTooLarge("Request Entity Too Large")
        async with large_bodies:
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestEntityTooLarge("Request Entity Too Large") from None
    except web.RequestPayloadError as error:
        # Broken chunked encoding; aiohttp's text ends with the cause.
        detail = str(error).strip().splitlines()[-1].strip()
        raise SerializationException(f"Could not read request body: {detail}") from None
    except ConnectionResetError:
        # The client left mid-body: nobody reads this answer, but it is not a server fault.
        raise SerializationException("Request body ended before its declared length") from None


class Dispatcher:
    """Routes a DynamoDB request to its operation handler and shapes every outcome."""

    def __init__(
        self, node: Node, authenticate: Authenticator | None = None, guard: Guard = run_here,
        passthrough: Passthrough | None = None,
    ) -> None:
        self.node = node
        # Target prefix -> (service model, handlers by operation name).
        self.services: dict[str, tuple[str, dict[str, Handler]]] = {
            TARGET_PREFIX: (DYNAMODB, load_operations()),
            STREAMS_TARGET_PREFIX: (STREAMS, stream_ops.load_operations()),
        }
        self.authenticate = authenticate
        self.guard = guard
        self.passthrough = passthrough
        self._large_bodies = asyncio.Semaphore(LARGE_BODIES_AT_ONCE)

    async def __call__(self, request: web.Request) -> web.Response:
        try:
            body = await self._dispatch(request)
        except DynamoError as error:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("refused", extra=_outcome(request, code=error.code, reason=error.message))
            return allow_origin(request, error_response(error))
        except Exception:
            log.exception("internal error", extra=_outcome(request))
            return allow_origin(request, error_response(InternalServerError("Internal server error")))
        # Checked first: building the record on every request would cost throughput.
        if log.isEnabledFor(logging.DEBUG):
            log.debug("answered", extra=_outcome(request, bytes=len(body)))
        if len(body) >= MIN_COMPRESSED_ANSWER_BYTES and accepts_gzip(request.headers.get("Accept-Encoding")):
            return allow_origin(request, _response(gzipped(body), content_encoding="gzip"))
        return allow_origin(request, _response(body))

    async def _dispatch(self, request: web.Request) -> bytes:
        """DynamoDB's order of checks: body, JSON, operation, signature, then the model;
        whatever of the signature needs no body is checked before the body is read."""
        checked = None if self.authenticate is None else self.authenticate.check_headers(request)
        body = await _read_body(request, self._large_bodies)
        passthrough = self.passthrough
        if passthrough is not None and _operation(request) not in passthrough.served_here:
            return _passed_back(await passthrough.forward(Forwardable(request.path, request.headers, body)))
        payload = request_payload(body, request.headers.get("Content-Encoding"), MAX_REQUEST_BYTES)
        service, operation, handler = self._handler(request.headers.get("X-Amz-Target", ""))
        if self.authenticate is not None:
            self.authenticate.verify(request, body, checked)
        validate_request(operation, payload, service)
        result = await self.guard(
            operation, payload, lambda: handler(payload, self.node), Forwardable(request.path, request.headers, body)
        )
        if isinstance(result, LeaderAnswer):
            return _passed_back(result)
        return result if isinstance(result, bytes) else orjson.dumps(result)

    def _handler(self, target: str) -> tuple[str, str, Handler]:
        prefix, dot, operation = target.partition(".")
        service, handlers = self.services.get(prefix + dot, (DYNAMODB, {}))
        handler = handlers.get(operation)
        if handler is None:
            raise UnknownOperationException(f"Unknown operation: {target or '(no X-Amz-Target header)'}")
        return service, operation, handler


def _operation(request: web.Request) -> str:
    return request.headers.get("X-Amz-Target", "").removeprefix(TARGET_PREFIX)


def _passed_back(answer: LeaderAnswer) -> bytes:
    """The body of another process's answer to a request passed to it, or its error as ours."""
    if answer.status != 200:
        raise leader_error(answer)
    return answer.body


def leader_error(answer: LeaderAnswer) -> DynamoError:
    """The leader's error answer to a forwarded request, as our own."""
    try:
        body = orjson.loads(answer.body)
        code = str(body.pop("__type")).removeprefix(ERROR_PREFIX)
        message = str(body.pop("message", body.pop("Message", "")))
    except (orjson.JSONDecodeError, KeyError, AttributeError, TypeError):
        return ServiceUnavailable(f"The leader answered HTTP {answer.status} to a forwarded request")
    error = DynamoError(message, **body)
    error.code = code
    error.status = answer.status
    return error


async def health(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    answer = {"status": "ok", "tables": len(node.store.tables), "last_lsn": node.store.last_lsn}
    if WORKER_KEY in request.app:
        answer["worker"] = request.app[WORKER_KEY]
    return web.json_response(answer, dumps=lambda v: orjson.dumps(v).decode())


async def endpoint_health(request: web.Request) -> web.Response:
    """DynamoDB's answer to ``GET /``, which load balancers and SDK health checks probe."""
    return allow_origin(request, web.Response(text=f"healthy: dynamodb.{request.app[NODE_KEY].region}.amazonaws.com"))


def build_app(
    node: Node, authenticate: Authenticator | None = None, guard: Guard = run_here,
    passthrough: Passthrough | None = None,
) -> web.Application:
    """The application with the DynamoDB endpoint (CORS included) and ``/health``; the
    composition root adds the other layers' routes to it."""
    # Bodies are read as sent and decoded by the dispatcher (api/bodies.py): the signature
    # covers the compressed bytes, and aiohttp's own decoding errors would be answered as
    # plain text before any handler could shape them.
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, handler_args={"auto_decompress": False})
    app[NODE_KEY] = node
    dispatcher = Dispatcher(node, authenticate, guard, passthrough)
    # The bound coroutine method: aiohttp wraps any other callable in a deprecated shim
    # that costs a coroutine frame per request.
    app.router.add_post("/", dispatcher.__call__)
    app.router.add_get("/", endpoint_health)
    add_cors(app)
    app.router.add_get("/health", health)
    return app


