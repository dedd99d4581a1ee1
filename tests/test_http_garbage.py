"""HTTP garbage and slow clients over raw sockets: every case gets a DynamoDB-shaped
answer (``application/x-amz-json-1.0``, ``__type``, ``message``) and, when the connection
closes, a clean close (FIN, never a reset); meanwhile well-formed requests on other
connections are answered.

The server has short timeouts of its own, so slow clients are refused within seconds.
"""

from __future__ import annotations

import select
import socket
import time
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynovault.testing.processes import ServerProcess
from tests.rawhttp import (
    CONTENT_TYPE,
    ERROR_PREFIX,
    RawClient,
    Reply,
    SocketOutcome,
    read_answer,
    send_raw,
)

LIMITS = ["--header-timeout", "1", "--body-timeout", "1", "--idle-timeout", "3", "--max-connections", "40"]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("garbage") / "data", extra_args=LIMITS).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def good(node):
    client = RawClient(node.url)
    yield client
    client.close()


def signed_head(good: RawClient, body: bytes = b"{}", target: str = "ListTables") -> bytes:
    """A well-formed request's request line and headers, without Content-Length and the
    blank line, so a case can add its own."""
    headers = good.signed_headers(body, {"Content-Type": CONTENT_TYPE, "Host": good.netloc,
                                         "X-Amz-Target": f"DynamoDB_20120810.{target}"})
    return b"POST / HTTP/1.1\r\n" + b"".join(f"{name}: {value}\r\n".encode() for name, value in headers.items())


def assert_dynamodb_error(reply: Reply | None, status: int, code: str) -> None:
    assert reply is not None
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"] == CONTENT_TYPE
    assert reply.headers["x-amzn-RequestId"]
    assert int(reply.headers["x-amz-crc32"]) == zlib.crc32(reply.body)
    body = reply.json()
    assert body["__type"] == ERROR_PREFIX + code, body
    assert isinstance(body["message"], str) and body["message"]


def assert_answered_and_closed(outcome: SocketOutcome, status: int, code: str) -> None:
    assert_dynamodb_error(outcome.answer, status, code)
    assert outcome.end == "eof"


def assert_serving(good: RawClient) -> None:
    reply = good.call("ListTables", {})
    assert reply.status == 200, reply.body


# ---- what the HTTP parser refuses -------------------------------------------------------

HEAD_GARBAGE = {
    "too many headers": b"".join(b"X-H%d: v\r\n" % number for number in range(500)),
    "a 10 KB header": b"X-Big: " + b"a" * 10240 + b"\r\n",
    "an invalid header character": b"X-Bad\x01: v\r\n",
    "a NUL in a header value": b"X-Amz-Target: DynamoDB_20120810.List\x00Tables\r\n",
    "a folded header line": b"X-F: a\r\n b\r\n",
    "Transfer-Encoding with Content-Length": b"Transfer-Encoding: chunked\r\n",
}


@pytest.mark.parametrize("case", sorted(HEAD_GARBAGE))
def test_header_garbage_is_a_serialization_error(node, good, case):
    request = signed_head(good) + HEAD_GARBAGE[case] + b"Content-Length: 2\r\n\r\n{}"
    assert_answered_and_closed(send_raw(node.port, [request]), 400, "SerializationException")
    assert_serving(good)


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1, 2", b"0x10"])
def test_a_bad_content_length_is_a_serialization_error(node, good, length):
    request = signed_head(good) + b"Content-Length: " + length + b"\r\n\r\n{}"
    assert_answered_and_closed(send_raw(node.port, [request]), 400, "SerializationException")
    assert_serving(good)


@pytest.mark.parametrize("line", [b"GARBAGE", b"POST / HTTP/9.9", b"PRI * HTTP/2.0", b"\x16\x03\x01\x02\x00\x01\x00"])
def test_a_malformed_request_line_is_a_serialization_error(node, good, line):
    outcome = send_raw(node.port, [line + b"\r\nHost: x\r\n\r\n"])
    assert_answered_and_closed(outcome, 400, "SerializationException")
    assert_serving(good)


def test_a_refused_head_followed_by_a_large_body_still_gets_its_answer(node, good):
    """The body the server never reads is discarded, not left in the socket: closing over
    unread bytes would reset the connection before the client read its answer."""
    request = signed_head(good) + HEAD_GARBAGE["too many headers"] + b"Content-Length: 4000000\r\n\r\n"
    outcome = send_raw(node.port, [request, b" " * 4_000_000])
    assert_answered_and_closed(outcome, 400, "SerializationException")


# ---- what the router does not serve -----------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("POST", "/nope"), ("DELETE", "/x/y")])
def test_a_wrong_path_is_an_unknown_operation(node, good, method, path):
    request = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode()
    outcome = send_raw(node.port, [request])
    assert_dynamodb_error(outcome.answer, 404, "UnknownOperationException")
    assert outcome.keep_alive


