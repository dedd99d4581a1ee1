"""Our Feast Value decoder and entity-key hashing against what Feast itself produces."""

from __future__ import annotations

import datetime
import decimal
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynovault.features import feast_values as values
from dynovault.features.entitykey import EntityKeyCodec, EntityValueError

feast_type_map = pytest.importorskip("feast.type_map")
from feast.feature_server_utils import _value_to_native as feast_native
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import compute_entity_id
from feast.protos.feast.types import Value_pb2 as feast_value_pb2
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.value_type import ValueType

_UTC = datetime.UTC
_SAMPLES: dict[str, object] = {
    "BYTES": b"\x00\xffab",
    "STRING": "héllo",
    "INT32": -7,
    "INT64": 2**40,
    "DOUBLE": 1.5,
    "FLOAT": 0.25,
    "BOOL": True,
    "UNIX_TIMESTAMP": datetime.datetime(2026, 11, 25, 4, 42, 3, tzinfo=_UTC),
    "BYTES_LIST": [b"a", b"b"],
    "STRING_LIST": ["x", "y"],
    "INT32_LIST": [1, -2],
    "INT64_LIST": [3, 2**50],
    "DOUBLE_LIST": [1.5, float("nan"), float("-inf")],
    "FLOAT_LIST": [0.5],
    "BOOL_LIST": [True, False],
    "UNIX_TIMESTAMP_LIST": [datetime.datetime(2026, 1, 1, tzinfo=_UTC)],
    "MAP": {"a": 1, "b": "x", "c": [1.5]},
    "MAP_LIST": [{"a": 1.5}, {"b": None}],
    "BYTES_SET": {b"a"},
    "STRING_SET": {"s"},
    "INT32_SET": {1},
    "INT64_SET": {5},
    "DOUBLE_SET": {2.5},
    "FLOAT_SET": {0.5},
    "BOOL_SET": {True},
    "UNIX_TIMESTAMP_SET": {datetime.datetime(2026, 1, 1, tzinfo=_UTC)},
    "JSON": {"k": [1, 2]},
    "JSON_LIST": [{"a": 1}],
    "STRUCT": {"a": 1},
    "STRUCT_LIST": [{"a": 2}],
    "UUID": uuid.UUID(int=5),
    "TIME_UUID": uuid.UUID("d2dab1de-e8bd-11f1-a0ad-02fc00000001"),
    "UUID_LIST": [uuid.UUID(int=7)],
    "TIME_UUID_LIST": [uuid.UUID("d2dab1de-e8bd-11f1-a0ad-02fc00000002")],
    "UUID_SET": {uuid.UUID(int=9)},
    "TIME_UUID_SET": {uuid.UUID("d2dab1de-e8bd-11f1-a0ad-02fc00000003")},
    "VALUE_LIST": [[1, 2], [3]],
    "VALUE_SET": [[1], [2]],
    "DECIMAL": decimal.Decimal("1.25"),
    "DECIMAL_LIST": [decimal.Decimal("2.5")],
    "DECIMAL_SET": {decimal.Decimal(3)},
    "SCALAR_MAP": {1: "a"},
    "ZONED_TIMESTAMP": datetime.datetime(
        2026, 1, 1, 5, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    ),
}


def _feast_serialized(value_type: str, sample: object) -> bytes:
    proto = feast_type_map.python_values_to_proto_values([sample], getattr(ValueType, value_type))[0]
    return proto.SerializeToString()


def test_every_feast_value_type_has_a_sample():
    feast_types = {t.name for t in ValueType} - {"UNKNOWN", "NULL", "PDF_BYTES", "IMAGE_BYTES"}
    assert feast_types <= set(_SAMPLES) | {"INVALID"}
    assert set(_SAMPLES) <= set(values.VALUE_TYPES)


@pytest.mark.parametrize("value_type", sorted(_SAMPLES))
def test_decoder_matches_feast_for_every_value_type(value_type):
    data = _feast_serialized(value_type, _SAMPLES[value_type])
    theirs = feast_native(feast_value_pb2.Value.FromString(data))
    ours = values.decode(data)
    assert ours == theirs
    assert values.Value.FromString(data).WhichOneof("val") == values.field_for_type(value_type)


