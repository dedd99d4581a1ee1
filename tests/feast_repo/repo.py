"""A small Feast repository: Dash-like user, user x document and direct-write views.

Sources live in ``data/`` beside this file; the tests write them before ``feast apply``.
"""

from datetime import timedelta
from pathlib import Path

from feast import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    FileSource,
    PushSource,
    ValueType,
)
from feast.types import Array, Bool, Float32, Float64, Int64, String

DATA = Path(__file__).parent / "data"

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
document = Entity(name="document", join_keys=["doc_id"], value_type=ValueType.STRING)

user_stats = FeatureView(
    name="user_stats",
    entities=[user],
    ttl=timedelta(days=3650),
    schema=[
        Field(name="clicks", dtype=Int64),
        Field(name="ctr", dtype=Float64),
        Field(name="country", dtype=String),
        Field(name="active", dtype=Bool),
        Field(name="embedding", dtype=Array(Float32)),
    ],
    source=FileSource(path=str(DATA / "user_stats.parquet"), timestamp_field="event_timestamp"),
)

user_doc_push = PushSource(
    name="user_doc_push",
    batch_source=FileSource(path=str(DATA / "user_doc.parquet"), timestamp_field="event_timestamp"),
)

user_doc = FeatureView(
    name="user_doc",
    entities=[user, document],
    ttl=timedelta(days=3650),
    schema=[Field(name="opens", dtype=Int64), Field(name="relevance", dtype=Float64)],
    source=user_doc_push,
)

ranking = FeatureService(name="ranking", features=[user_stats[["clicks", "ctr"]], user_doc])
