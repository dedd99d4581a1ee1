"""``--log-level``: quiet by default, one JSON object per line when asked for more."""

from __future__ import annotations

import orjson
import pytest
from botocore.exceptions import ClientError

from dynovault.testing.processes import ServerProcess
from tests.conftest import client_for


def _exercise(proc: ServerProcess) -> list[dict]:
    """One answered and one refused request; the server's JSON log records after them."""
    ddb = client_for(proc.url)
    ddb.list_tables()
    with pytest.raises(ClientError):
        ddb.describe_table(TableName="ab")
    proc.stop()
    lines = proc.log_path.read_text().splitlines()
    return [orjson.loads(line) for line in lines if line.startswith("{")]


def test_default_level_is_quiet(tmp_path):
    proc = ServerProcess(tmp_path / "data").start()
    assert _exercise(proc) == []


def test_debug_level_logs_each_outcome(tmp_path):
    proc = ServerProcess(tmp_path / "data", extra_args=["--log-level", "debug"]).start()
    records = [record for record in _exercise(proc) if record["logger"] == "dynovault.api.server"]
    assert [record["msg"] for record in records] == ["answered", "refused"]
    assert records[0]["target"] == "DynamoDB_20120810.ListTables"
    assert records[1]["code"] == "ValidationException"
    assert records[1]["reason"].startswith("1 validation error detected: Value 'ab' at 'tableName'")


def test_info_level_says_how_requests_are_authenticated(tmp_path):
    proc = ServerProcess(tmp_path / "data", extra_args=["--log-level", "info"]).start()
    messages = [record["msg"] for record in _exercise(proc)]
    assert "authentication: any well-formed SigV4 signature is accepted (no credentials file)" in messages
    assert "answered" not in messages
