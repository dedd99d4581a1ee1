"""Feature serving in a process of its own, reading a running node's data directory."""

from __future__ import annotations

import sys
import time

import orjson
import urllib3

from dynovault.features.definitions import Definitions, save
from dynovault.testing.processes import CommandServer, ServerProcess

DEFINITIONS = {
    "project": "reader",
    "feature_views": {
        "scores": {"join_keys": {"doc_id": "STRING"}, "features": {"score": "DOUBLE"}},
        "later": {"join_keys": {"doc_id": "STRING"}, "features": {"flag": "BOOL"}},
    },
}


def _post(url: str, path: str, body: dict) -> tuple[int, dict]:
    reply = urllib3.request("POST", url + path, body=orjson.dumps(body), headers={"Content-Type": "application/json"})
    return reply.status, orjson.loads(reply.data)


def _eventually(read, expected, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while (got := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return got


def test_a_reader_process_serves_what_the_node_writes(tmp_path):
    save(Definitions.from_json(DEFINITIONS), tmp_path / "features.json")
    node = ServerProcess(tmp_path / "data", extra_args=["--features", str(tmp_path / "features.json")]).start()
    reader = None
    try:
        status, _ = _post(node.url, "/write-to-online-store",
                          {"feature_view_name": "scores", "df": {"doc_id": ["a", "b"], "score": [0.5, 1.5]}})
        assert status == 200
        reader = CommandServer("reader", [sys.executable, "-m", "dynovault", "features", "serve", "--data-dir",
                                          str(tmp_path / "data"), "--features", str(tmp_path / "features.json"),
                                          "--port", "{port}", "--refresh", "0.05"],
                               tmp_path, ready_path="/health").start()

        def scores():
            return _post(reader.url, "/get-online-features",
                         {"features": ["scores:score"], "entities": {"doc_id": ["a", "b", "c"]}})[1]["results"][1]["values"]

        assert scores() == [0.5, 1.5, None]
        _post(node.url, "/write-to-online-store", {"feature_view_name": "scores", "df": {"doc_id": ["c"], "score": [2.5]}})
        assert _eventually(scores, [0.5, 1.5, 2.5]) == [0.5, 1.5, 2.5]

        # A table created after the reader started (a new column family) is found too.
        _post(node.url, "/write-to-online-store", {"feature_view_name": "later", "df": {"doc_id": ["a"], "flag": [True]}})

        def flags():
            return _post(reader.url, "/get-online-features",
                         {"features": ["later:flag"], "entities": {"doc_id": ["a"]}})[1]["results"][1]["values"]

        assert _eventually(flags, [True]) == [True]
        assert urllib3.request("POST", reader.url + "/push", body=b"{}").status in (404, 405)
    finally:
        if reader is not None:
            reader.stop()
        node.stop()
