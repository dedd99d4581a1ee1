"""Key codec order and round trips, number canonicalisation and item sizes."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynovault.errors import ValidationException
from dynovault.storage import keycodec
from dynovault.storage.keycodec import KeyCodec
from dynovault.storage.replog import LogRecord, RecordKind
from dynovault.values.attributes import canonical_item
from dynovault.values.numbers import canonical_number, format_number, number_size, parse_number

dynamo_numbers = st.builds(
    lambda sign, digits, exponent: Decimal(f"{sign}{digits}E{exponent}"),
    st.sampled_from(["", "-"]),
    st.one_of(st.integers(0, 10**5), st.integers(0, 10**38 - 1)),
    st.integers(-130, 125),
).filter(lambda d: d == 0 or -130 <= d.adjusted() <= 125)
strings = st.text(min_size=1, max_size=30)
binaries = st.binary(min_size=1, max_size=30)


def _sign(x) -> int:
    return (x > 0) - (x < 0)


@given(dynamo_numbers, dynamo_numbers)
def test_number_encoding_orders_like_numbers(a, b):
    ea, eb = keycodec.encode_number(parse_number(str(a))), keycodec.encode_number(parse_number(str(b)))
    assert _sign((ea > eb) - (ea < eb)) == _sign((a > b) - (a < b))


@given(strings, strings)
def test_string_encoding_orders_by_utf8_bytes(a, b):
    ea, eb = keycodec.encode_value("S", a), keycodec.encode_value("S", b)
    ua, ub = a.encode(), b.encode()
    assert (ea < eb) == (ua < ub) and (ea == eb) == (ua == ub)


@given(binaries, binaries)
def test_binary_encoding_orders_bytewise(a, b):
    ea = keycodec.encode_value("B", base64.b64encode(a).decode())
    eb = keycodec.encode_value("B", base64.b64encode(b).decode())
    assert (ea < eb) == (a < b)


@given(st.lists(st.tuples(binaries, dynamo_numbers), min_size=2, max_size=10))
def test_composite_keys_sort_by_partition_then_sort_key(pairs):
    """Inside one partition the composite key sorts by sort key; the self-delimiting
    partition encoding keeps a longer partition value from interleaving."""
    encoded = [keycodec.encode_bytes(p) + keycodec.encode_number(parse_number(str(s))) for p, s in pairs]
    by_codec = sorted(range(len(pairs)), key=lambda i: encoded[i])
    by_value = sorted(range(len(pairs)), key=lambda i: (pairs[i][0], pairs[i][1]))
    assert [pairs[i] for i in by_codec] == [pairs[i] for i in by_value] or len(set(pairs)) < len(pairs)


@given(strings, dynamo_numbers)
def test_key_round_trip(pk, sk):
    schema = KeyCodec("pk", "S", "sk", "N")
    key = {"pk": {"S": pk}, "sk": {"N": format_number(parse_number(str(sk)))}}
    assert schema.decode(schema.encode(key)) == key


@given(binaries)
def test_binary_key_round_trip(raw):
    schema = KeyCodec("id", "B")
    key = {"id": {"B": base64.b64encode(raw).decode()}}
    assert schema.decode(schema.encode(key)) == key


def test_equal_numbers_share_one_key():
    encodings = {keycodec.encode_value("N", text) for text in ("1", "1.0", "10E-1", "0.1e1", "+1.000")}
    assert len(encodings) == 1


@pytest.mark.parametrize("text, canonical", [("1.50", "1.5"), ("1E+2", "100"), ("-0", "0"), ("0.000", "0"), ("-1e-3", "-0.001")])
def test_number_canonical_text(text, canonical):
    assert format_number(parse_number(text)) == canonical


@pytest.mark.parametrize("text", ["", "1_000", "NaN", "Infinity", "1e", " 1", "0x10"])
def test_bad_numbers_are_refused(text):
    with pytest.raises(ValidationException):
        parse_number(text)


attribute_values = st.recursive(
    st.one_of(
        st.builds(lambda s: {"S": s}, st.text(max_size=10)),
        st.builds(lambda n: {"N": format_number(parse_number(str(n)))}, dynamo_numbers),
        st.builds(lambda b: {"B": base64.b64encode(b).decode()}, st.binary(max_size=10)),
        st.builds(lambda b: {"BOOL": b}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(lambda s: {"SS": sorted(s)}, st.sets(st.text(max_size=5), min_size=1, max_size=4)),
    ),
    lambda inner: st.one_of(
        st.builds(lambda m: {"M": m}, st.dictionaries(st.text(min_size=1, max_size=5), inner, max_size=4)),
        st.builds(lambda items: {"L": items}, st.lists(inner, max_size=4)),
    ),
    max_leaves=12,
)


@settings(max_examples=200)
@given(st.dictionaries(st.text(min_size=1, max_size=8), attribute_values, max_size=6))
def test_canonical_items_are_fixed_points(item):
    once, size = canonical_item(item)
    twice, size_again = canonical_item(once)
    assert once == twice == item and size == size_again


def test_item_size_follows_dynamodb_rules():
    _, size = canonical_item({"name": {"S": "abc"}, "n": {"N": "12345"}, "flag": {"BOOL": True}})
    assert size == (4 + 3) + (1 + 4) + (4 + 1)


def test_log_record_round_trip():
    record = LogRecord(RecordKind.PUT_ITEM, 123456, "tbl.with.dots", b"\x00key", b"value")
    assert LogRecord.decode(record.encode()) == record


number_texts = st.one_of(
    dynamo_numbers.map(str),
    dynamo_numbers.map(format_number),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: f"{f:.5f}"),
    st.from_regex(r"-?[0-9]{1,24}(\.[0-9]{0,24})?", fullmatch=True),
)


@settings(max_examples=2000)
@given(number_texts)
def test_the_canonical_number_shortcut_agrees_with_decimal(text):
    try:
        number = parse_number(text)
    except ValidationException as error:
        with pytest.raises(ValidationException, match=error.message):
            canonical_number(text)
        return
    assert canonical_number(text) == (format_number(number), number_size(number))
