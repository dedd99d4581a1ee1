"""HTTP connections of the node: every answer DynamoDB-shaped, slow clients bounded, and
no connection closed under a client that has not read its answer.

aiohttp answers what its parser refuses (a malformed request line, too many or too long
headers, an invalid header character, a bad ``Content-Length``) and what its router does
not serve (wrong path or method) as plain text; here they are DynamoDB errors
(``application/x-amz-json-1.0``, ``__type``, ``message``), because SDKs read the error
code from the body.

Resets come from closing a socket that still holds unread request bytes: the kernel then
sends RST instead of FIN, and the client loses the answer it was about to read (or, when
the answer said keep-alive, its next request). So every answer after which the connection
closes carries ``Connection: close``; then the node half-closes (FIN after the answer) and
discards what still arrives for ``linger`` seconds, until the client closes its side.

Slow clients cannot hold the node: a request head must arrive within ``header_timeout``
of its first byte, a body may stall at most ``body_timeout``, an idle keep-alive
connection closes after ``idle_timeout``, and connections beyond ``max_connections`` are
answered ``ServiceUnavailable`` (which SDKs retry with backoff) and closed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from dynovault.api.server import CONTENT_TYPE, error_response, raw_error_answer
from dynovault.errors import (
    DynamoError,
    InternalServerError,
    RequestEntityTooLarge,
    RequestTimeoutException,
    SerializationException,
    ServiceUnavailable,
    UnknownOperationException,
    ValidationException,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionLimits:
    """What one connection may cost the node; ``dynovault serve`` documents each default."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 75.0
    max_connections: int = 1024
    linger: float = 2.0

    @property
    def check_interval(self) -> float:
        """How often a connection's timeouts are looked at: a timeout fires within a
        quarter of itself late, at one timer per connection, not one per read."""
        return min(self.header_timeout, self.body_timeout) / 4


def http_error(status: int, method: str, path: str, detail: str) -> DynamoError:
    """A refusal made below the DynamoDB endpoint (the HTTP parser, the router, a handler
    that failed), as the DynamoDB error clients know."""
    if status in (404, 405):
        error: DynamoError = UnknownOperationException(
            f"Nothing is served at {method} {path}: DynamoDB requests are POST /"
        )
        error.status = status
        return error
    if status == 413:
        return RequestEntityTooLarge("Request Entity Too Large")
    if status == 400:
        return SerializationException(f"Could not read the HTTP request: {detail}")
    if status < 500:
        error = ValidationException(detail)
        error.status = status
        return error
    return InternalServerError("Internal server error")


def _first_line(text: str, limit: int = 200) -> str:
    """aiohttp's parser messages quote the offending bytes on further lines."""
    line = text.strip().splitlines()[0].rstrip(":") if text.strip() else "malformed request"
    return line if len(line) <= limit else line[:limit] + "..."


