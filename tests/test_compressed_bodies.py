"""Compressed request bodies and compressed answers, as DynamoDB handles them.

DynamoDB's behaviour here is the one ScyllaDB's Alternator tests observed against AWS
(scylladb/scylladb test/alternator/test_compressed_request.py and PR #27917 for deflate):
gzip and deflate bodies are decoded, gzip members in a row are joined, an unknown
Content-Encoding or a body that does not decode (broken, truncated, empty) is answered
with HTTP 500 there and as a client error here, and a body too large once decoded is
refused like one too large as sent.
Answers are gzipped for a client that accepts gzip once they are large (about 4 KB on,
per the AWS SDK for Java's notes on DynamoDB), with the CRC32 of the compressed bytes.
"""

from __future__ import annotations

import gzip
import zlib

import boto3
import botocore.client
import pytest

from tests.conftest import _CLIENT_CONFIG
from tests.rawhttp import RawClient, Reply, assert_well_formed

MAX_REQUEST_BYTES = 16 * 1024 * 1024


def put_body(table: str, key: str, value: str = "v") -> bytes:
    return f'{{"TableName": "{table}", "Item": {{"pk": {{"S": "{key}"}}, "v": {{"S": "{value}"}}}}}}'.encode()


def put(raw: RawClient, body: bytes, encoding: str) -> Reply:
    return raw.post(body, target="DynamoDB_20120810.PutItem", headers={"Content-Encoding": encoding})


def stored(ddb, table: str, key: str) -> dict | None:
    return ddb.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")


@pytest.mark.parametrize(
    "encoding, encode",
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("identity", lambda body: body),
        ("GZIP", gzip.compress),
        # Stacked codings are listed in the order applied, so they are undone last first.
        ("deflate, gzip", lambda body: gzip.compress(zlib.compress(body))),
        ("gzip, gzip", lambda body: gzip.compress(gzip.compress(body))),
        # Two gzip members in a row are one gzip body (RFC 1952).
        ("gzip", lambda body: gzip.compress(body[:10]) + gzip.compress(body[10:])),
    ],
)
def test_compressed_bodies_are_decoded(raw, ddb, hash_table, encoding, encode):
    reply = put(raw, encode(put_body(hash_table, "k", "value")), encoding)
    assert reply.status == 200, reply.body
    assert stored(ddb, hash_table, "k") == {"pk": {"S": "k"}, "v": {"S": "value"}}


