"""A lean HTTP/1.1 load generator on uvloop, for pre-built requests.

On a two-core machine the client competes with the server it measures, so the client must
cost as little as possible: requests are pre-built bytes, each connection is a callback
driven protocol (no coroutine or future per request), and a response is parsed only as far
as its status and framing. The client reports the CPU it used itself.

Two ways to drive load:

* closed loop (``run_closed_loop``): each of N keep-alive connections sends its next
  request as soon as the previous answer arrives; measures throughput at saturation.
* open loop (``run_open_loop``): requests are sent at a fixed rate whatever the server
  does, so a slow answer cannot hold back the next requests (no coordinated omission).

Servers that close the connection after each answer (moto's Werkzeug server does) get a
new connection per request, as every client of theirs does.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import psutil

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)")
_MAX_OPEN_LOOP_CONNECTIONS = 256

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    keep_alive: bool
    consumed: int


def _chunked_body(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    body = bytearray()
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buf[pos:line_end]).split(b";", 1)[0], 16)
        pos = line_end + 2
        if size == 0:
            end = buf.find(b"\r\n", pos)
            return (bytes(body), end + 2) if end >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        body += buf[pos : pos + size]
        pos += size + 2


def parse_response(buf: bytearray) -> Response | None:
    """The first complete response in ``buf``, or None while it is still arriving."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buf[:head_end]).lower()
    status = int(head[9:12])
    keep_alive = not head.startswith(b"http/1.0") and b"\r\nconnection: close" not in head
    body_start = head_end + 4
    if b"\r\ntransfer-encoding: chunked" in head:
        chunked = _chunked_body(buf, body_start)
        if chunked is None:
            return None
        return Response(status, chunked[0], keep_alive, chunked[1])
    match = _CONTENT_LENGTH.search(head)
    end = body_start + (int(match.group(1)) if match else 0)
    if len(buf) < end:
        return None
    return Response(status, bytes(buf[body_start:end]), keep_alive, end)


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection with at most one request in flight; answers go to ``driver``."""

    def __init__(self, driver: _Driver) -> None:
        self.driver = driver
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.started = 0.0
        self.in_flight = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def send(self, raw: bytes, started: float) -> None:
        self.started = started
        self.in_flight = True
        self.transport.write(raw)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        response = parse_response(self.buffer)
        if response is None:
            return
        del self.buffer[: response.consumed]
        self.in_flight = False
        if not response.keep_alive:
            self.transport.close()
        self.driver.answered(self, response)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.in_flight:
            self.in_flight = False
            self.driver.failed(self)


@dataclass
class CpuMeter:
    """CPU seconds used by the server (its processes) and by this client between begin and end."""

    server_pid: int
    server_seconds: float = 0.0
    client_seconds: float = 0.0

    def _server_cpu(self) -> float:
        """The server's CPU, its child processes' included (``dynovault serve --workers``)."""
        server = psutil.Process(self.server_pid)
        total = 0.0
        for process in (server, *server.children(recursive=True)):
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def begin(self) -> None:
        self._server_start = self._server_cpu()
        self._client_start = time.process_time()

    def end(self) -> None:
        self.server_seconds = self._server_cpu() - self._server_start
        self.client_seconds = time.process_time() - self._client_start


@dataclass
class Measurement:
    """What one load phase observed inside its measurement window."""

    seconds: float
    requests: int
    errors: int
    latencies: list[float] = field(repr=False)
    server_cpu_seconds: float
    client_cpu_seconds: float
    first_error: str = ""

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile_ms(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    def summary(self) -> dict:
        return {
            "seconds": round(self.seconds, 3),
            "requests": self.requests,
            "errors": self.errors,
            "first_error": self.first_error,
            "req_per_s": round(self.throughput, 1),
            "p50_ms": round(self.percentile_ms(0.50), 3),
            "p99_ms": round(self.percentile_ms(0.99), 3),
            "max_ms": round(max(self.latencies, default=0.0) * 1000, 3),
            "server_cpu_cores": round(self.server_cpu_seconds / self.seconds, 3) if self.seconds else 0.0,
            "client_cpu_cores": round(self.client_cpu_seconds / self.seconds, 3) if self.seconds else 0.0,
        }


class _Driver:
    """Shared bookkeeping: connections, the measurement window, answers and failures."""

    def __init__(self, host: str, port: int, on_answer: Callable[[Response], str | None] | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.host, self.port = host, port
        self.on_answer = on_answer
        self.window_start = float("inf")
        self.window_end = float("inf")
        self.requests = 0
        self.errors = 0
        self.first_error = ""
        self.latencies: list[float] = []
        self.answers = 0
        self.outstanding = 0
        self.sending_done = False
        self.drained = self.loop.create_future()

    async def connect(self) -> Connection:
        _, connection = await self.loop.create_connection(lambda: Connection(self), self.host, self.port)
        return connection

    def counts(self, started: float, answered: float) -> bool:
        """Whether an answer belongs to the measurement window."""
        raise NotImplementedError

    def _record(self, started: float, error: str | None) -> float:
        now = time.perf_counter()
        self.answers += 1
        if self.counts(started, now):
            self.requests += 1
            self.latencies.append(now - started)
            if error is not None:
                self.errors += 1
                self.first_error = self.first_error or error
        elif error is not None and not self.first_error:
            self.first_error = error
        return now

    def answered(self, connection: Connection, response: Response) -> None:
        error = None if response.status == 200 else f"HTTP {response.status}: {response.body[:200]!r}"
        if error is None and self.on_answer is not None:
            error = self.on_answer(response)
        now = self._record(connection.started, error)
        self.outstanding -= 1
        self.release(connection if response.keep_alive else None, now)

    def failed(self, connection: Connection) -> None:
        now = self._record(connection.started, "connection lost")
        self.outstanding -= 1
        self.release(None, now)

    def release(self, connection: Connection | None, now: float) -> None:
        raise NotImplementedError

    def send(self, connection: Connection | None, raw: bytes, started: float) -> None:
        """Send on ``connection``, or on a new one when it is None (closed by the server)."""
        self.outstanding += 1
        if connection is not None:
            connection.send(raw, started)
        else:
            self.loop.create_task(self._send_on_new(raw, started))

    async def _send_on_new(self, raw: bytes, started: float) -> None:
        try:
            connection = await self.connect()
        except OSError as error:
            self._record(started, f"connect failed: {error}")
            self.outstanding -= 1
            self.release(None, time.perf_counter())
            return
        connection.send(raw, started)

    def report_progress(self, progress: Progress | None) -> asyncio.Task | None:
        """Call ``progress`` with the number of answers so far, twice a second."""
        if progress is None:
            return None

        async def tick() -> None:
            while True:
                await asyncio.sleep(0.5)
                progress(self.answers)

        return self.loop.create_task(tick())

    def check_drained(self) -> None:
        if self.sending_done and self.outstanding == 0 and not self.drained.done():
            self.drained.set_result(None)

    def measurement(self, meter: CpuMeter) -> Measurement:
        return Measurement(
            seconds=self.window_end - self.window_start,
            requests=self.requests,
            errors=self.errors,
            latencies=self.latencies,
            server_cpu_seconds=meter.server_seconds,
            client_cpu_seconds=meter.client_seconds,
            first_error=self.first_error,
        )


class _ClosedLoop(_Driver):
    def __init__(self, host: str, port: int, requests: Iterator[bytes], on_answer) -> None:
        super().__init__(host, port, on_answer)
        self.requests_source = requests

    def counts(self, started: float, answered: float) -> bool:
        return self.window_start <= answered <= self.window_end

    def release(self, connection: Connection | None, now: float) -> None:
        raw = None if self.sending_done else next(self.requests_source, None)
        if raw is None:
            self.sending_done = True
            if connection is not None:
                connection.transport.close()
            self.check_drained()
            return
        self.send(connection, raw, now)


async def run_closed_loop(
    host: str,
    port: int,
    requests: Iterator[bytes],
    connections: int,
    warmup: float,
    duration: float,
    meter: CpuMeter,
    on_answer: Callable[[Response], str | None] | None = None,
    progress: Progress | None = None,
) -> Measurement:
    """Saturate the server with ``connections`` concurrent keep-alive request streams.

    With a finite ``requests`` iterator and ``duration`` of ``inf`` this is also a fast
    bulk loader: it ends when every request was answered."""
    driver = _ClosedLoop(host, port, requests, on_answer)
    ticker = driver.report_progress(progress)
    opened = [await driver.connect() for _ in range(connections)]
    driver.window_start = time.perf_counter() + warmup
    for connection in opened:
        driver.release(connection, time.perf_counter())
    await asyncio.sleep(warmup)
    meter.begin()
    try:
        await asyncio.wait_for(asyncio.shield(driver.drained), duration if duration != float("inf") else None)
    except TimeoutError:
        pass
    meter.end()
    driver.window_end = time.perf_counter()
    driver.sending_done = True
    await driver.drained
    if ticker:
        ticker.cancel()
    return driver.measurement(meter)


class _OpenLoop(_Driver):
    def __init__(self, host: str, port: int, on_answer) -> None:
        super().__init__(host, port, on_answer)
        self.idle: list[Connection] = []
        self.queued: deque[tuple[bytes, float]] = deque()
        self.opened = 0

    def counts(self, started: float, answered: float) -> bool:
        return self.window_start <= started < self.window_end

    def submit(self, raw: bytes, submitted: float) -> None:
        if self.idle:
            self.send(self.idle.pop(), raw, submitted)
        elif self.opened < _MAX_OPEN_LOOP_CONNECTIONS:
            self.opened += 1
            self.send(None, raw, submitted)
        else:
            self.queued.append((raw, submitted))

    def release(self, connection: Connection | None, now: float) -> None:
        if connection is None:
            self.opened -= 1
        if self.queued:
            raw, submitted = self.queued.popleft()
            if connection is None:
                self.opened += 1
            self.send(connection, raw, submitted)
        elif connection is not None:
            self.idle.append(connection)
        self.check_drained()


async def run_open_loop(
    host: str,
    port: int,
    requests: Iterator[bytes],
    rate: float,
    warmup: float,
    duration: float,
    meter: CpuMeter,
    on_answer: Callable[[Response], str | None] | None = None,
    progress: Progress | None = None,
) -> Measurement:
    """Send ``rate`` requests per second on a schedule, whatever the server's pace.

    A request's latency counts from when the schedule submitted it, so time spent queued
    behind busy connections counts; the event loop's timer resolution (about 1 ms) is
    not charged to the server. A request due in the warm-up stays out of the window
    even when a stalled load generator sends it late."""
    driver = _OpenLoop(host, port, on_answer)
    ticker = driver.report_progress(progress)
    start = time.perf_counter() + 0.05
    driver.window_start = start + warmup
    stop = driver.window_start + duration
    sent = 0
    began = False
    while True:
        now = time.perf_counter()
        if not began and now >= driver.window_start:
            meter.begin()
            began = True
        if now >= stop:
            break
        due_count = int((now - start) * rate) + 1
        while sent < due_count:
            due = start + sent / rate
            driver.submit(next(requests), now if due >= driver.window_start else due)
            sent += 1
        await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
    meter.end()
    driver.sending_done = True
    driver.check_drained()
    await driver.drained
    driver.window_end = stop
    for connection in driver.idle:
        connection.transport.close()
    if ticker:
        ticker.cancel()
    return driver.measurement(meter)