class Connections(web.Server):
    """aiohttp's connection factory, making ``Connection`` protocols and counting them."""

    def __init__(self, *args: Any, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.open = 0

    def __call__(self) -> Connection:
        return Connection(self, loop=self._loop, limits=self.limits, **self._kwargs)


class Connection(RequestHandler):
    """One client connection: aiohttp's protocol with DynamoDB-shaped refusals, timeouts
    and closes that never cut off an answer."""

    __slots__ = ("_limits", "_last_read", "_head_since", "_watch", "_gone")

    def __init__(self, manager: Connections, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        # Bodies left unread are drained by _linger, after an answer that closes.
        super().__init__(manager, lingering_time=0.0, keepalive_timeout=limits.idle_timeout, **kwargs)
        self._limits = limits
        self._last_read = 0.0
        self._head_since: float | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._gone: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        manager: Connections = self._manager  # type: ignore[assignment]
        manager.open += 1
        if manager.open > self._limits.max_connections:
            self._request_handler = _over_capacity
        self._last_read = self._loop.time()
        self._watch = self._loop.call_later(self._limits.check_interval, self._check_timeouts)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._manager is not None:
            self._manager.open -= 1  # type: ignore[attr-defined]
        if self._watch is not None:
            self._watch.cancel()
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        now = self._last_read = self._loop.time()
        if self._head_since is None and not self._request_in_progress:
            self._head_since = now
        super().data_received(data)
        if self._messages:
            self._head_since = None
            if self._request_in_progress:
                self._fail_body_in_progress()

    def _fail_body_in_progress(self) -> None:
        """The parser refused what followed a request head (a broken chunk): it queued the
        refusal as a message of its own, so the body being read would wait forever."""
        request = self._current_request
        message, _payload = self._messages[-1]
        if request is not None and not request.content.is_eof() and getattr(message, "exc", None) is not None:
            request.content.set_exception(web.RequestPayloadError(_first_line(message.exc.message)))

    def _check_timeouts(self) -> None:
        now = self._loop.time()
        limits = self._limits
        request = self._current_request
        if request is not None:
            if not request.content.is_eof() and now - self._last_read >= limits.body_timeout:
                # The handler reading it gets the refusal itself (the dispatcher answers it).
                request.content.set_exception(RequestTimeoutException(
                    f"The request body stalled for more than {limits.body_timeout:g} seconds"
                ))
        elif self._head_since is not None and not self._messages and now - self._head_since >= limits.header_timeout:
            self._refuse_slow_head()
            return
        self._watch = self._loop.call_later(limits.check_interval, self._check_timeouts)

    def _refuse_slow_head(self) -> None:
        """No request to answer yet: the refusal is written as raw bytes, then the close."""
        transport: asyncio.Transport | None = self.transport  # type: ignore[assignment]
        if transport is None or transport.is_closing():
            return
        seconds = self._limits.header_timeout
        transport.write(raw_error_answer(RequestTimeoutException(
            f"The request head was not received within {seconds:g} seconds"
        )))
        self.close()
        self._half_close(transport)
        self._loop.call_later(self._limits.linger, self.force_close)

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        """aiohttp's answer to what its parser refused (status 400) or a handler failed at
        (500), as a DynamoDB error; the connection closes after it."""
        if request.writer.output_size > 0:
            raise ConnectionError("An answer was already under way; the connection closes")
        if isinstance(exc, DynamoError):
            error: DynamoError = exc
        elif isinstance(exc, HttpProcessingError):
            error = http_error(status, "", "", _first_line(exc.message or message or ""))
        else:
            error = http_error(status, request.method, request.path, _first_line(message or ""))
        if error.status >= 500:
            log.error("internal error", exc_info=exc, extra={"remote": request.remote, "path": request.path})
        elif log.isEnabledFor(logging.DEBUG):
            log.debug("refused", extra={"remote": request.remote, "code": error.code, "reason": error.message})
        response = error_response(error)
        response.force_close()
        return response

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        if isinstance(resp, web.HTTPException) and resp.status >= 400 and resp.content_type != CONTENT_TYPE:
            resp = _as_dynamodb_error(request, resp)
        if self._close or not request.content.is_eof():
            # Shutting down, or a body left unread: no reuse of this connection.
            resp.force_close()
        answered = await super().finish_response(request, resp, start_time)
        if not resp.keep_alive:
            await self._linger()
        return answered

    async def _linger(self) -> None:
        """FIN after the answer, then discard what the client still sends (data_received
        drops it once the connection is closing) until it closes or ``linger`` passes."""
        transport: asyncio.Transport | None = self.transport  # type: ignore[assignment]
        if transport is None or transport.is_closing():
            return
        self.close()
        self._gone = self._loop.create_future()
        self._half_close(transport)
        try:
            async with asyncio.timeout(self._limits.linger):
                await self._gone
        except TimeoutError:
            pass

    @staticmethod
    def _half_close(transport: asyncio.Transport) -> None:
        # TLS cannot half-close; its client sees the close after the linger.
        if transport.can_write_eof():
            transport.write_eof()


def _as_dynamodb_error(request: web.BaseRequest, resp: web.HTTPException) -> web.Response:
    answer = error_response(http_error(resp.status, request.method, request.path, resp.reason))
    if "Allow" in resp.headers:
        answer.headers["Allow"] = resp.headers["Allow"]
    return answer


async def _over_capacity(request: web.BaseRequest) -> web.StreamResponse:
    response = error_response(ServiceUnavailable("The node serves as many connections as it may; retry later"))
    response.force_close()
    return response


class LimitedAppRunner(web.AppRunner):
    """An AppRunner whose connections are ``Connection`` protocols under ``limits``."""

    def __init__(self, app: web.Application, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.limits = limits

    async def _make_server(self) -> web.Server:
        # AppRunner's own steps (startup hooks, freeze), then the server with our protocol.
        plain = await super()._make_server()
        return Connections(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            limits=self.limits,
            **plain._kwargs,
        )
