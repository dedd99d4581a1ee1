"""Each way ``dynovault serve`` can fail to start is one line on stderr and exit status 2:
no traceback, and no "listening" line for a socket that was never served."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from dynovault.testing.processes import ServerProcess, free_port


def serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynovault", "serve", *args],
                          capture_output=True, text=True, timeout=60)


def assert_refused(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert words in lines[0], lines[0]
    assert "Traceback" not in result.stderr and "listening" not in result.stderr


def test_a_busy_port(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve("--data-dir", str(tmp_path / "data"), "--port", str(port))
    assert_refused(result, f"cannot listen on 127.0.0.1:{port}")
    assert not (tmp_path / "data").exists()


def test_a_data_directory_another_server_holds(tmp_path):
    running = ServerProcess(tmp_path / "data").start()
    try:
        result = serve("--data-dir", str(tmp_path / "data"), "--port", str(free_port()))
    finally:
        running.stop()
    assert_refused(result, "in use by another process")


def test_a_data_directory_that_is_a_file(tmp_path):
    (tmp_path / "data").write_text("not a directory")
    assert_refused(serve("--data-dir", str(tmp_path / "data"), "--port", str(free_port())), "data directory")


@pytest.mark.parametrize("content", ["", "only-a-key-id\n"])
def test_a_bad_credentials_file(tmp_path, content):
    credentials = tmp_path / "credentials"
    credentials.write_text(content)
    result = serve("--data-dir", str(tmp_path / "data"), "--port", str(free_port()),
                   "--credentials-file", str(credentials))
    assert_refused(result, "credentials file")


def test_a_missing_credentials_file(tmp_path):
    result = serve("--data-dir", str(tmp_path / "data"), "--port", str(free_port()),
                   "--credentials-file", str(tmp_path / "missing"))
    assert_refused(result, "credentials file")


def test_conflicting_flags(tmp_path):
    result = serve("--data-dir", str(tmp_path / "data"), "--port", str(free_port()), "--tls-cert", "x.pem")
    assert_refused(result, "--tls-cert and --tls-key go together")


def test_sigterm_stops_a_running_server_cleanly(tmp_path):
    running = ServerProcess(tmp_path / "data").start()
    running.process.terminate()
    assert running.process.wait(timeout=30) == 0
    assert "Traceback" not in running.log_path.read_text()
