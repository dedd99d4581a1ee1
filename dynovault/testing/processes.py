"""Start real server processes on free ports, for tests and benchmarks.

Tests and the load benchmark drive servers the way users do, over HTTP to a separate
process, so a crash, a restart or ``kill -9`` behave as they would in production.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ChildServer:
    """An HTTP server child process on a free loopback port; ready once ``ready_path``
    answers with any non-5xx status."""

    port: int = field(default=0, kw_only=True)
    process: subprocess.Popen | None = field(default=None, kw_only=True)
    log_path: Path | None = field(default=None, kw_only=True)
    ready_path: str = field(default="/", kw_only=True)
    # Set for a server that speaks TLS: its URL is https and readiness is checked through it.
    tls: ssl.SSLContext | None = field(default=None, kw_only=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        """The command line, once ``self.port`` is chosen."""
        raise NotImplementedError

    def default_log_path(self) -> Path:
        raise NotImplementedError

    def start(self, timeout: float = 20.0) -> ChildServer:
        self.port = self.port or free_port()
        self.log_path = self.default_log_path()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=1, context=self.tls):
                    return
            except urllib.error.HTTPError as answer:
                if answer.code < 500:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready in {timeout}s:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        """``kill -9``: no shutdown hooks, no flush beyond what the server already did."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class ServerProcess(ChildServer):
    """A ``dynovault serve`` child process."""

    data_dir: Path
    extra_args: list[str] = field(default_factory=list)
    ready_path: str = field(default="/health", kw_only=True)

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "dynovault", "serve", "--data-dir", str(self.data_dir),
                "--port", str(self.port), *self.extra_args]

    def default_log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}-{self.port}.log"


@dataclass
class CommandServer(ChildServer):
    """Any server command line; each ``{port}`` in ``args`` becomes the chosen port."""

    name: str
    args: list[str]
    log_dir: Path

    def argv(self) -> list[str]:
        return [arg.replace("{port}", str(self.port)) for arg in self.args]

    def default_log_path(self) -> Path:
        return self.log_dir / f"{self.name}-{self.port}.log"
