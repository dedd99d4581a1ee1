"""Adversarial requests against a real server: every answer must be DynamoDB's.

Starts ``dynovault serve`` on a free port, creates two tables and a canary item, then sends
``--requests`` requests from ``--workers`` clients, each keeping its connection alive as
SDK connection pools do (a new one only after an answer that closes it). The requests are
drawn at random from categories: well-formed calls, bad JSON, wrong types, bad attribute
values, deep nesting, bad expressions, unicode, bad headers, raw HTTP garbage, oversized
bodies and slow clients. Each outcome is one of:

* ``ok``: a 2xx answer; ``json_4xx``: a DynamoDB error (``application/x-amz-json-1.0``,
  ``__type``, ``message``);
* ``non_json_4xx``, ``5xx``: answers that must not happen;
* ``reset``: the connection was reset, or closed before an answer on a connection the
  server had kept alive (a request lost under the client); ``timeout``: no answer within
  30 seconds;
* ``closed``: a fresh connection closed without an answer (garbage the parser could not
  answer at all).

At the end the canary item must be unchanged and the server still running. Prints a table
of outcomes per category and writes ``adversarial.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import random
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench.loadgen import parse_response
from bench.progress import done, status
from bench.report import add_out_argument, write_json
from dynovault.testing.processes import ServerProcess

CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET = "DynamoDB_20120810."
HASH, RANGE = "adv_hash", "adv_range"
CANARY_KEY = {"pk": {"S": "canary"}}
CANARY = {**CANARY_KEY, "v": {"M": {"n": {"N": "42"}, "s": {"SS": ["a", "b"]}}}}
OUTCOMES = ("ok", "json_4xx", "non_json_4xx", "5xx", "reset", "timeout", "closed")
FAILURES = ("non_json_4xx", "5xx", "reset", "timeout")
# Seconds a client waits for an answer before it counts a timeout.
ANSWER_TIMEOUT = 30.0
# Short server timeouts keep the slow-client category to seconds.
SERVER_ARGS = ["--header-timeout", "2", "--body-timeout", "2"]


@dataclass(frozen=True)
class Request:
    """Bytes to send in ``parts`` (``pause`` seconds apart: a slow client when several)."""

    category: str
    parts: tuple[bytes, ...]
    pause: float = 0.0


class Signer:
    def __init__(self, netloc: str) -> None:
        self.netloc = netloc
        self.credentials = Credentials("adversary", "adversary")

    def head(self, body: bytes, target: str, extra: dict[str, str] | None = None, length: int | None = None) -> bytes:
        headers = {"Content-Type": CONTENT_TYPE, "Host": self.netloc, "X-Amz-Target": target}
        request = AWSRequest(method="POST", url=f"http://{self.netloc}/", data=body, headers=headers)
        SigV4Auth(self.credentials, "dynamodb", "us-east-1").add_auth(request)
        lines = [f"{name}: {value}" for name, value in request.headers.items()]
        lines += [f"{name}: {value}" for name, value in (extra or {}).items()]
        lines.append(f"Content-Length: {len(body) if length is None else length}")
        return ("POST / HTTP/1.1\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")

    def call(self, category: str, operation: str, payload: object) -> Request:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        return Request(category, (self.head(body, TARGET + operation) + body,))


# ---- the categories ---------------------------------------------------------------------

def _value(rng: random.Random, depth: int = 0) -> dict:
    kind = rng.choice("SNBLMX" if depth < 3 else "SNB")
    if kind == "S":
        return {"S": rng.choice(["x", "", "é" * 10, "\u0000"])}
    if kind == "N":
        return {"N": rng.choice(["1", "1e999", "abc", "-0", "1" * 39, ""])}
    if kind == "B":
        return {"B": rng.choice(["AAAA", "!!", ""])}
    if kind == "L":
        return {"L": [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]}
    if kind == "M":
        return {"M": {str(i): _value(rng, depth + 1) for i in range(rng.randint(0, 3))}}
    return rng.choice([{"SS": []}, {"NS": ["1", "1"]}, {"S": 1}, {"BOOL": "yes"}, {}, {"S": "a", "N": "1"}, None])


def well_formed(rng: random.Random, signer: Signer) -> Request:
    key = {"pk": {"S": f"k{rng.randint(0, 50)}"}}
    choice = rng.randrange(5)
    if choice == 0:
        return signer.call("well_formed", "GetItem", {"TableName": HASH, "Key": CANARY_KEY})
    if choice == 1:
        return signer.call("well_formed", "PutItem", {"TableName": HASH, "Item": {**key, "n": {"N": str(rng.random())}}})
    if choice == 2:
        return signer.call("well_formed", "Query", {"TableName": RANGE, "KeyConditionExpression": "pk = :p",
                                                    "ExpressionAttributeValues": {":p": key["pk"]}})
    if choice == 3:
        return signer.call("well_formed", "Scan", {"TableName": HASH, "Limit": 5})
    return signer.call("well_formed", "DescribeTable", {"TableName": RANGE})


def bad_json(rng: random.Random, signer: Signer) -> Request:
    body = rng.choice([b"{", b"nope", b'{"TableName": "x",}', b"\xff\xfe", b'{"a": NaN}', b"[]", b"null", b'"s"'])
    return signer.call("bad_json", rng.choice(["GetItem", "PutItem", "Scan"]), body)


def wrong_types(rng: random.Random, signer: Signer) -> Request:
    payload = rng.choice([
        {"TableName": 5, "Key": CANARY_KEY}, {"TableName": HASH, "Key": []}, {"TableName": HASH, "Limit": "x"},
        {"TableName": HASH, "Key": CANARY_KEY, "ConsistentRead": "yes"}, {"TableName": [HASH]},
        {"TableName": HASH, "Item": "item"}, {"RequestItems": 7}, {"TableName": HASH, "Segment": -1},
    ])
    return signer.call("wrong_types", rng.choice(["GetItem", "PutItem", "Scan", "BatchGetItem"]), payload)


def bad_attribute_values(rng: random.Random, signer: Signer) -> Request:
    item = {"pk": {"S": f"bad{rng.randint(0, 9)}"}, "v": _value(rng)}
    return signer.call("bad_attribute_values", "PutItem", {"TableName": HASH, "Item": item})


def deep_nesting(rng: random.Random, signer: Signer) -> Request:
    """Values nested past DynamoDB's 32 levels, and JSON nested past any parser's limit."""
    depth = rng.choice([40, 200, 5000])
    if rng.random() < 0.5:
        value = b'{"M": {"a": ' * depth + b'{"S": "leaf"}' + b"}}" * depth
        body = b'{"TableName": "' + HASH.encode() + b'", "Item": {"pk": {"S": "deep"}, "v": ' + value + b"}}"
        return signer.call("deep_nesting", "PutItem", body)
    return signer.call("deep_nesting", "PutItem", b'{"TableName": ' + b"[" * depth + b"]" * depth + b"}")


def bad_expressions(rng: random.Random, signer: Signer) -> Request:
    expression = rng.choice([
        "pk = ", "pk = :missing", "#undefined = :v", "size(pk) > ", "attribute_exists()", "a.b.c[ = :v",
        "pk BETWEEN :v", "NOT NOT NOT", "(" * 300 + "pk = :v" + ")" * 300, "SET", "pk IN (" + ",".join([":v"] * 200) + ")",
    ])
    values = {":v": {"S": "x"}}
    if rng.random() < 0.5:
        return signer.call("bad_expressions", "Scan", {"TableName": HASH, "FilterExpression": expression,
                                                       "ExpressionAttributeValues": values})
    return signer.call("bad_expressions", "UpdateItem", {"TableName": HASH, "Key": {"pk": {"S": "expr"}},
                                                         "UpdateExpression": expression,
                                                         "ExpressionAttributeValues": values})


def unicode(rng: random.Random, signer: Signer) -> Request:
    """Text that is not valid UTF-8 (a lone surrogate, as a client's encoder may let through),
    unusual or long, as an attribute value or as the table name."""
    text = rng.choice(["\ud800", "\U0001f600" * 500, "\u202e", "名前", "\x00\x01", "é" * 70000])
    raw = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.5:
        body = b'{"TableName": "' + HASH.encode() + b'", "Item": {"pk": {"S": "u"}, "v": {"S": "' + raw + b'"}}}'
        return signer.call("unicode", "PutItem", body)
    return signer.call("unicode", "GetItem", b'{"TableName": "' + raw + b'", "Key": {"pk": {"S": "canary"}}}')


def bad_headers(rng: random.Random, signer: Signer) -> Request:
    body = orjson.dumps({"TableName": HASH, "Key": CANARY_KEY})
    extra = rng.choice([
        {f"X-H{i}": "v" for i in range(500)}, {"X-Big": "a" * 10240}, {"X-Bad\x01": "v"}, {"X-Nul": "a\x00b"},
        {"Content-Encoding": "br"}, {"Content-Encoding": "gzip"}, {"Transfer-Encoding": "chunked"},
        {"Expect": "nonsense"}, {"X-Amz-Date": "yesterday"}, {"Authorization": "AWS4-HMAC-SHA256 nonsense"},
    ])
    return Request("bad_headers", (signer.head(body, TARGET + "GetItem", extra) + body,))


def bad_content_length(rng: random.Random, signer: Signer) -> Request:
    body = orjson.dumps({"TableName": HASH, "Key": CANARY_KEY})
    length = rng.choice(["abc", "-1", "1, 2", "0x10", "99999999999999999999"])
    head = signer.head(body, TARGET + "GetItem").replace(f"Content-Length: {len(body)}".encode(),
                                                          f"Content-Length: {length}".encode())
    return Request("bad_headers", (head + body,))


def raw_http(rng: random.Random, signer: Signer) -> Request:
    garbage = rng.choice([
        b"GARBAGE\r\n\r\n", b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"POST / HTTP/9.9\r\nHost: x\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        bytes(rng.randrange(256) for _ in range(200)) + b"\r\n\r\n",
    ])
    return Request("raw_http", (garbage,))


def oversized(rng: random.Random, signer: Signer) -> Request:
    size = rng.choice([16 * 1024 * 1024 + 10, 20 * 1024 * 1024])
    body = b'{"TableName": "' + b"x" * (size - 20) + b'"}'
    if rng.random() < 0.5:
        return Request("oversized", (signer.head(body, TARGET + "PutItem") + body,))
    item = {"pk": {"S": "big"}, "v": {"S": "x" * 500_000}}
    return signer.call("oversized", "PutItem", {"TableName": HASH, "Item": item})


def slow(rng: random.Random, signer: Signer) -> Request:
    body = orjson.dumps({"TableName": HASH, "Key": CANARY_KEY})
    head = signer.head(body, TARGET + "GetItem")
    if rng.random() < 0.5:
        return Request("slow", (head[:20], head[20:40]), pause=3.0)  # a head that never completes
    return Request("slow", (head + body[:5], body[5:]), pause=3.0)  # a body that stalls


CATEGORIES: list[tuple[Callable[[random.Random, Signer], Request], float]] = [
    (well_formed, 20), (bad_json, 8), (wrong_types, 8), (bad_attribute_values, 10), (deep_nesting, 5),
    (bad_expressions, 10), (unicode, 6), (bad_headers, 8), (bad_content_length, 3), (raw_http, 8),
    (oversized, 1), (slow, 0.3),
]


def draw(rng: random.Random, signer: Signer) -> Request:
    makers, weights = zip(*CATEGORIES)
    return rng.choices(makers, weights)[0](rng, signer)


# ---- sending ----------------------------------------------------------------------------

@dataclass
class Client:
    """One keep-alive connection, reopened only after an answer that closes it."""

    port: int
    sock: socket.socket | None = None
    kept_alive: bool = False

    def send(self, request: Request) -> str:
        reused = self.sock is not None and self.kept_alive
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=ANSWER_TIMEOUT)
        try:
            for number, part in enumerate(request.parts):
                if number:
                    time.sleep(request.pause)
                self.sock.sendall(part)
            return self._outcome(reused)
        except (ConnectionResetError, BrokenPipeError):
            # The server may have answered and closed while the rest was still being sent.
            return self._outcome(reused, sending_failed=True)

    def _outcome(self, reused: bool, sending_failed: bool = False) -> str:
        buffer = bytearray()
        try:
            while (response := parse_response(buffer)) is None:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    self.close()
                    return "reset" if reused or sending_failed else "closed"
                buffer += chunk
        except ConnectionResetError:
            self.close()
            return "reset"
        except TimeoutError:
            self.close()
            return "timeout"
        self.kept_alive = response.keep_alive
        if not response.keep_alive:
            self.close()
        return classify(response.status, bytes(buffer[: response.consumed]), response.body)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.kept_alive = None, False


def classify(status: int, raw: bytes, body: bytes) -> str:
    if status < 300:
        return "ok"
    if status >= 500:
        return "5xx"
    head = raw.split(b"\r\n\r\n", 1)[0].lower()
    try:
        error = orjson.loads(body)
        shaped = isinstance(error, dict) and "__type" in error and isinstance(error.get("message"), str)
    except orjson.JSONDecodeError:
        shaped = False
    return "json_4xx" if shaped and f"content-type: {CONTENT_TYPE}".encode() in head else "non_json_4xx"


@dataclass
class Campaign:
    requests: int
    workers: int
    seed: int
    counts: dict[str, Counter] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def run(self, port: int, netloc: str, progress: Callable[[int], None] = lambda _: None) -> None:
        signer = Signer(netloc)
        lock = threading.Lock()
        remaining = iter(range(self.requests))
        sent = [0]

        def worker(number: int) -> None:
            rng = random.Random(self.seed * 1000 + number)
            client = Client(port)
            while True:
                with lock:
                    if next(remaining, None) is None:
                        break
                request = draw(rng, signer)
                outcome = client.send(request)
                with lock:
                    self.counts.setdefault(request.category, Counter())[outcome] += 1
                    if outcome in FAILURES:
                        self.examples.setdefault(outcome, []).append(repr(request.parts[0][:200]))
                    sent[0] += 1
                    progress(sent[0])
            client.close()

        threads = [threading.Thread(target=worker, args=(number,)) for number in range(self.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def totals(self) -> Counter:
        total: Counter = Counter()
        for counts in self.counts.values():
            total.update(counts)
        return total

    def failures(self) -> int:
        totals = self.totals()
        return sum(totals[outcome] for outcome in FAILURES)

    def table(self) -> str:
        lines = ["| category | " + " | ".join(OUTCOMES) + " |", "|---|" + "---:|" * len(OUTCOMES)]
        for category in sorted(self.counts):
            lines.append(f"| {category} | " + " | ".join(str(self.counts[category][o]) for o in OUTCOMES) + " |")
        totals = self.totals()
        lines.append("| **all** | " + " | ".join(f"**{totals[o]}**" for o in OUTCOMES) + " |")
        return "\n".join(lines)


def prepare(signer: Signer, port: int) -> None:
    client = Client(port)
    for name, key in ((HASH, [("pk", "HASH", "S")]), (RANGE, [("pk", "HASH", "S"), ("sk", "RANGE", "N")])):
        client.send(signer.call("setup", "CreateTable", {
            "TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": n, "KeyType": k} for n, k, _ in key],
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, _, t in key],
        }))
    assert client.send(signer.call("setup", "PutItem", {"TableName": HASH, "Item": CANARY})) == "ok"
    client.close()


def canary_intact(port: int, netloc: str) -> bool:
    signer = Signer(netloc)
    request = signer.call("check", "GetItem", {"TableName": HASH, "Key": CANARY_KEY, "ConsistentRead": True})
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request.parts[0])
        buffer = bytearray()
        while (response := parse_response(buffer)) is None:
            buffer += sock.recv(65536)
    return response.status == 200 and orjson.loads(response.body).get("Item") == CANARY


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=20_000, help="requests sent in all (default 20000)")
    parser.add_argument("--workers", type=int, default=8, help="clients sending at once (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    add_out_argument(parser)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="dynovault-adversarial-") as scratch:
        server = ServerProcess(Path(scratch) / "data", extra_args=SERVER_ARGS).start()
        try:
            netloc = f"127.0.0.1:{server.port}"
            prepare(Signer(netloc), server.port)
            campaign = Campaign(args.requests, args.workers, args.seed)
            started = time.monotonic()
            campaign.run(server.port, netloc, lambda sent: sent % 500 == 0 and status(f"{sent:,} requests"))
            elapsed = time.monotonic() - started
            intact = canary_intact(server.port, netloc)
            alive = server.process.poll() is None
        finally:
            server.stop()
    done(f"{args.requests:,} requests in {elapsed:.0f} s")
    print(campaign.table())
    print(f"\ncanary intact: {intact}; server running at the end: {alive}")
    for outcome, examples in campaign.examples.items():
        print(f"\n{outcome}: {len(examples)}, e.g. " + "; ".join(examples[:3]))
    write_json(args.out / "adversarial.json", {
        "requests": args.requests, "workers": args.workers, "seed": args.seed, "seconds": round(elapsed, 1),
        "outcomes": {category: dict(counts) for category, counts in campaign.counts.items()},
        "totals": dict(campaign.totals()), "canary_intact": intact, "server_running": alive,
    })
    return 0 if campaign.failures() == 0 and intact and alive else 1
