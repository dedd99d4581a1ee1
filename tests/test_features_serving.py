"""Serving and the HTTP write lanes against a real server with a hand-written definition file."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynovault.features.definitions import Definitions, save
from dynovault.testing.processes import ServerProcess
from tests.conftest import client_for

_http = urllib3.PoolManager(maxsize=16)
_users = itertools.count(1)

DEFINITIONS = {
    "project": "shop",
    "feature_views": {
        "user_stats": {
            "join_keys": {"user_id": "INT64"},
            "features": {"clicks": "INT64", "ctr": "DOUBLE", "country": "STRING", "tags": "STRING_LIST"},
            "ttl_seconds": 3600,
        },
        "user_doc": {
            "join_keys": {"user_id": "INT64", "doc_id": "STRING"},
            "features": {"score": "FLOAT", "opens": "INT32"},
        },
        "foreign": {"join_keys": {"id": "STRING"}, "features": {"a": "INT64"}},
        "mixed": {"join_keys": {"id": "STRING"}, "features": {"a": "INT64", "b": "INT64"}},
    },
    "feature_services": {"ranking": ["user_stats:clicks", "user_doc:score"]},
    "push_sources": {"doc_events": ["user_doc"]},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    save(Definitions.from_json(DEFINITIONS), root / "features.json")
    proc = ServerProcess(root / "data", extra_args=["--features", str(root / "features.json")]).start()
    proc.definitions_path = root / "features.json"
    yield proc
    proc.stop()


def post(server, path: str, body: object) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    reply = _http.request("POST", server.url + path, body=data, headers={"Content-Type": "application/json"})
    return reply.status, orjson.loads(reply.data)


def columns(answer: dict) -> dict[str, dict]:
    return dict(zip(answer["metadata"]["feature_names"], answer["results"]))


def write_users(server, users: list[int], when: datetime | None = None, **features) -> None:
    df = {"user_id": users, **features}
    if when is not None:
        df["event_timestamp"] = [when.isoformat()] * len(users)
    status, answer = post(server, "/write-to-online-store", {"feature_view_name": "user_stats", "df": df})
    assert status == 200, answer
    assert answer == {"written": len(users)}


def test_direct_writes_are_served_with_statuses_and_timestamps(server):
    users = [next(_users), next(_users)]
    when = datetime(2031, 5, 4, 3, 2, 1, 250000, tzinfo=UTC)
    write_users(server, users, when, clicks=[5, 7], ctr=[0.5, 0.25], country=["US", "DE"], tags=[["a"], []])
    status, answer = post(server, "/get-online-features", {
        "features": ["user_stats:clicks", "user_stats:country", "user_stats:tags"],
        "entities": {"user_id": users + [10**12]},
    })
    assert status == 200, answer
    assert answer["metadata"]["feature_names"] == ["user_id", "clicks", "country", "tags"]
    result = columns(answer)
    assert result["user_id"]["values"] == users + [10**12]
    assert result["clicks"] == {
        "values": [5, 7, None],
        "statuses": ["PRESENT", "PRESENT", "NOT_FOUND"],
        "event_timestamps": ["2031-05-04T03:02:01.250Z"] * 2 + ["1970-01-01T00:00:00Z"],
    }
    assert result["tags"]["values"] == [["a"], [], None]


def test_null_values_and_values_older_than_the_ttl(server):
    fresh, stale = next(_users), next(_users)
    write_users(server, [fresh], clicks=[None], ctr=[1.5])
    write_users(server, [stale], datetime.now(UTC) - timedelta(hours=2), clicks=[3], ctr=[2.5])
    status, answer = post(server, "/get-online-features", {
        "features": ["user_stats:clicks", "user_stats:ctr"], "entities": {"user_id": [fresh, stale]}})
    assert status == 200, answer
    result = columns(answer)
    assert result["clicks"]["statuses"] == ["NULL_VALUE", "OUTSIDE_MAX_AGE"]
    assert result["ctr"]["statuses"] == ["PRESENT", "OUTSIDE_MAX_AGE"]
    assert result["ctr"]["values"] == [1.5, 2.5]


def test_concurrent_pushes_are_all_visible(server):
    user = next(_users)
    docs = [f"doc-{n}" for n in range(40)]

    def push(doc_index: int) -> int:
        df = {"user_id": [user], "doc_id": [docs[doc_index]], "score": [doc_index / 4], "opens": [doc_index]}
        return post(server, "/push", {"push_source_name": "doc_events", "df": df, "to": "online"})[0]

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(push, range(len(docs)))) == {200}
    status, answer = post(server, "/get-online-features", {
        "feature_service": "ranking", "entities": {"user_id": [user] * len(docs), "doc_id": docs}})
    assert status == 200, answer
    result = columns(answer)
    assert result["score"]["values"] == [n / 4 for n in range(len(docs))]
    assert result["clicks"]["statuses"] == ["NOT_FOUND"] * len(docs)
    assert answer["metadata"]["feature_names"] == ["user_id", "doc_id", "clicks", "score"]


def test_full_feature_names_prefix_the_view(server):
    status, answer = post(server, "/get-online-features", {
        "features": ["user_stats:clicks", "user_doc:opens"], "entities": {"user_id": [1], "doc_id": ["x"]},
        "full_feature_names": True})
    assert status == 200
    assert answer["metadata"]["feature_names"] == ["user_id", "doc_id", "user_stats__clicks", "user_doc__opens"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"features": ["user_stats:nope"], "entities": {"user_id": [1]}}, 404, "no feature 'nope'"),
        ({"features": ["nowhere:clicks"], "entities": {"user_id": [1]}}, 404, "unknown feature view 'nowhere'"),
        ({"features": ["clicks"], "entities": {"user_id": [1]}}, 404, "'feature_view:feature'"),
        ({"feature_service": "nope", "entities": {"user_id": [1]}}, 404, "unknown feature service"),
        ({"features": ["user_stats:clicks"], "entities": {"user_id": ["1"]}}, 400, "expected an integer"),
        ({"features": ["user_stats:clicks"], "entities": {"user_id": [2**63]}}, 400, "out of range"),
        ({"features": ["user_doc:score"], "entities": {"user_id": [1]}}, 400, "needs join key(s) doc_id"),
        ({"features": ["user_stats:clicks"], "entities": {"user_id": [1], "x": []}}, 400, "same number"),
        ({"features": ["user_stats:clicks"], "entities": {"user_id": list(range(10_001))}}, 413, "too many entity rows"),
        ({"features": ["user_stats:clicks"]}, 400, "'entities'"),
        ({"entities": {"user_id": [1]}}, 400, "'features'"),
        (b"{not json", 400, "not JSON"),
    ],
)
def test_bad_requests_get_clear_4xx(server, body, status, fragment):
    got, answer = post(server, "/get-online-features", body)
    assert got == status, answer
    assert fragment in answer["detail"]


def test_oversized_bodies_are_refused(server):
    got, answer = post(server, "/get-online-features", b" " * (17 * 1024 * 1024))
    assert got == 413, answer


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/push", {"push_source_name": "nope", "df": {}}, 404, "unknown push source"),
        ("/push", {"push_source_name": "doc_events", "df": {}, "to": "offline"}, 400, "online store only"),
        ("/write-to-online-store", {"feature_view_name": "nope", "df": {}}, 404, "unknown feature view"),
        ("/write-to-online-store", {"feature_view_name": "user_stats", "df": {"clicks": [1]}}, 400, "user_id"),
        ("/write-to-online-store", {"feature_view_name": "user_stats", "df": {"user_id": [1]}}, 400, "no column"),
        ("/write-to-online-store", {"feature_view_name": "user_stats", "df": {"user_id": [1], "clicks": ["x"]}},
         400, "clicks"),
        ("/write-to-online-store", {"feature_view_name": "user_stats"}, 400, "missing df"),
    ],
)
def test_bad_writes_get_clear_4xx(server, path, body, status, fragment):
    got, answer = post(server, path, body)
    assert got == status, answer
    assert fragment in answer["detail"]


def test_freshness_metrics_per_feature_view(server):
    write_users(server, [next(_users)], clicks=[1])
    post(server, "/get-online-features", {"features": ["user_stats:clicks"], "entities": {"user_id": [1, 2]}})
    text = _http.request("GET", server.url + "/metrics").data.decode()
    assert 'dynovault_feature_last_ingest_timestamp_seconds{feature_view="user_stats",lane="direct"}' in text
    assert 'dynovault_feature_ingest_to_visible_seconds_count{feature_view="user_stats",lane="direct"}' in text
    assert 'dynovault_feature_served_age_seconds_count{feature_view="user_stats"}' in text


def test_definitions_are_reloaded_when_the_file_changes(server):
    changed = {**DEFINITIONS, "feature_views": {**DEFINITIONS["feature_views"], "extra": {
        "join_keys": {"user_id": "INT64"}, "features": {"flag": "BOOL"}}}}
    save(Definitions.from_json(changed), server.definitions_path)
    status, answer = post(server, "/get-online-features", {"features": ["extra:flag"], "entities": {"user_id": [1]}})
    assert status == 200, answer
    save(Definitions.from_json(DEFINITIONS), server.definitions_path)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    clicks=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    ctr=st.floats(allow_nan=False, allow_infinity=False),
    country=st.text(max_size=30),
    tags=st.lists(st.text(max_size=5), max_size=4),
)
def test_written_values_read_back_unchanged(server, clicks, ctr, country, tags):
    user = next(_users)
    write_users(server, [user], clicks=[clicks], ctr=[ctr], country=[country], tags=[tags])
    status, answer = post(server, "/get-online-features", {
        "features": ["user_stats:clicks", "user_stats:ctr", "user_stats:country", "user_stats:tags"],
        "entities": {"user_id": [user]}})
    assert status == 200, answer
    result = columns(answer)
    assert [result[name]["values"][0] for name in ("clicks", "ctr", "country", "tags")] == [clicks, ctr, country, tags]


def test_a_rewritten_entity_is_served_with_its_new_values(server):
    user = next(_users)
    for clicks in (1, 2, 3):
        write_users(server, [user], clicks=[clicks])
        status, answer = post(server, "/get-online-features",
                              {"features": ["user_stats:clicks"], "entities": {"user_id": [user, user]}})
        assert status == 200 and columns(answer)["clicks"]["values"] == [clicks, clicks]


def test_tables_not_in_feasts_layout_are_refused_and_foreign_values_skipped(server):
    ddb = client_for(server.url)
    ddb.create_table(TableName="shop.foreign", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}])
    status, answer = post(server, "/get-online-features", {"features": ["foreign:a"], "entities": {"id": ["x"]}})
    assert status == 409 and "not keyed like Feast" in answer["detail"]

    status, answer = post(server, "/write-to-online-store", {"feature_view_name": "mixed", "df": {"id": ["x"], "b": [5]}})
    assert status == 200, answer
    view = Definitions.from_json(DEFINITIONS).feature_views["mixed"]
    ddb.put_item(TableName="shop.mixed", Item={
        "entity_id": {"S": view.codec.entity_id(["y"])}, "event_ts": {"S": "2030-01-01 00:00:00+00:00"},
        "values": {"M": {"a": {"S": "not a Feast value"}, "b": {"B": b"\x20\x07"}}}})
    status, answer = post(server, "/get-online-features", {"features": ["mixed:a", "mixed:b"],
                                                           "entities": {"id": ["x", "y"]}})
    assert status == 200, answer
    assert columns(answer)["a"]["statuses"] == ["NOT_FOUND", "NOT_FOUND"]
    assert columns(answer)["b"]["values"] == [5, 7]