def test_empty_and_null_values_decode_to_none():
    assert values.decode(b"") is None
    assert values.decode(feast_value_pb2.Value(null_val=0).SerializeToString()) is None


def test_our_message_definition_matches_feasts_field_by_field():
    theirs = {f.name: (f.number, f.type, f.message_type and f.message_type.name)
              for f in feast_value_pb2.Value.DESCRIPTOR.fields}
    ours = {f.name: (f.number, f.type, f.message_type and f.message_type.name)
            for f in values.Value.DESCRIPTOR.fields}
    assert ours == theirs


@pytest.mark.parametrize(
    "value_type", ["STRING", "INT32", "INT64", "DOUBLE", "FLOAT", "BOOL", "BYTES", "UNIX_TIMESTAMP",
                   "STRING_LIST", "INT64_LIST", "DOUBLE_LIST", "BOOL_LIST", "JSON"],
)
def test_encoder_writes_what_feast_writes(value_type):
    sample = _SAMPLES[value_type]
    assert values.encode(sample, value_type) == _feast_serialized(value_type, sample)


_SCALAR_STRATEGIES = {
    "INT64": ("int64_val", st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    "INT32": ("int32_val", st.integers(min_value=-(2**31), max_value=2**31 - 1)),
    "DOUBLE": ("double_val", st.floats()),
    "FLOAT": ("float_val", st.floats(width=32) | st.floats(min_value=-1e300, max_value=1e300)),
    "STRING": ("string_val", st.text()),
    "BOOL": ("bool_val", st.booleans()),
    "BYTES": ("bytes_val", st.binary()),
}


@pytest.mark.parametrize("value_type", sorted(_SCALAR_STRATEGIES))
@given(data=st.data())
def test_scalar_wire_encoding_is_protobufs(value_type, data):
    field, strategy = _SCALAR_STRATEGIES[value_type]
    sample = data.draw(strategy)
    expected = feast_value_pb2.Value(**{field: sample}).SerializeToString()
    assert values.encode(sample, value_type) == expected


@pytest.mark.parametrize(("value_type", "bad"), [("INT64", 2**63), ("INT32", -(2**31) - 1), ("INT64", 1.5),
                                                 ("INT64", True), ("BOOL", 1), ("INT64", "7")])
def test_values_that_do_not_fit_their_type_are_refused(value_type, bad):
    with pytest.raises(ValueError):
        values.encode(bad, value_type)


def test_missing_numbers_are_stored_as_the_empty_value():
    assert values.encode(None, "DOUBLE") == b""
    assert values.encode(float("nan"), "INT64") == b""
    assert values.decode(values.encode(float("nan"), "DOUBLE")) == "NaN"


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(max_size=20))
def test_entity_ids_match_feast(user_id, region):
    codec = EntityKeyCodec([("user_id", "INT64"), ("region", "STRING")])
    key = EntityKey(
        join_keys=["user_id", "region"],
        entity_values=[feast_value_pb2.Value(int64_val=user_id), feast_value_pb2.Value(string_val=region)],
    )
    assert codec.serialize([user_id, region]) == serialize_entity_key(key, 3)
    assert codec.entity_id([user_id, region]) == compute_entity_id(key, 3)


def test_entity_id_of_the_documented_example():
    assert EntityKeyCodec([("user_id", "INT64")]).entity_id([1001]) == "02d676d265610ed36473b752ce698e43"


@pytest.mark.parametrize(
    ("value_type", "bad"), [("INT64", "1001"), ("INT64", 1.5), ("INT64", True), ("INT32", 2**40), ("STRING", 5)]
)
def test_entity_values_of_the_wrong_type_are_refused(value_type, bad):
    with pytest.raises(EntityValueError):
        EntityKeyCodec([("k", value_type)]).entity_id([bad])
