"""Raw HTTP requests to a server, for tests that send what boto3 never would: broken JSON,
wrong targets, odd headers, oversize bodies. Requests are SigV4-signed with botocore's
signer unless a test asks otherwise, so they pass the server's authentication and reach
the part under test."""

from __future__ import annotations

import http.client
import io
import socket
import time
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    version: int = 11

    def json(self) -> dict:
        return orjson.loads(self.body)

    @property
    def error_code(self) -> str:
        """The code after ``#`` in ``__type``, which is what botocore reports."""
        return self.json()["__type"].rpartition("#")[2]


def assert_well_formed(reply: Reply) -> None:
    """Headers every DynamoDB response carries, whatever the outcome."""
    assert reply.headers["Content-Type"] == CONTENT_TYPE
    assert reply.headers["x-amzn-RequestId"]
    assert int(reply.headers["x-amz-crc32"]) == zlib.crc32(reply.body)


def assert_dynamodb_answer(reply: Reply) -> None:
    """A success, or a client error shaped as DynamoDB shapes it; never a server error."""
    assert reply.status < 500, reply.body[:2000]
    assert_well_formed(reply)
    body = reply.json()
    assert isinstance(body, dict)
    if reply.status != 200:
        assert reply.status in (400, 413), reply.status
        assert body["__type"].startswith(ERROR_PREFIX), body
        assert isinstance(body["message"], str) and body["message"], body


class RawClient:
    """One keep-alive connection to a server; reconnects when the server closed it."""

    def __init__(self, url: str, key: str = "testing", secret: str = "testing", region: str = "us-east-1"):
        self.url = url.rstrip("/") + "/"
        self.netloc = urlsplit(url).netloc
        self.credentials = Credentials(key, secret)
        self.region = region
        self.connection: http.client.HTTPConnection | None = None

    def call(self, operation: str, payload: object) -> Reply:
        return self.post(orjson.dumps(payload), target=TARGET_PREFIX + operation)

    def post(
        self,
        body: bytes,
        target: str | None = TARGET_PREFIX + "ListTables",
        headers: dict[str, str] | None = None,
        sign: bool = True,
    ) -> Reply:
        all_headers = {"Content-Type": CONTENT_TYPE, "Host": self.netloc}
        if target is not None:
            all_headers["X-Amz-Target"] = target
        all_headers.update(headers or {})
        if sign:
            all_headers = self.signed_headers(body, all_headers)
        return self._send(body, all_headers)

    def signed_headers(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        request = AWSRequest(method="POST", url=self.url, data=body, headers=headers)
        SigV4Auth(self.credentials, "dynamodb", self.region).add_auth(request)
        return dict(request.headers.items())

    def post_header_lines(self, body: bytes, header_lines: list[tuple[str, str]]) -> Reply:
        """Send headers exactly as listed, repeats included (a dict cannot repeat a name)."""
        connection = self._connection()
        connection.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
        if not any(name.lower() == "host" for name, _ in header_lines):
            header_lines = [("Host", self.netloc), *header_lines]
        for name, value in [*header_lines, ("Content-Length", str(len(body)))]:
            connection.putheader(name, value)
        connection.endheaders(body)
        return self._reply(connection)

    def _send(self, body: bytes, headers: dict[str, str]) -> Reply:
        try:
            return self._exchange(body, headers)
        except (ConnectionError, http.client.HTTPException):
            # The server closed the kept-alive connection since the last request.
            self.close()
            return self._exchange(body, headers)

    def _exchange(self, body: bytes, headers: dict[str, str]) -> Reply:
        connection = self._connection()
        connection.request("POST", "/", body=body, headers=headers)
        return self._reply(connection)

    def _reply(self, connection: http.client.HTTPConnection) -> Reply:
        response = connection.getresponse()
        reply = Reply(response.status, response.headers, response.read())
        if response.will_close:
            self.close()
        return reply

    def _connection(self) -> http.client.HTTPConnection:
        if self.connection is None:
            host, _, port = self.netloc.partition(":")
            self.connection = http.client.HTTPConnection(host, int(port), timeout=30)
        return self.connection

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


@dataclass
class SocketOutcome:
    """What a raw socket got back: the answer (None if none came) and how the connection
    ended after it: ``"open"`` (kept alive), ``"eof"`` (a clean close) or ``"reset"``."""

    answer: Reply | None
    end: str

    @property
    def keep_alive(self) -> bool:
        return self.answer is not None and _keeps_alive(self.answer)


def _keeps_alive(reply: Reply) -> bool:
    return reply.headers.get("Connection", "").lower() != "close" and reply.version == 11


def read_answer(sock: socket.socket, bodiless: bool = False) -> SocketOutcome:
    """One HTTP answer from ``sock`` (without a body when ``bodiless``: the answer to a
    HEAD request); when it closes the connection, read on to the close."""
    buffer = b""
    try:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                return SocketOutcome(None, "eof")
            buffer += chunk
        head, _, body = buffer.partition(b"\r\n\r\n")
        status_line, _, header_lines = head.partition(b"\r\n")
        headers = http.client.parse_headers(io.BytesIO(header_lines + b"\r\n\r\n"))
        length = 0 if bodiless else int(headers.get("Content-Length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return SocketOutcome(None, "eof")
            body += chunk
        version = 10 if status_line.startswith(b"HTTP/1.0") else 11
        reply = Reply(int(status_line.split()[1]), headers, body[:length], version)
        if _keeps_alive(reply):
            return SocketOutcome(reply, "open")
        while sock.recv(65536):
            pass
        return SocketOutcome(reply, "eof")
    except ConnectionResetError:
        return SocketOutcome(None, "reset")


def send_raw(port: int, parts: list[bytes], pause: float = 0.2, timeout: float = 30.0) -> SocketOutcome:
    """Send ``parts`` on a new connection, ``pause`` seconds apart, and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        for number, part in enumerate(parts):
            if number:
                time.sleep(pause)
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed; the answer may still be there
        return read_answer(sock, bodiless=parts[0].startswith(b"HEAD "))
