"""Feast, unmodified, against a real Dynovault process; our /get-online-features against Feast.

One module-scoped scenario walks Feast's whole online life cycle (apply, materialize,
materialize-incremental, push, write_to_online_store, get_online_features, teardown) on
a real repository whose Parquet sources the test writes, and keeps the values it expects
per entity, so every value read back is checked against the source.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import urllib3

pytest.importorskip("feast")
pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")
from feast import FeatureStore
from feast.data_source import PushMode
from feast.feature_server_utils import convert_response_to_dict

from dynovault.signing import PeerCredentials
from dynovault.testing.processes import CommandServer, ServerProcess
from tests.conftest import client_for

NOW = datetime.now(UTC).replace(microsecond=0)
USERS = list(range(1, 41))
PAIRS = [(user, f"doc-{user}-{n}") for user in USERS[:10] for n in range(3)]
FEATURES = ["user_stats:clicks", "user_stats:ctr", "user_stats:country", "user_stats:active",
            "user_stats:embedding", "user_doc:opens", "user_doc:relevance"]
FEAST = str(Path(sys.executable).parent / "feast")
_http = urllib3.PoolManager()


def _user_rows(version: int, when: datetime) -> list[dict]:
    return [
        {
            "user_id": user,
            "clicks": user * 10 + version,
            "ctr": user / 100 + version,
            "country": ["US", "DE", "JP"][user % 3] + str(version),
            "active": (user + version) % 2 == 0,
            "embedding": [user / 8, version / 4, -1.5],
            "event_timestamp": when,
        }
        for user in USERS
    ]


def _pair_rows(version: int, when: datetime, pairs=PAIRS) -> list[dict]:
    return [
        {"user_id": user, "doc_id": doc, "opens": user + version, "relevance": 0.5 * version + user / 1000,
         "event_timestamp": when}
        for user, doc in pairs
    ]


class Expected:
    """The latest source row per entity key, as Feast should serve it."""

    def __init__(self) -> None:
        self.users: dict[int, dict] = {}
        self.pairs: dict[tuple[int, str], dict] = {}

    def add_users(self, rows: list[dict]) -> None:
        self.users.update({row["user_id"]: row for row in rows})

    def add_pairs(self, rows: list[dict]) -> None:
        self.pairs.update({(row["user_id"], row["doc_id"]): row for row in rows})

    def value(self, ref: str, user: int, doc: str):
        view, feature = ref.split(":")
        row = self.users.get(user) if view == "user_stats" else self.pairs.get((user, doc))
        if row is None:
            return None
        value = row[feature]
        if feature == "embedding":
            return [float(np.float32(v)) for v in value]
        return value


def _run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


# The server verifies signatures: Feast signs its DynamoDB calls with the environment's
# credentials (tests/conftest.py), and our own requests to the feature routes are signed
# with the same key.
SIGNER = PeerCredentials("testing", "testing")


def _post(url: str, body: dict) -> tuple[int, dict]:
    data = orjson.dumps(body)
    headers = SIGNER.sign("POST", url, data, {"Content-Type": "application/json"}).headers
    reply = _http.request("POST", url, body=data, headers=headers)
    return reply.status, orjson.loads(reply.data)


def _columns(response: dict) -> dict[str, dict]:
    """Feast orders features of one view arbitrarily (a set): compare column by column."""
    return dict(zip(response["metadata"]["feature_names"], response["results"]))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    root = tmp_path_factory.mktemp("feast")
    definitions = root / "features.json"
    credentials = root / "credentials"
    credentials.write_text("testing testing\n")
    server = ServerProcess(
        root / "data", extra_args=["--features", str(definitions), "--credentials-file", str(credentials)]
    ).start()
    repo = root / "repo"
    shutil.copytree(Path(__file__).parent / "feast_repo", repo)
    (repo / "data").mkdir()
    (repo / "feature_store.yaml").write_text(
        "project: dvtest\n"
        f"registry: {root / 'registry.db'}\n"
        "provider: local\n"
        "online_store:\n"
        "  type: dynamodb\n"
        "  region: us-east-1\n"
        f"  endpoint_url: {server.url}\n"
        "offline_store:\n"
        "  type: file\n"
        "entity_key_serialization_version: 3\n"
    )
    expected = Expected()
    pd.DataFrame(_user_rows(1, NOW - timedelta(days=2)) + _user_rows(2, NOW - timedelta(hours=5))).to_parquet(
        repo / "data" / "user_stats.parquet"
    )
    pd.DataFrame(_pair_rows(1, NOW - timedelta(hours=3))).to_parquet(repo / "data" / "user_doc.parquet")
    _run(FEAST, "-c", str(repo), "apply")
    _run(sys.executable, "-m", "dynovault", "features", "sync", "--repo", str(repo), "--output", str(definitions))
    store = FeatureStore(repo_path=str(repo))
    try:
        yield server, store, repo, definitions, expected
    finally:
        server.stop()


def test_feast_apply_creates_feast_tables(scenario):
    server, *_ = scenario
    tables = client_for(server.url).list_tables()["TableNames"]
    assert {"dvtest.user_stats", "dvtest.user_doc"} <= set(tables)


def test_sync_writes_the_repository_definitions(scenario):
    _, _, _, definitions, _ = scenario
    written = orjson.loads(definitions.read_bytes())
    assert written["project"] == "dvtest"
    views = written["feature_views"]
    assert views["user_stats"]["join_keys"] == {"user_id": "INT64"}
    assert views["user_stats"]["features"]["embedding"] == "FLOAT_LIST"
    assert views["user_doc"]["join_keys"] == {"user_id": "INT64", "doc_id": "STRING"}
    assert views["user_doc"]["table"] == "dvtest.user_doc"
    assert views["user_stats"]["ttl_seconds"] == timedelta(days=3650).total_seconds()
    assert set(written["feature_services"]["ranking"]) == {
        "user_stats:clicks", "user_stats:ctr", "user_doc:opens", "user_doc:relevance"}
    assert written["push_sources"] == {"user_doc_push": ["user_doc"]}


def _check_against_source(server, store, expected, users, pairs) -> None:
    """Feast's answers equal the source, and ours equal Feast's, column by column."""
    entity_users = [user for user, _ in pairs] + users
    entity_docs = [doc for _, doc in pairs] + ["doc-none"] * len(users)
    theirs = convert_response_to_dict(
        store.get_online_features(
            features=FEATURES, entity_rows=[{"user_id": u, "doc_id": d} for u, d in zip(entity_users, entity_docs)]
        ).proto
    )
    status, ours = _post(server.url + "/get-online-features",
                         {"features": FEATURES, "entities": {"user_id": entity_users, "doc_id": entity_docs}})
    assert status == 200, ours
    assert _columns(ours) == _columns(theirs)
    columns = _columns(ours)
    for ref in FEATURES:
        column = columns[ref.split(":")[1]]
        for row, (user, doc) in enumerate(zip(entity_users, entity_docs)):
            want = expected.value(ref, user, doc)
            assert column["values"][row] == pytest.approx(want), (ref, user, doc)
            assert column["statuses"][row] == ("NOT_FOUND" if want is None else "PRESENT")


def test_materialize_then_incremental(scenario):
    server, store, _, _, expected = scenario
    store.materialize(start_date=NOW - timedelta(days=3), end_date=NOW - timedelta(days=1))
    expected.add_users(_user_rows(1, NOW - timedelta(days=2)))
    _check_against_source(server, store, expected, USERS[:5] + [999], [])
    store.materialize_incremental(end_date=NOW)
    expected.add_users(_user_rows(2, NOW - timedelta(hours=5)))
    expected.add_pairs(_pair_rows(1, NOW - timedelta(hours=3)))
    _check_against_source(server, store, expected, USERS + [999], PAIRS + [(1, "doc-missing")])


def test_push_and_write_to_online_store(scenario):
    server, store, _, _, expected = scenario
    pushed = _pair_rows(7, NOW - timedelta(minutes=5), PAIRS[:4] + [(77, "doc-new")])
    store.push("user_doc_push", pd.DataFrame(pushed), to=PushMode.ONLINE)
    expected.add_pairs(pushed)
    written = [row for row in _user_rows(9, NOW - timedelta(minutes=1)) if row["user_id"] <= 3]
    store.write_to_online_store("user_stats", pd.DataFrame(written))
    expected.add_users(written)
    _check_against_source(server, store, expected, USERS + [999], PAIRS + [(77, "doc-new")])


def test_feature_service_and_full_feature_names_match_feast(scenario):
    server, store, _, _, _ = scenario
    users, docs = [1, 2, 77, 500], ["doc-1-0", "doc-2-1", "doc-new", "x"]
    theirs = convert_response_to_dict(
        store.get_online_features(
            features=store.get_feature_service("ranking"),
            entity_rows=[{"user_id": u, "doc_id": d} for u, d in zip(users, docs)],
            full_feature_names=True,
        ).proto
    )
    status, ours = _post(server.url + "/get-online-features", {
        "feature_service": "ranking", "entities": {"user_id": users, "doc_id": docs}, "full_feature_names": True})
    assert status == 200, ours
    assert _columns(ours) == _columns(theirs)
    assert "user_doc__relevance" in _columns(ours)


def test_feast_serve_pushes_and_answers_like_us(scenario):
    """Feast's own feature server on the same store: its /push (aiobotocore writes) lands,
    and its /get-online-features answer equals ours."""
    server, store, repo, _, expected = scenario
    feast_server = CommandServer(
        "feast-serve", [FEAST, "-c", str(repo), "serve", "-p", "{port}", "--no-access-log"], repo.parent,
        ready_path="/health",
    ).start(timeout=120)
    try:
        pushed = _pair_rows(11, NOW - timedelta(minutes=2), PAIRS[4:8])
        df = {name: [row[name] for row in pushed] for name in pushed[0]}
        df["event_timestamp"] = [moment.isoformat() for moment in df["event_timestamp"]]
        reply = _http.request("POST", feast_server.url + "/push", headers={"Content-Type": "application/json"},
                              body=orjson.dumps({"push_source_name": "user_doc_push", "df": df, "to": "online"}))
        assert reply.status == 200, reply.data[:500]
        expected.add_pairs(pushed)
        _check_against_source(server, store, expected, USERS, PAIRS)
        users, docs = [u for u, _ in PAIRS] + [999], [d for _, d in PAIRS] + ["none"]
        request = {"features": FEATURES, "entities": {"user_id": users, "doc_id": docs}}
        status, theirs = _post(feast_server.url + "/get-online-features", request)
        assert status == 200, theirs
        assert _columns(_post(server.url + "/get-online-features", request)[1]) == _columns(theirs)
    finally:
        feast_server.stop()


def test_teardown_deletes_the_tables(scenario):
    server, _, repo, _, _ = scenario
    _run(FEAST, "-c", str(repo), "teardown")
    tables = client_for(server.url).list_tables()["TableNames"]
    assert not {"dvtest.user_stats", "dvtest.user_doc"} & set(tables)
    status, answer = _post(server.url + "/get-online-features",
                           {"features": ["user_stats:clicks"], "entities": {"user_id": [1]}})
    assert status == 200 and answer["results"][1]["statuses"] == ["NOT_FOUND"]
