"""The few etcd v3 calls cluster mode needs, over etcd's own JSON gateway.

etcd serves its v3 API as JSON over HTTP (``/v3/kv/range``, ``/v3/kv/txn``,
``/v3/lease/grant``, ``/v3/lease/keepalive``, ``/v3/lease/revoke``) beside gRPC, from
the same port. Speaking it with the aiohttp session the node already has costs no new
dependency and no second event-loop integration (an asyncio gRPC client would bring
grpcio and protobuf); keys and values travel base64-encoded, numbers as strings.

``EtcdClient`` tries the endpoints it was given in turn, so a node keeps its lease
through the loss of one member of a three-node etcd cluster.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import orjson

REQUEST_TIMEOUT = 1.0


class EtcdUnavailable(Exception):
    """No endpoint answered."""


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    mod_revision: int
    lease: int

    def json(self) -> dict:
        return orjson.loads(self.value)


def parse_endpoints(url: str) -> list[str]:
    """``etcd://host:port[,host:port...]`` as HTTP base URLs."""
    parts = urlsplit(url)
    if parts.scheme not in ("etcd", "etcds") or not parts.netloc:
        raise ValueError(f"expected etcd://HOST:PORT[,HOST:PORT...], not {url!r}")
    scheme = "https" if parts.scheme == "etcds" else "http"
    return [f"{scheme}://{host}" for host in parts.netloc.split(",") if host]


def _b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def prefix_end(prefix: str) -> str:
    """The range end covering every key that starts with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def put(key: str, value: bytes, lease: int = 0) -> dict:
    """A put operation for ``txn``."""
    request = {"key": _b64(key), "value": _b64(value)}
    if lease:
        request["lease"] = str(lease)
    return {"request_put": request}


def unchanged_since(key: str, mod_revision: int) -> dict:
    """A txn comparison: ``key`` was last written at ``mod_revision`` (0: it does not exist)."""
    return {"key": _b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(mod_revision)}


class EtcdClient:
    def __init__(self, endpoints: list[str], session: aiohttp.ClientSession) -> None:
        self.endpoints = list(endpoints)
        self._session = session

    async def _call(self, path: str, body: dict) -> dict:
        """POST to the first endpoint that answers; the one that did is tried first next time."""
        failures = []
        for _ in range(len(self.endpoints)):
            endpoint = self.endpoints[0]
            try:
                async with self._session.post(endpoint + path, data=orjson.dumps(body),
                                              timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as reply:
                    answer = orjson.loads(await reply.read())
                    if reply.status != 200:
                        raise EtcdUnavailable(f"{endpoint}{path}: {reply.status} {str(answer)[:300]}")
                    return answer
            except (aiohttp.ClientError, OSError, TimeoutError, orjson.JSONDecodeError) as error:
                failures.append(f"{endpoint}: {type(error).__name__}")
                self.endpoints.append(self.endpoints.pop(0))
        raise EtcdUnavailable("no etcd endpoint answered (" + ", ".join(failures) + ")")

    async def grant(self, ttl: int) -> tuple[int, int]:
        answer = await self._call("/v3/lease/grant", {"TTL": str(ttl)})
        return int(answer["ID"]), int(answer["TTL"])

    async def keepalive(self, lease: int) -> int:
        """The lease's remaining TTL in seconds after the refresh; 0 once it expired."""
        answer = await self._call("/v3/lease/keepalive", {"ID": str(lease)})
        return int(answer.get("result", {}).get("TTL", 0))

    async def revoke(self, lease: int) -> None:
        await self._call("/v3/lease/revoke", {"ID": str(lease)})

    async def range_prefix(self, prefix: str) -> dict[str, KeyValue]:
        answer = await self._call("/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix))})
        return {kv.key: kv for kv in map(_key_value, answer.get("kvs", []))}

    async def txn(self, compare: list[dict], success: list[dict]) -> tuple[bool, int]:
        """Run ``success`` if every comparison holds: whether it ran, and the revision it
        made (the store's revision when it did not run)."""
        answer = await self._call("/v3/kv/txn", {"compare": compare, "success": success})
        return bool(answer.get("succeeded")), int(answer.get("header", {}).get("revision", 0))

    async def put(self, key: str, value: bytes, lease: int = 0) -> None:
        await self._call("/v3/kv/put", put(key, value, lease)["request_put"])


def _key_value(raw: dict) -> KeyValue:
    return KeyValue(
        base64.b64decode(raw["key"]).decode(),
        base64.b64decode(raw.get("value", "")),
        int(raw.get("mod_revision", 0)),
        int(raw.get("lease", 0)),
    )