@pytest.mark.parametrize(
    "encoding, encode",
    [
        ("garbage", lambda body: body),
        ("br", gzip.compress),
        ("gzip", lambda body: body),
        ("deflate", gzip.compress),
        ("gzip", lambda body: gzip.compress(body)[:-1]),
        ("gzip", lambda body: gzip.compress(body) + b"junk"),
        ("gzip", lambda body: b""),
        ("deflate", lambda body: b""),
    ],
    ids=["unknown", "unsupported", "not-gzip", "not-deflate", "truncated", "trailing-junk", "empty-gzip",
         "empty-deflate"],
)
def test_undecodable_bodies_are_refused_and_change_nothing(raw, ddb, hash_table, encoding, encode):
    """DynamoDB answers these with HTTP 500, which clients retry; here they are the client
    error they are, so a request that cannot succeed is not sent again (docs/differences.md).
    Trailing junk after a complete gzip member, which DynamoDB ignores, is refused too."""
    reply = put(raw, encode(put_body(hash_table, "k")), encoding)
    assert_well_formed(reply)
    assert (reply.status, reply.error_code) == (400, "SerializationException")
    assert reply.json()["message"].startswith("Could not read request body: ")
    assert stored(ddb, hash_table, "k") is None


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """256 MB of JSON whitespace inside a PutItem, about 250 KB compressed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [compressor.compress(b'{"TableName": "bomb", ')]
    spaces = b" " * (1 << 20)
    parts += [compressor.compress(spaces) for _ in range(256)]
    parts += [compressor.compress(b'"Item": {"pk": {"S": "k"}}}'), compressor.flush()]
    return b"".join(parts)


def test_a_compression_bomb_is_refused_once_past_the_request_limit(raw, bomb):
    assert len(bomb) < MAX_REQUEST_BYTES // 16
    reply = put(raw, bomb, "gzip")
    assert_well_formed(reply)
    assert (reply.status, reply.error_code) == (413, "RequestEntityTooLarge")
    # Stacked, the inner layer must not expand past the limit either.
    reply = put(raw, gzip.compress(bomb), "gzip, gzip")
    assert (reply.status, reply.error_code) == (413, "RequestEntityTooLarge")


def test_a_body_of_exactly_the_limit_once_decoded_is_read(raw, hash_table):
    body = put_body(hash_table, "k")
    padded = body[:-1] + b" " * (MAX_REQUEST_BYTES - len(body)) + body[-1:]
    assert put(raw, gzip.compress(padded), "gzip").status == 200
    reply = put(raw, gzip.compress(padded[:-1] + b" " + padded[-1:]), "gzip")
    assert (reply.status, reply.error_code) == (413, "RequestEntityTooLarge")


def test_boto3_request_compression_reaches_the_table(server, hash_table):
    """botocore compresses requests of operations its model marks for it; DynamoDB's are
    not marked, so the test marks them as a client configured for compression would."""
    config = _CLIENT_CONFIG.merge(botocore.client.Config(request_min_compression_size_bytes=1))
    client = boto3.client("dynamodb", endpoint_url=server.url, region_name="us-east-1", config=config)
    for operation in client.meta.service_model._service_description["operations"].values():
        operation["requestcompression"] = {"encodings": ["gzip"]}
    sent_encodings = []
    client.meta.events.register(
        "before-send.dynamodb.PutItem",
        lambda request, **_: sent_encodings.append(request.headers.get("Content-Encoding")),
    )
    big = "x" * 20000
    client.put_item(TableName=hash_table, Item={"pk": {"S": "k"}, "big": {"S": big}})
    assert sent_encodings == [b"gzip"]
    item = client.get_item(TableName=hash_table, Key={"pk": {"S": "k"}}, ConsistentRead=True)["Item"]
    assert item["big"] == {"S": big}


def test_large_answers_are_gzipped_for_clients_that_accept_it(raw, ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={"pk": {"S": "k"}, "big": {"S": "x" * 10000}})
    request = f'{{"TableName": "{hash_table}", "Key": {{"pk": {{"S": "k"}}}}}}'.encode()
    reply = raw.post(request, target="DynamoDB_20120810.GetItem", headers={"Accept-Encoding": "gzip"})
    assert reply.status == 200
    assert reply.headers["Content-Encoding"] == "gzip"
    assert int(reply.headers["x-amz-crc32"]) == zlib.crc32(reply.body)
    assert len(gzip.decompress(reply.body)) > 10000
    refused = raw.post(request, target="DynamoDB_20120810.GetItem", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers


def test_small_answers_and_clients_without_gzip_get_plain_bodies(raw, ddb, hash_table):
    ddb.put_item(TableName=hash_table, Item={"pk": {"S": "k"}, "big": {"S": "x" * 10000}})
    request = f'{{"TableName": "{hash_table}", "Key": {{"pk": {{"S": "k"}}}}}}'.encode()
    plain = raw.post(request, target="DynamoDB_20120810.GetItem")
    assert "Content-Encoding" not in plain.headers
    assert plain.json()["Item"]["big"] == {"S": "x" * 10000}
    ddb.put_item(TableName=hash_table, Item={"pk": {"S": "small"}})
    small_request = f'{{"TableName": "{hash_table}", "Key": {{"pk": {{"S": "small"}}}}}}'.encode()
    small = raw.post(small_request, target="DynamoDB_20120810.GetItem", headers={"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in small.headers
    assert small.json() == {"Item": {"pk": {"S": "small"}}}
