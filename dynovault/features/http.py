"""The feature routes on the DynamoDB server: Feast's feature-server API over local storage.

Errors are JSON ``{"error": kind, "detail": message}`` with a 4xx status: the caller is an
ML service, not a DynamoDB SDK, so DynamoDB's error envelope does not apply here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
from aiohttp import web

from dynovault.errors import DynamoError
from dynovault.features.definitions import (
    DefinitionError,
    Definitions,
    DefinitionsFile,
    FeatureView,
)
from dynovault.features.serving import FeatureRequestError, get_online_features
from dynovault.features.writes import (
    FeatureWriteError,
    MicroBatcher,
    feature_rows,
    write_rows,
)
from dynovault.guard import Forwardable, Guard, LeaderAnswer, run_here
from dynovault.node import Node

log = logging.getLogger(__name__)

JSON = "application/json"
Handler = Callable[[web.Request], Awaitable[web.Response]]


def error_response(status: int, kind: str, detail: str) -> web.Response:
    return web.Response(body=orjson.dumps({"error": kind, "detail": detail}), status=status, content_type=JSON)


class FeatureLayer:
    """What the feature routes share: the node's store and the definition file."""

    def __init__(self, node: Node, definitions_path: Path) -> None:
        self.node = node
        self.definitions_file = DefinitionsFile(definitions_path)
        self.push_batcher = MicroBatcher(node)

    def definitions(self) -> Definitions:
        try:
            definitions = self.definitions_file.current()
        except DefinitionError as error:
            raise FeatureRequestError(f"feature definitions unusable: {error}", 503) from None
        if definitions is None:
            raise FeatureRequestError(
                f"no feature definitions at {self.definitions_file.path}: "
                "run 'dynovault features sync' or write the file by hand",
                503,
            )
        return definitions

    async def get_online_features(self, request: web.Request) -> web.Response:
        body = await request.read()
        answer = get_online_features(self.node.store, self.definitions(), body)
        return web.Response(body=answer, content_type=JSON)

    async def push(self, request: web.Request) -> web.Response:
        """Feast's push: rows of a push source, to every view it feeds, micro-batched."""
        arrived = time.time()
        body = await _json_object(request, ("push_source_name", "df"))
        if body.get("to", "online") != "online":
            raise FeatureRequestError("this server is an online store only: push with \"to\": \"online\"")
        definitions = self.definitions()
        source = body["push_source_name"]
        views = definitions.push_sources.get(source)
        if views is None:
            raise FeatureRequestError(f"unknown push source {source!r}", 404)
        written = 0
        for name in views:
            view = definitions.feature_views[name]
            rows = _rows(view, body["df"])
            written += await write_rows(self.node, view, rows, "push", arrived, self.push_batcher)
        return web.Response(body=orjson.dumps({"written": written}), content_type=JSON)

    async def write_to_online_store(self, request: web.Request) -> web.Response:
        """Direct writes of precomputed features (Feast's /write-to-online-store)."""
        arrived = time.time()
        body = await _json_object(request, ("feature_view_name", "df"))
        view = self._view(body["feature_view_name"])
        written = await write_rows(self.node, view, _rows(view, body["df"]), "direct", arrived)
        return web.Response(body=orjson.dumps({"written": written}), content_type=JSON)

    def _view(self, name: str) -> FeatureView:
        view = self.definitions().feature_views.get(name)
        if view is None:
            raise FeatureRequestError(f"unknown feature view {name!r}", 404)
        return view


async def _json_object(request: web.Request, required: tuple[str, ...]) -> dict:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as error:
        raise FeatureRequestError(f"request body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise FeatureRequestError("request body must be a JSON object")
    missing = [name for name in required if name not in body]
    if missing:
        raise FeatureRequestError(f"request is missing {', '.join(missing)}")
    return body


def _rows(view: FeatureView, df: object) -> list:
    if not isinstance(df, dict) or not all(isinstance(column, list) for column in df.values()):
        raise FeatureRequestError("'df' must be an object of column name -> list of values")
    try:
        return feature_rows(view, df)
    except FeatureWriteError as error:
        raise FeatureRequestError(str(error)) from None


def _placed(operation: str, guard: Guard, handler: Handler) -> Handler:
    """Writes belong to the leader: the guard runs the handler here, hands the request to
    the leader unchanged (a follower), refuses (a fenced former leader), or holds the
    answer until enough followers have the rows (synchronous replication)."""

    async def placed(request: web.Request) -> web.Response:
        forwardable = Forwardable(request.path, request.headers, await request.read())
        result = await guard(operation, {}, lambda: handler(request), forwardable)
        if isinstance(result, LeaderAnswer):
            return web.Response(body=result.body, status=result.status, content_type=JSON)
        return result

    return placed


def _guarded(handler: Handler) -> Handler:
    """Turn refusals into clear 4xx answers and anything unexpected into a logged 500."""

    async def guarded(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except FeatureRequestError as error:
            return error_response(error.status, "FeatureRequestError", str(error))
        except FeatureWriteError as error:
            return error_response(400, "FeatureRequestError", str(error))
        except DynamoError as error:
            return error_response(error.status, error.code, error.message)
        except web.HTTPRequestEntityTooLarge as error:
            return error_response(413, "RequestEntityTooLarge", error.text or "request body too large")
        except Exception:
            log.exception("feature request failed", extra={"path": request.path})
            return error_response(500, "InternalError", "internal error")

    return guarded


def add_routes(
    app: web.Application, node: Node, definitions_path: Path, guard: Guard = run_here, writable: bool = True
) -> FeatureLayer:
    """Serving, and unless ``writable`` is False (a read-only reader process), the write
    lanes, each run where ``guard`` places it."""
    layer = FeatureLayer(node, definitions_path)
    app.router.add_post("/get-online-features", _guarded(layer.get_online_features))
    if writable:
        app.router.add_post("/push", _guarded(_placed("features:push", guard, layer.push)))
        app.router.add_post(
            "/write-to-online-store",
            _guarded(_placed("features:write-to-online-store", guard, layer.write_to_online_store)),
        )
    return layer
