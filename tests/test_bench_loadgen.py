"""The load generator behind ``python -m bench load``: response framing, and both load
shapes against a real ceiling server process."""

from __future__ import annotations

import asyncio
import itertools
import sys

import pytest

from bench.loadgen import CpuMeter, parse_response, run_closed_loop, run_open_loop
from bench.workloads import raw_request
from dynovault.testing.processes import CommandServer


def test_content_length_framing_waits_for_the_whole_body() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: x\r\nContent-Length: 5\r\n\r\nhello"
    assert parse_response(bytearray(answer[:-1])) is None
    response = parse_response(bytearray(answer + b"HTTP/1.1 200"))
    assert (response.status, response.body, response.keep_alive, response.consumed) == (200, b"hello", True, len(answer))


def test_chunked_framing() -> None:
    answer = b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    assert parse_response(bytearray(answer[:-2])) is None
    response = parse_response(bytearray(answer))
    assert (response.status, response.body, response.consumed) == (400, b"abcde", len(answer))


@pytest.mark.parametrize(
    "head",
    [b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0", b"HTTP/1.0 200 OK\r\nContent-Length: 0"],
    ids=["connection-close", "http-1.0"],
)
def test_connection_that_will_close(head: bytes) -> None:
    assert parse_response(bytearray(head + b"\r\n\r\n")).keep_alive is False


@pytest.fixture(scope="module")
def ceiling(tmp_path_factory):
    server = CommandServer(
        "ceiling", [sys.executable, "-m", "bench.ceiling", "--port", "{port}"], tmp_path_factory.mktemp("ceiling"),
        ready_path="/health",
    ).start()
    yield server
    server.stop()


def _requests():
    return itertools.cycle([raw_request("GetItem", {"TableName": "bench", "Key": {"pk": {"S": "a"}}})])


def test_closed_loop_counts_answers_and_checks_them(ceiling) -> None:
    refusals = iter(["wrong answer"])

    def check(_response) -> str | None:
        return next(refusals, None)

    measurement = asyncio.run(run_closed_loop(
        "127.0.0.1", ceiling.port, _requests(), connections=4, warmup=0.0, duration=0.5,
        meter=CpuMeter(ceiling.process.pid), on_answer=check,
    ))
    assert measurement.requests > 0 and measurement.errors == 1
    assert measurement.first_error == "wrong answer"
    assert measurement.server_cpu_seconds > 0 and len(measurement.latencies) == measurement.requests


def test_closed_loop_sends_a_finite_request_list_once(ceiling) -> None:
    measurement = asyncio.run(run_closed_loop(
        "127.0.0.1", ceiling.port, iter(list(itertools.islice(_requests(), 50))), connections=4,
        warmup=0.0, duration=float("inf"), meter=CpuMeter(ceiling.process.pid),
    ))
    assert (measurement.requests, measurement.errors) == (50, 0)


def test_open_loop_sends_at_the_rate_asked(ceiling) -> None:
    measurement = asyncio.run(run_open_loop(
        "127.0.0.1", ceiling.port, _requests(), rate=200, warmup=0.1, duration=0.5,
        meter=CpuMeter(ceiling.process.pid),
    ))
    assert 80 <= measurement.requests <= 101 and measurement.errors == 0
    assert measurement.percentile_ms(0.5) <= measurement.percentile_ms(0.99)


def test_refused_requests_are_errors(ceiling) -> None:
    not_found = itertools.cycle([b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n"])
    measurement = asyncio.run(run_closed_loop(
        "127.0.0.1", ceiling.port, not_found, connections=2, warmup=0.0, duration=0.3,
        meter=CpuMeter(ceiling.process.pid),
    ))
    assert measurement.requests == measurement.errors > 0
    assert measurement.first_error.startswith("HTTP 404")
