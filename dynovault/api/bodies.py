"""Request bodies as the operation reads them: decoded from their ``Content-Encoding``
and parsed as JSON; and large answers compressed for clients that accept gzip.

DynamoDB accepts request bodies compressed with ``gzip`` or ``deflate`` (SDKs compress
large writes), several encodings stacked, and several gzip members in a row, and refuses
a decoded body over its 16 MB request limit as too large. An unknown encoding or a body
that does not decode is a client error: DynamoDB answers it with HTTP 500, which clients
retry in vain, so here it is a SerializationException. The signature covers the bytes as
sent, so decoding never changes what is authenticated or forwarded.
"""

from __future__ import annotations

import zlib

import orjson

from dynovault.errors import RequestEntityTooLarge, SerializationException

# zlib's window-bits argument for each content coding DynamoDB decodes.
_WINDOW_BITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_NO_CODING = frozenset({"", "identity"})
# DynamoDB compresses answers from about 4 KB on; below that gzip saves little and costs
# the hot path (single items) a compression per request.
MIN_COMPRESSED_ANSWER_BYTES = 4096


def request_payload(body: bytes, content_encoding: str | None, limit: int) -> object:
    """The request's JSON value; an empty (uncompressed) body means no parameters."""
    if content_encoding:
        body = decoded(body, content_encoding, limit)
    elif not body:
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise SerializationException(f"Could not parse request body into json: {error}") from None


def decoded(body: bytes, content_encoding: str, limit: int) -> bytes:
    """The body with its content codings undone, last applied first, never longer than
    ``limit`` bytes at any stage (a small compressed body can expand a thousandfold)."""
    codings = [coding.strip().lower() for coding in content_encoding.split(",")]
    for coding in reversed(codings):
        if coding in _NO_CODING:
            continue
        window_bits = _WINDOW_BITS.get(coding)
        if window_bits is None:
            raise SerializationException(f"Could not read request body: Content-Encoding {coding} is not supported")
        body = _inflated(body, coding, window_bits, limit)
    return body


def _inflated(data: bytes, coding: str, window_bits: int, limit: int) -> bytes:
    """One coding undone; streams that follow each other (gzip members) are joined."""
    if not data:
        raise _undecodable(coding, "the body is empty")
    output = bytearray()
    while data:
        decoder = zlib.decompressobj(window_bits)
        try:
            # One byte over the room left tells an oversized body from one that fits.
            output += decoder.decompress(data, limit + 1 - len(output))
        except zlib.error as error:
            raise _undecodable(coding, str(error)) from None
        if len(output) > limit:
            raise RequestEntityTooLarge("Request Entity Too Large")
        if not decoder.eof:
            raise _undecodable(coding, "the compressed stream ends early")
        data = decoder.unused_data
    return bytes(output)


def _undecodable(coding: str, reason: str) -> SerializationException:
    return SerializationException(f"Could not read request body: not valid {coding} ({reason})")


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether the client's ``Accept-Encoding`` allows a gzip answer (any q above 0)."""
    if not accept_encoding:
        return False
    for entry in accept_encoding.lower().split(","):
        coding, _, parameters = entry.partition(";")
        if coding.strip() in ("gzip", "x-gzip", "*"):
            quality = parameters.strip().removeprefix("q=")
            return not parameters or _positive(quality)
    return False


def _positive(quality: str) -> bool:
    try:
        return float(quality) > 0
    except ValueError:
        return False


def gzipped(body: bytes) -> bytes:
    """A fast level: the answer is on the request's critical path."""
    return zlib.compress(body, 1, wbits=16 + zlib.MAX_WBITS)
