"""Leader-follower replication of the node's log.

The leader ships its replication log (``dynovault.storage.replog`` records, written in
the same WriteBatch as the data) to followers over a WebSocket; followers apply each
frame atomically under the leader's LSNs, acknowledge, and bootstrap from a streamed
RocksDB checkpoint when their log cannot continue the leader's. The log records say
what changed, never which DynamoDB operation changed it.

``install`` adds a Replicator's endpoints and lifecycle to an application; its ``guard``
is the ``dynovault.guard.Guard`` the front ends run every request through.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from dynovault.replication import protocol
from dynovault.replication.config import ReplicationConfig, Role
from dynovault.replication.lag_metrics import COLLECTOR
from dynovault.replication.replicator import Replicator

__all__ = ["ReplicationConfig", "Role", "Replicator", "install"]

REPLICATOR_KEY = web.AppKey("replicator", Replicator)


def install(app: web.Application, replicator: Replicator) -> None:
    app[REPLICATOR_KEY] = replicator
    app.on_startup.append(replicator.start)
    app.on_shutdown.append(replicator.stop)
    COLLECTOR.status = replicator.status
    app.router.add_get(protocol.STREAM_PATH, lambda request: replicator.leader.stream(request))
    app.router.add_get(protocol.CHECKPOINT_PATH, lambda request: replicator.leader.checkpoint(request))
    app.router.add_get(protocol.STATUS_PATH, _status)
    app.router.add_post(protocol.PROMOTE_PATH, _promote)
    app.router.add_post(protocol.FOLLOW_PATH, _follow)


def _json(data: dict, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda value: orjson.dumps(value).decode())


async def _status(request: web.Request) -> web.Response:
    return _json(request.app[REPLICATOR_KEY].status())


def _decided_by_etcd(replicator: Replicator) -> web.Response | None:
    if replicator.coordinator is None:
        return None
    return _json({"message": "in cluster mode etcd decides who leads: roles are not changed by hand"}, status=409)


async def _promote(request: web.Request) -> web.Response:
    replicator = request.app[REPLICATOR_KEY]
    return _decided_by_etcd(replicator) or _json(await replicator.promote())


async def _follow(request: web.Request) -> web.Response:
    if (refused := _decided_by_etcd(request.app[REPLICATOR_KEY])) is not None:
        return refused
    try:
        leader_url = (await request.json(loads=orjson.loads))["leader"]
        if not isinstance(leader_url, str) or not leader_url.startswith(("http://", "https://")):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return _json({"message": 'expected a JSON body {"leader": "http://host:port"}'}, status=400)
    return _json(await request.app[REPLICATOR_KEY].follow(leader_url))
