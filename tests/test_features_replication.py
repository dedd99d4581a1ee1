"""Feature serving on a follower, and feature writes sent to a follower reaching the leader."""

from __future__ import annotations

import orjson
import urllib3

from dynovault.features.definitions import Definitions, save
from dynovault.testing.cluster import Cluster

DEFINITIONS = {
    "project": "repl",
    "feature_views": {"scores": {"join_keys": {"doc_id": "STRING"}, "features": {"score": "DOUBLE"}}},
    "push_sources": {"score_events": ["scores"]},
}


def _post(url: str, path: str, body: dict) -> tuple[int, dict]:
    reply = urllib3.request("POST", url + path, body=orjson.dumps(body), headers={"Content-Type": "application/json"})
    return reply.status, orjson.loads(reply.data)


def test_writes_to_a_follower_land_on_the_leader_and_both_serve_them(tmp_path):
    save(Definitions.from_json(DEFINITIONS), tmp_path / "features.json")
    features = ["--features", str(tmp_path / "features.json")]
    cluster = Cluster(tmp_path / "cluster", follower_count=1, leader_args=features, follower_args=features).start()
    try:
        follower = cluster.followers[0]
        docs = ["a", "b", "c"]
        status, answer = _post(follower.url, "/push", {
            "push_source_name": "score_events", "df": {"doc_id": docs, "score": [0.5, 1.5, 2.5]}})
        assert status == 200, answer
        status, answer = _post(follower.url, "/write-to-online-store", {
            "feature_view_name": "scores", "df": {"doc_id": ["d"], "score": [3.5]}})
        assert status == 200, answer
        cluster.wait_caught_up()
        request = {"features": ["scores:score"], "entities": {"doc_id": docs + ["d"]}}
        for node in (cluster.leader, follower):
            status, answer = _post(node.url, "/get-online-features", request)
            assert status == 200, answer
            assert answer["results"][1]["values"] == [0.5, 1.5, 2.5, 3.5]
    finally:
        cluster.stop()
