"""The feature routes on the DynamoDB server: Feast's feature-server API over local storage.

Errors are JSON ``{"error": kind, "detail": message}`` with a 4xx status: the caller is an
ML service, not a DynamoDB SDK, so DynamoDB's error envelope does not apply here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
from aiohttp import web

from dynovault.api.node import Node
from dynovault.features.definitions import DefinitionError, Definitions, DefinitionsFile
from dynovault.features.serving import FeatureRequestError, get_online_features

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


def _guarded(handler: Handler) -> Handler:
    """Turn refusals into clear 4xx answers and anything unexpected into a logged 500."""

    async def guarded(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except FeatureRequestError as error:
            return error_response(error.status, "FeatureRequestError", str(error))
        except web.HTTPRequestEntityTooLarge as error:
            return error_response(413, "RequestEntityTooLarge", error.text or "request body too large")
        except Exception:
            log.exception("feature request failed", extra={"path": request.path})
            return error_response(500, "InternalError", "internal error")

    return guarded


def add_routes(app: web.Application, node: Node, definitions_path: Path) -> FeatureLayer:
    layer = FeatureLayer(node, definitions_path)
    app.router.add_post("/get-online-features", _guarded(layer.get_online_features))
    return layer
