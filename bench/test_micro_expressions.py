"""Micro benchmarks of the expression language (``pytest bench/``).

Expressions are compiled once per (text, ExpressionAttributeNames) and cached, so the hot
path of a request that repeats an expression (Feast sends the same UpdateExpression and
ProjectionExpression shapes again and again) pays a cache lookup, not a parse. The
``parse`` cases run the parser itself, for comparison with the cached ``compile`` cases."""

from __future__ import annotations

import pytest

from dynovault.expressions import (
    compile_condition,
    compile_projection,
    compile_update,
    compiled,
)
from dynovault.expressions.parser import Parser

FEATURES = 20
FEAST_NAMES = {"#event_ts": "event_ts", "#values": "values", **{f"#feat{i}": f"feat{i}" for i in range(FEATURES)}}
FEAST_UPDATE = "SET #event_ts = :event_ts, " + ", ".join(f"#values.#feat{i} = :val{i}" for i in range(FEATURES))
FEAST_PROJECTION = "#event_ts, " + ", ".join(f"#values.#feat{i}" for i in range(FEATURES))
FILTER = "attribute_exists(#values.#feat3) AND (score BETWEEN :lo AND :hi OR begins_with(country, :pre))"
FILTER_VALUES = {":lo": {"N": "10"}, ":hi": {"N": "20"}, ":pre": {"S": "eu-"}}
ITEM = {
    "entity_id": {"S": "02d676d265610ed36473b752ce698e43"},
    "event_ts": {"S": "2026-11-25 04:42:03+00:00"},
    "values": {"M": {f"feat{i}": {"B": "IJtO"} for i in range(FEATURES)}},
    "score": {"N": "15.5"},
    "country": {"S": "eu-west"},
}


@pytest.fixture
def parse_counter(monkeypatch):
    """Counts every parse the compile functions start."""
    calls = []

    class CountingParser(Parser):
        def __init__(self, *args, **kwargs):
            calls.append(args[0])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(compiled, "Parser", CountingParser)
    compiled._compile_update.cache_clear()
    compiled._compile_projection.cache_clear()
    compiled._compile_condition.cache_clear()
    return calls


def test_compile_update_cached(benchmark, parse_counter) -> None:
    first = compile_update(FEAST_UPDATE, FEAST_NAMES)
    assert benchmark(compile_update, FEAST_UPDATE, FEAST_NAMES) is first
    assert parse_counter == [FEAST_UPDATE]


def test_parse_update(benchmark) -> None:
    actions = benchmark(lambda: Parser(FEAST_UPDATE, "UpdateExpression", FEAST_NAMES).update())
    assert len(actions) == FEATURES + 1


def test_compile_projection_cached(benchmark, parse_counter) -> None:
    first = compile_projection(FEAST_PROJECTION, FEAST_NAMES)
    assert benchmark(compile_projection, FEAST_PROJECTION, FEAST_NAMES) is first
    assert parse_counter == [FEAST_PROJECTION]


def test_parse_projection(benchmark) -> None:
    paths = benchmark(lambda: Parser(FEAST_PROJECTION, "ProjectionExpression", FEAST_NAMES).projection())
    assert len(paths) == FEATURES + 1


def test_apply_projection(benchmark) -> None:
    projection = compile_projection(FEAST_PROJECTION, FEAST_NAMES)
    projected = benchmark(projection.apply, ITEM)
    assert len(projected["values"]["M"]) == FEATURES


def test_evaluate_cached_filter(benchmark, parse_counter) -> None:
    names = {"#values": "values", "#feat3": "feat3"}

    def filter_one_item() -> bool:
        condition = compile_condition(FILTER, names, "FilterExpression")
        condition.bind(FILTER_VALUES)
        return condition.test(ITEM, FILTER_VALUES)

    assert benchmark(filter_one_item) is True
    assert parse_counter == [FILTER]
