"""Micro benchmarks of the whole request path (``pytest bench/test_micro_request_path.py``):
raw HTTP request bytes in, raw answer bytes out, through the application ``dynovault
serve`` runs (``bench.inprocess``), with no sockets. The bare aiohttp ceiling of
``bench.ceiling`` runs through the same driver, so the difference between the two is what
Dynovault adds to a request beyond aiohttp itself.

Each timed round sends ``REQUESTS_PER_ROUND`` requests one after another on one
keep-alive connection inside one event-loop run (entering the loop costs more than a
request), so the times pytest-benchmark reports are per ``REQUESTS_PER_ROUND`` requests."""

from __future__ import annotations

import asyncio

import pytest
import uvloop
from aiohttp import web

from bench import ceiling
from bench.inprocess import Connection, serving
from bench.workloads import changed_item, create_table_request, item, key, raw_request

TABLE = "bench.items"
REQUESTS_PER_ROUND = 100


@pytest.fixture(scope="module")
def loop():
    loop = uvloop.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def dynovault(loop):
    context = serving()
    connection = loop.run_until_complete(context.__aenter__())
    for request in (raw_request("CreateTable", create_table_request(TABLE)),
                    raw_request("PutItem", {"TableName": TABLE, "Item": item(1)})):
        assert b" 200 OK\r\n" in loop.run_until_complete(connection.send(request))
    yield connection
    loop.run_until_complete(context.__aexit__(None, None, None))


@pytest.fixture(scope="module")
def bare(loop):
    async def start() -> tuple[web.AppRunner, Connection]:
        app = ceiling.build_app()
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        return runner, Connection(app)

    runner, connection = loop.run_until_complete(start())
    yield connection
    loop.run_until_complete(connection.close())
    loop.run_until_complete(runner.cleanup())


def _run(benchmark, loop: asyncio.AbstractEventLoop, connection: Connection, *requests: bytes) -> bytes:
    """Time rounds of the requests given, taken in turn."""
    async def round_of_requests() -> bytes:
        for index in range(REQUESTS_PER_ROUND - 1):
            await connection.send(requests[index % len(requests)])
        return await connection.send(requests[-1])

    answer = benchmark(lambda: loop.run_until_complete(round_of_requests()))
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
    return answer


def test_ceiling(benchmark, loop, bare) -> None:
    _run(benchmark, loop, bare, raw_request("GetItem", {"TableName": TABLE, "Key": key(1)}))


def test_describe_limits(benchmark, loop, dynovault) -> None:
    assert b"AccountMaxReadCapacityUnits" in _run(benchmark, loop, dynovault, raw_request("DescribeLimits", {}))


def test_get_item_missing(benchmark, loop, dynovault) -> None:
    assert _run(benchmark, loop, dynovault, raw_request("GetItem", {"TableName": TABLE, "Key": key(2)})).endswith(b"{}")


def test_get_item(benchmark, loop, dynovault) -> None:
    assert b'"Item":' in _run(benchmark, loop, dynovault, raw_request("GetItem", {"TableName": TABLE, "Key": key(1)}))


def test_put_item(benchmark, loop, dynovault) -> None:
    # Two contents in turn: a PutItem that changes nothing is answered without writing.
    _run(benchmark, loop, dynovault, *(raw_request("PutItem", {"TableName": TABLE, "Item": changed_item(1, version)})
                                      for version in (1, 2)))


def test_execute_statement_by_key(benchmark, loop, dynovault) -> None:
    request = raw_request("ExecuteStatement", {"Statement": f'SELECT * FROM "{TABLE}" WHERE pk = ?',
                                               "Parameters": [key(1)["pk"]]})
    assert b'"Items":[{' in _run(benchmark, loop, dynovault, request)


def test_execute_statement_by_key_in_the_text(benchmark, loop, dynovault) -> None:
    request = raw_request("ExecuteStatement", {"Statement": f"SELECT * FROM \"{TABLE}\" WHERE pk = '{key(1)['pk']['S']}'"})
    assert b'"Items":[{' in _run(benchmark, loop, dynovault, request)
