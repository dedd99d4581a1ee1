"""The benchmark's data and requests: ~1 KB items shaped like feature rows, and pools of
pre-built raw HTTP requests for each workload.

Requests carry a static SigV4-shaped Authorization header: the servers under test accept
any signature by default (as DynamoDB Local does), and signing per request would measure
the client instead of the server.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from bench.loadgen import CpuMeter, Progress, Response, run_closed_loop

ITEM_BYTES = 1000
BATCH_GET_KEYS = 100
BATCH_WRITE_ITEMS = 25
PRELOAD_CONNECTIONS = 8
_SIGNED_AT = datetime.now(UTC)
# The static signature every benchmark request carries (for clients other than raw_request too).
SIGNATURE_HEADERS = {
    "X-Amz-Date": f"{_SIGNED_AT:%Y%m%dT%H%M%SZ}",
    "Authorization": f"AWS4-HMAC-SHA256 Credential=bench/{_SIGNED_AT:%Y%m%d}/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64,
}
_HEAD = (
    "POST / HTTP/1.1\r\n"
    "Host: localhost\r\n"
    "Content-Type: application/x-amz-json-1.0\r\n"
    "X-Amz-Target: DynamoDB_20120810.{operation}\r\n"
    + "".join(f"{name}: {value}\r\n" for name, value in SIGNATURE_HEADERS.items())
    + "Content-Length: {length}\r\n"
    "\r\n"
)


def raw_request(operation: str, body: dict) -> bytes:
    payload = orjson.dumps(body)
    return _HEAD.format(operation=operation, length=len(payload)).encode() + payload


def key_text(index: int) -> str:
    return f"user#{index:08d}"


def key(index: int) -> dict:
    return {"pk": {"S": key_text(index)}}


def item(index: int) -> dict:
    """Item ``index``: a feature row padded to about ``ITEM_BYTES`` of wire JSON."""
    row = {
        "pk": {"S": key_text(index)},
        "event_ts": {"S": "2026-11-25 04:42:03+00:00"},
        "clicks": {"N": str(index * 7 % 10007)},
        "country": {"S": ("US", "DE", "JP", "BR")[index % 4]},
        "tags": {"SS": ["mobile", "new", "returning"]},
        "values": {"M": {f"feat{i}": {"N": str(index + i)} for i in range(10)}},
    }
    padding = ITEM_BYTES - len(orjson.dumps(row)) - len(',"payload":{"S":""}')
    row["payload"] = {"S": "x" * max(0, padding)}
    return row


def create_table_request(table: str) -> dict:
    return {
        "TableName": table,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


def preload_requests(table: str, count: int) -> list[bytes]:
    """BatchWriteItem requests that write items ``0..count-1``."""
    return [
        raw_request("BatchWriteItem", {"RequestItems": {table: [
            {"PutRequest": {"Item": item(i)}} for i in range(start, min(start + BATCH_WRITE_ITEMS, count))
        ]}})
        for start in range(0, count, BATCH_WRITE_ITEMS)
    ]


def check_batch_write(response: Response) -> str | None:
    unprocessed = orjson.loads(response.body).get("UnprocessedItems")
    return f"unprocessed items: {str(unprocessed)[:200]}" if unprocessed else None


async def write_all(name: str, port: int, pid: int, requests: list[bytes], progress: Progress) -> None:
    """Send BatchWriteItem requests over a few connections until each is answered; a
    refused or partly processed batch stops the benchmark, since its data would be wrong."""
    loaded = await run_closed_loop(
        "127.0.0.1", port, iter(requests), PRELOAD_CONNECTIONS, 0.0, float("inf"),
        CpuMeter(pid), check_batch_write, progress,
    )
    if loaded.errors:
        raise RuntimeError(f"preloading {name} failed: {loaded.first_error}")


def _get_item(table: str, count: int, rng: random.Random) -> bytes:
    return raw_request("GetItem", {"TableName": table, "Key": key(rng.randrange(count))})


def changed_item(index: int, version: int) -> dict:
    """Item ``index`` as its ``version``-th write leaves it: a PutItem that changes nothing
    is answered without writing, so a write benchmark must change what it writes."""
    return {**item(index), "clicks": {"N": str(version)}}


def changing_puts(table: str, count: int, rng: random.Random, size: int) -> list[bytes]:
    """``size`` PutItem requests, two to each of ``size // 2`` random items with different
    contents, shuffled: however often the pool is cycled, each write changes its item."""
    indexes = rng.sample(range(count), min(count, size // 2))
    pool = [raw_request("PutItem", {"TableName": table, "Item": changed_item(i, version)})
            for i in indexes for version in (1, 2)]
    rng.shuffle(pool)
    return pool


def _batch_get_item(table: str, count: int, rng: random.Random) -> bytes:
    indexes = rng.sample(range(count), min(BATCH_GET_KEYS, count))
    return raw_request("BatchGetItem", {"RequestItems": {table: {"Keys": [key(i) for i in indexes]}}})


def _gets(table: str, count: int, rng: random.Random, size: int) -> list[bytes]:
    return [_get_item(table, count, rng) for _ in range(size)]


def _batch_gets(table: str, count: int, rng: random.Random, size: int) -> list[bytes]:
    return [_batch_get_item(table, count, rng) for _ in range(size)]


def _mixed(table: str, count: int, rng: random.Random, size: int) -> list[bytes]:
    """Nine reads to a write, in random order."""
    pool = _gets(table, count, rng, size - size // 10) + changing_puts(table, count, rng, size // 10)
    rng.shuffle(pool)
    return pool


def _check_found(response: Response) -> str | None:
    return None if b'"Item"' in response.body else f"item not found: {response.body[:200]!r}"


@dataclass(frozen=True)
class Workload:
    """One kind of load: how to build its requests and how to check an answer."""

    name: str
    items_per_request: int
    build_pool: Callable[[str, int, random.Random, int], list[bytes]]
    pool_size: int
    check: Callable[[Response], str | None] | None
    batch: bool = False

    def requests(self, table: str, item_count: int, seed: int) -> list[bytes]:
        """A pool of requests over items ``0..item_count-1``, cycled by the load."""
        return self.build_pool(table, item_count, random.Random(seed), self.pool_size)


WORKLOADS = (
    Workload("GetItem", 1, _gets, 20_000, _check_found),
    Workload("BatchGetItem(100)", BATCH_GET_KEYS, _batch_gets, 1_000, None, batch=True),
    Workload("PutItem", 1, changing_puts, 10_000, None),
    Workload("90/10 get/put", 1, _mixed, 20_000, None),
)
