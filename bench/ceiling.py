"""The throughput ceiling: a bare aiohttp + uvloop server that reads each request and
answers a fixed ~1 KB DynamoDB-shaped body.

No Python server on aiohttp can be faster than this one, so Dynovault's throughput is
reported as a fraction of it. Run: ``python -m bench.ceiling --port 8001``.
"""

from __future__ import annotations

import argparse

import orjson
import uvloop
from aiohttp import web

CONTENT_TYPE = "application/x-amz-json-1.0"
FIXED_BODY = orjson.dumps({"Item": {"pk": {"S": "ceiling"}, "payload": {"S": "x" * 1000}}})


async def answer(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=FIXED_BODY, headers={"Content-Type": CONTENT_TYPE})


async def health(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def build_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/", answer)
    app.router.add_get("/health", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(build_app(), host=args.host, port=args.port, print=None, access_log=None,
                loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
