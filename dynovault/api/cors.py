"""CORS on the DynamoDB endpoint, as DynamoDB answers browsers (the AWS SDK for
JavaScript calls it from web pages): a preflight ``OPTIONS /`` is answered unsigned,
allowing whatever method and headers it asks for, for two days; every answer to a
request carrying an ``Origin`` allows any origin and exposes the headers the SDK reads.
Signatures, not cookies, authenticate, so allowing any origin lends a page no rights."""

from __future__ import annotations

from aiohttp import web

EXPOSED_HEADERS = "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date"
PREFLIGHT_MAX_AGE = "172800"
# What a preflight asks for, and the header that allows it.
_ALLOWED_AS_ASKED = (
    ("Access-Control-Request-Headers", "Access-Control-Allow-Headers"),
    ("Access-Control-Request-Method", "Access-Control-Allow-Methods"),
)


async def preflight(request: web.Request) -> web.Response:
    headers = {}
    if "Origin" in request.headers:
        headers["Access-Control-Allow-Origin"] = "*"
        for asked, allowed in _ALLOWED_AS_ASKED:
            if asked in request.headers:
                headers[allowed] = request.headers[asked]
        headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return web.Response(headers=headers)


def allow_origin(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """An answer of the endpoint, with the headers a browser's request (one with an
    ``Origin``) needs to read it. The endpoint's handlers call this themselves: an
    ``on_response_prepare`` hook would cost every answer of the server a signal dispatch."""
    if "Origin" in request.headers:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return response


def add_cors(app: web.Application) -> None:
    app.router.add_route("OPTIONS", "/", preflight)