def test_a_wrong_method_is_an_unknown_operation(node, good):
    outcome = send_raw(node.port, [b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"])
    assert_dynamodb_error(outcome.answer, 405, "UnknownOperationException")
    assert "POST" in outcome.answer.headers["Allow"]


# ---- bodies -----------------------------------------------------------------------------

def test_a_declared_length_over_16_mb_is_refused_unread(node, good):
    request = signed_head(good) + b"Content-Length: 99999999999\r\n\r\n"
    assert_answered_and_closed(send_raw(node.port, [request, b"{}"]), 413, "RequestEntityTooLarge")
    assert_serving(good)


def test_a_broken_chunk_after_the_head_is_a_serialization_error(node, good):
    head = signed_head(good) + b"Transfer-Encoding: chunked\r\n\r\n"
    outcome = send_raw(node.port, [head, b"zz\r\n{}\r\n0\r\n\r\n"])
    assert_answered_and_closed(outcome, 400, "SerializationException")
    assert_serving(good)


# ---- slow clients -----------------------------------------------------------------------

def test_a_stalled_body_times_out_while_others_are_served(node, good):
    with socket.create_connection(("127.0.0.1", node.port), timeout=30) as sock:
        sock.sendall(signed_head(good) + b"Content-Length: 100\r\n\r\n{")
        assert_serving(good)
        assert_answered_and_closed(read_answer(sock), 408, "RequestTimeoutException")


def test_a_slow_head_times_out_while_others_are_served(node, good):
    with socket.create_connection(("127.0.0.1", node.port), timeout=30) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + 30
        while not select.select([sock], [], [], 0.3)[0] and time.monotonic() < deadline:
            assert_serving(good)
            sock.sendall(b"X-Slow: 1\r\n")  # a header now and then does not keep it open
        assert_answered_and_closed(read_answer(sock), 408, "RequestTimeoutException")


def test_an_idle_keep_alive_connection_is_closed_cleanly(node, good):
    with socket.create_connection(("127.0.0.1", node.port), timeout=30) as sock:
        sock.sendall(signed_head(good) + b"Content-Length: 2\r\n\r\n{}")
        assert read_answer(sock).keep_alive
        started = time.monotonic()
        assert sock.recv(1) == b""
        assert time.monotonic() - started >= 2


def test_connections_over_the_cap_are_answered_503_and_closed(node, good):
    held = [socket.create_connection(("127.0.0.1", node.port), timeout=30) for _ in range(45)]
    try:
        outcomes = []
        for sock in held[-5:]:
            sock.sendall(signed_head(good) + b"Content-Length: 2\r\n\r\n{}")
            outcomes.append(read_answer(sock))
        refused = [outcome for outcome in outcomes if outcome.answer and outcome.answer.status == 503]
        assert refused
        for outcome in refused:
            assert_answered_and_closed(outcome, 503, "ServiceUnavailable")
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reply = good.call("ListTables", {})
        if reply.status == 200:
            break
        time.sleep(0.1)
    assert reply.status == 200


# ---- anything at all --------------------------------------------------------------------

_TOKENS = st.sampled_from([b"POST", b"GET", b"PUT", b"OPTIONS", b"DELETE", b"P\x00ST", b"\xff", b""])
_PATHS = st.sampled_from([b"/", b"/nope", b"/health", b"/metrics", b"*", b"", b"/%zz", b"/" + b"a" * 9000])
_VERSIONS = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"HTP/1.1", b""])
_HEADER_BYTES = st.binary(max_size=40) | st.sampled_from([b"Content-Length", b"Transfer-Encoding", b"X-Amz-Target"])
_VALUES = st.binary(max_size=60) | st.sampled_from([b"chunked", b"gzip", b"-1", b"DynamoDB_20120810.ListTables"])
_HEADERS = st.lists(st.tuples(_HEADER_BYTES, _VALUES), max_size=8)


@st.composite
def http_requests(draw) -> bytes:
    """Complete requests (head and a body of the declared length) with anything inside."""
    line = draw(_TOKENS) + b" " + draw(_PATHS) + b" " + draw(_VERSIONS)
    head = b"".join(name + b": " + value + b"\r\n" for name, value in draw(_HEADERS))
    body = draw(st.binary(max_size=200))
    return line + b"\r\nHost: x\r\n" + head + b"Content-Length: %d\r\n\r\n" % len(body) + body


@given(request=http_requests())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
def test_any_request_gets_a_dynamodb_shaped_answer(node, good, request):
    outcome = send_raw(node.port, [request])
    assert outcome.end != "reset"
    answer = outcome.answer
    assert answer is not None
    assert answer.status < 500, answer.body
    if answer.status >= 400:
        assert answer.headers["Content-Type"] == CONTENT_TYPE, answer.body
        assert answer.json()["__type"].startswith(ERROR_PREFIX)
