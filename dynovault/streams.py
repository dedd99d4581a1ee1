"""DynamoDB Streams: the rules of ``StreamSpecification``, and the streams storage keeps
(``storage/streams.py``) as the Streams API shows them: ARNs, shards, shard iterators
and records.

A stream's sequence numbers are the LSNs of its records' log records, as 21-digit
strings, so they only grow, on every replica alike. A shard iterator is
``<stream ARN>|1|<token>``: the token holds the shard, the next LSN to read, when the
iterator was issued and which chain of iterators it continues, signed with the stream's
id (which no answer shows), so any replica verifies any replica's iterators and nobody
forges one. Iterators are valid for 15 minutes, as DynamoDB's are.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import secrets
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from dynovault.errors import (
    DynamoError,
    ResourceNotFoundException,
    ValidationException,
    invalid,
)
from dynovault.metrics import REGISTRY
from dynovault.node import Node
from dynovault.storage.engine import Store, stored_json, stored_size
from dynovault.storage.keycodec import KeyCodec
from dynovault.storage.streams import (
    EVENT_NAMES,
    SHARD_GENERATION_MEMBER,
    SPECIFICATION_MEMBER,
    STREAM_ID_MEMBER,
    Shard,
    StreamRecord,
)
from dynovault.values.attributes import canonical_item
from dynovault.values.timestamps import epoch_seconds

log = logging.getLogger(__name__)

ExpiredIteratorException = type("ExpiredIteratorException", (DynamoError,), {"code": "ExpiredIteratorException"})
TrimmedDataAccessException = type(
    "TrimmedDataAccessException", (DynamoError,), {"code": "TrimmedDataAccessException"}
)

LABEL_MEMBER = "LatestStreamLabel"
ITERATOR_LIFETIME_SECONDS = 15 * 60
RETENTION_SECONDS = 24 * 3600
MAX_RECORDS = 1000
MAX_PAGE_BYTES = 1024 * 1024
MAX_LISTED = 100
_SEQUENCE_DIGITS = 21
_SHARD_ID = re.compile(r"shardId-(\d{20})-([0-9a-f]{8})")
_STREAM_ARN = re.compile(r"arn:aws:dynamodb:[^:]*:\d*:table/([a-zA-Z0-9_.-]{3,255})/stream/(.+)")
# shard first LSN, next LSN, issued (ms), chain id
_TOKEN = struct.Struct(">QQQ8s")
_MAC_BYTES = 16
_MAX_LSN = (1 << 64) - 1
_SERVICE_IDENTITY = b'{"PrincipalId":"dynamodb.amazonaws.com","Type":"Service"}'

ITERATORS_ISSUED = Counter(
    "dynovault_stream_iterators_issued", "Shard iterators handed out by GetShardIterator", ["table"],
    registry=REGISTRY,
)
RECORDS_READ = Counter(
    "dynovault_stream_records_read", "Stream records returned by GetRecords", ["table"], registry=REGISTRY
)


# ---- StreamSpecification ------------------------------------------------------------------


def created_stream(definition: dict) -> dict:
    """The catalog members a CreateTable-shaped ``StreamSpecification`` gives a new table
    (none for a table without a stream), by DynamoDB's rules."""
    specification = definition.get(SPECIFICATION_MEMBER)
    if not specification:
        return {}
    if not specification["StreamEnabled"]:
        if "StreamViewType" in specification:
            raise invalid("Table is being created with a stream disabled, UpdateViewType should not be specified")
        return {}
    return _enabled(specification, None)


def updated_stream(description: dict, specification: dict) -> dict:
    """A table description with the stream an UpdateTable ``StreamSpecification`` asks
    for: a new stream (new ARN and label) when enabling, none when disabling. DynamoDB
    refuses enabling a stream already enabled (even of another view type: changing it is
    disabling, then enabling) and disabling one that is not."""
    name = description["TableName"]
    enabled = bool((description.get(SPECIFICATION_MEMBER) or {}).get("StreamEnabled"))
    if specification["StreamEnabled"]:
        if enabled:
            raise ValidationException(f"Table already has an enabled stream: TableName: {name}")
        return {**description, **_enabled(specification, description.get(LABEL_MEMBER))}
    if "StreamViewType" in specification:
        raise invalid("If stream is being disabled, then UpdateViewType must not be specified")
    if not enabled:
        raise ValidationException(f"Table does not have a stream enabled to disable: TableName: {name}")
    return {key: value for key, value in description.items() if key != SPECIFICATION_MEMBER}


def _enabled(specification: dict, previous_label: str | None) -> dict:
    view_type = specification.get("StreamViewType")
    if view_type is None:
        raise invalid("StreamViewType is required when the stream is being enabled")
    return {
        SPECIFICATION_MEMBER: {"StreamEnabled": True, "StreamViewType": view_type},
        LABEL_MEMBER: _new_label(previous_label),
        STREAM_ID_MEMBER: secrets.token_hex(16),
    }


def _new_label(previous: str | None) -> str:
    """DynamoDB's label: the creation instant to the millisecond, later than the table's
    previous stream's (two streams of one table never share an ARN)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    label = now.isoformat(timespec="milliseconds")
    if previous is not None and label <= previous:
        later = datetime.fromisoformat(previous).replace(tzinfo=UTC).timestamp() + 0.001
        label = datetime.fromtimestamp(later, UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")
    return label


def limit_of(request: dict, maximum: int) -> int:
    """A request's ``Limit`` (``maximum`` when absent), refused above ``maximum``: the
    model checks only its minimum."""
    limit = request.get("Limit", maximum)
    if limit > maximum:
        raise ValidationException(
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: "
            f"Member must have value less than or equal to {maximum}"
        )
    return limit


def roll_shards_for_epoch(node: Node, epoch: int) -> None:
    """Close every open shard whose generation is not ``epoch``, the leadership epoch a
    node starts leading under: its child starts at the new leader's first change. After a
    failover, the records the old leader had not replicated are gone with their writes and
    the new leader issues their sequence numbers again; an iterator from the old leader
    then points past the end of the closed shard and ends, and its consumer goes on with
    the child instead of skipping the new leader's first records. Each close is a table
    change in the log, so followers cut their shards at the same LSN. Runs synchronously
    on taking the lead, before any write can commit."""
    for table in list(node.store.tables.values()):
        if table.stream is not None and table.description.get(SHARD_GENERATION_MEMBER) != epoch:
            node.store.put_table({**table.description, SHARD_GENERATION_MEMBER: epoch})


# ---- streams, shards, sequence numbers ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stream:
    """A stream as the API names it: its id (storage's key), its ARN and its description."""

    sid: bytes
    arn: str
    description: dict


def sequence_number(lsn: int) -> str:
    return f"{lsn:0{_SEQUENCE_DIGITS}d}"


def shard_id(stream: Stream, first_lsn: int) -> str:
    """The id of the stream's shard that starts at ``first_lsn``."""
    return f"shardId-{first_lsn:020d}-{stream.sid[:4].hex()}"


def _streams(node: Node) -> Iterator[Stream]:
    for sid, description in node.store.streams.descriptions.items():
        yield Stream(sid, node.stream_arn(description["TableName"], description["StreamLabel"]), description)


def find_stream(node: Node, arn: str) -> Stream:
    """The stream an ARN names, or DynamoDB's refusal of a malformed or unknown ARN."""
    match = _STREAM_ARN.fullmatch(arn)
    if match is None:
        raise ValidationException(f"Invalid StreamArn: {arn}")
    table, label = match.groups()
    for stream in _streams(node):
        if stream.description["TableName"] == table and stream.description["StreamLabel"] == label:
            return stream
    raise ResourceNotFoundException(f"Requested resource not found: Stream: {arn} not found")


def find_shard(node: Node, stream: Stream, shard_name: str) -> Shard:
    match = _SHARD_ID.fullmatch(shard_name)
    shard = None
    if match is not None and match.group(2) == stream.sid[:4].hex():
        shard = node.store.streams.shard(stream.sid, int(match.group(1)))
    if shard is None:
        raise ResourceNotFoundException(
            f"Requested resource not found: Shard does not exist: {shard_name} in stream {stream.arn}"
        )
    return shard


def list_streams(node: Node, table: str | None, limit: int, after_arn: str | None) -> dict:
    """ListStreams: by table, then label, a page of ``limit`` after ``after_arn``."""
    def order(stream: Stream) -> tuple[str, str]:
        return stream.description["TableName"], stream.description["StreamLabel"]

    streams = sorted((s for s in _streams(node) if table is None or s.description["TableName"] == table), key=order)
    if after_arn is not None:
        match = _STREAM_ARN.fullmatch(after_arn)
        if match is None:
            raise ValidationException(f"Invalid ExclusiveStartStreamArn: {after_arn}")
        streams = [stream for stream in streams if order(stream) > match.groups()]
    page = streams[:limit]
    answer: dict = {
        "Streams": [
            {"StreamArn": s.arn, "TableName": s.description["TableName"], "StreamLabel": s.description["StreamLabel"]}
            for s in page
        ]
    }
    if len(streams) > limit:
        answer["LastEvaluatedStreamArn"] = page[-1].arn
    return answer


def describe_stream(node: Node, stream: Stream, limit: int, after_shard: str | None, children_of: str | None) -> dict:
    """DescribeStream: the stream and a page of its shards in id order."""
    shards = node.store.streams.shards(stream.sid)
    if children_of is not None:
        parent = find_shard(node, stream, children_of)
        shards = [shard for shard in shards if shard.parent == parent.first_lsn]
    named = [(shard_id(stream, shard.first_lsn), shard) for shard in shards]
    if after_shard is not None:
        named = [(name, shard) for name, shard in named if name > after_shard]
    page = named[:limit]
    description = stream.description
    answer = {
        "StreamArn": stream.arn,
        "StreamLabel": description["StreamLabel"],
        "StreamStatus": description["StreamStatus"],
        "StreamViewType": description["StreamViewType"],
        "CreationRequestDateTime": description["CreationRequestDateTime"],
        "TableName": description["TableName"],
        "KeySchema": description["KeySchema"],
        "Shards": [_describe_shard(stream, name, shard) for name, shard in page],
    }
    if len(named) > limit:
        answer["LastEvaluatedShardId"] = page[-1][0]
    return {"StreamDescription": answer}


def _describe_shard(stream: Stream, name: str, shard: Shard) -> dict:
    start = max(shard.first_lsn, shard.trimmed_through + 1)
    numbers = {"StartingSequenceNumber": sequence_number(start)}
    if shard.closed:
        numbers["EndingSequenceNumber"] = sequence_number(max(start, shard.last_lsn or start))
    described = {"ShardId": name, "SequenceNumberRange": numbers}
    if shard.parent is not None:
        described["ParentShardId"] = shard_id(stream, shard.parent)
    return described


# ---- shard iterators ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Position:
    """Where an iterator reads: a shard of a stream and the next LSN in it."""

    stream: Stream
    shard: Shard
    next_lsn: int
    chain: bytes


def shard_iterator(node: Node, request: dict) -> str:
    """GetShardIterator: a new chain of iterators at the position the request asks for."""
    stream = find_stream(node, request["StreamArn"])
    shard = find_shard(node, stream, request["ShardId"])
    next_lsn = _start(node, stream, shard, request)
    ITERATORS_ISSUED.labels(stream.description["TableName"]).inc()
    return encode_iterator(Position(stream, shard, next_lsn, secrets.token_bytes(8)))


def _start(node: Node, stream: Stream, shard: Shard, request: dict) -> int:
    """The first LSN an iterator of the request's type reads. A sequence number goes only
    with the two types that name one, a timestamp only with AT_TIMESTAMP."""
    kind = request["ShardIteratorType"]
    given = request.get("SequenceNumber")
    at_sequence = kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")
    if (given is None) == at_sequence:
        verb = "must" if at_sequence else "must not"
        raise ValidationException(f"SequenceNumber {verb} be specified for ShardIteratorType {kind}")
    if ("Timestamp" in request) != (kind == "AT_TIMESTAMP"):
        verb = "must" if kind == "AT_TIMESTAMP" else "must not"
        raise ValidationException(f"Timestamp {verb} be specified for ShardIteratorType {kind}")
    if kind == "TRIM_HORIZON":
        return _horizon(shard)
    if kind == "LATEST":
        return _latest(node.store, shard)
    if kind == "AT_TIMESTAMP":
        return _at_time(node, stream, shard, epoch_seconds(request["Timestamp"]))
    lsn = _parse_sequence(given, shard, stream)
    if lsn <= shard.trimmed_through:
        raise TrimmedDataAccessException(
            f"The sequence number {given} is beyond the trim horizon of shard {request['ShardId']}"
        )
    return lsn if kind == "AT_SEQUENCE_NUMBER" else lsn + 1


def _at_time(node: Node, stream: Stream, shard: Shard, seconds: float) -> int:
    """The first record of the shard committed at or after ``seconds`` (past the last one
    when none is), a walk of the shard's records from its horizon."""
    since_us = seconds * 1e6
    for record in node.store.streams.records(stream.sid, shard, _horizon(shard)):
        if record.commit_time_us >= since_us:
            return record.lsn
    return _latest(node.store, shard)


def _horizon(shard: Shard) -> int:
    return max(shard.first_lsn, shard.trimmed_through + 1)


def _latest(store: Store, shard: Shard) -> int:
    if shard.closed:
        return (shard.last_lsn or shard.first_lsn - 1) + 1
    return store.last_lsn + 1


def _parse_sequence(text: str, shard: Shard, stream: Stream) -> int:
    """The LSN a sequence number of the shard names: ASCII digits, within the shard (an
    open shard's range ends where LSNs do)."""
    if not (text.isascii() and text.isdigit()) or int(text) > _MAX_LSN:
        raise ValidationException(f"Invalid SequenceNumber: {text}")
    lsn = int(text)
    beyond = shard.closed and lsn > (shard.last_lsn or shard.first_lsn)
    if lsn < shard.first_lsn or beyond:
        raise ValidationException(
            f"Invalid SequenceNumber: {text} is not in the range of shard {shard_id(stream, shard.first_lsn)}"
        )
    return lsn


def encode_iterator(position: Position, issued: float | None = None) -> str:
    issued_ms = int((time.time() if issued is None else issued) * 1000)
    payload = _TOKEN.pack(position.shard.first_lsn, position.next_lsn, issued_ms, position.chain)
    mac = _mac(position.stream, payload)
    return f"{position.stream.arn}|1|{base64.urlsafe_b64encode(payload + mac).decode()}"


def _mac(stream: Stream, payload: bytes) -> bytes:
    return hmac.new(stream.sid, stream.arn.encode() + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def decode_iterator(node: Node, iterator: str, now: float | None = None) -> Position:
    """The position an iterator names, once its signature and age are checked."""
    arn, _, token = iterator.rpartition("|1|")
    try:
        raw = base64.urlsafe_b64decode(token.encode())
    except ValueError:
        raw = b""
    if len(raw) != _TOKEN.size + _MAC_BYTES or _STREAM_ARN.fullmatch(arn) is None:
        raise ValidationException("Invalid ShardIterator")
    stream = find_stream(node, arn)
    payload, mac = raw[: _TOKEN.size], raw[_TOKEN.size :]
    if not hmac.compare_digest(mac, _mac(stream, payload)):
        raise ValidationException("Invalid ShardIterator")
    first_lsn, next_lsn, issued_ms, chain = _TOKEN.unpack(payload)
    if (time.time() if now is None else now) * 1000 - issued_ms > ITERATOR_LIFETIME_SECONDS * 1000:
        raise ExpiredIteratorException("The provided iterator exceeds the maximum age allowed.")
    shard = node.store.streams.shard(stream.sid, first_lsn)
    if shard is None:
        raise TrimmedDataAccessException("The shard of this iterator has been trimmed from the stream.")
    return Position(stream, shard, next_lsn, chain)


# ---- records ------------------------------------------------------------------------------


def get_records(node: Node, iterator: str, limit: int) -> bytes:
    """GetRecords: up to ``limit`` records (and 1 MB) from the iterator's position, and
    the iterator after them; none once a closed shard is read to its end."""
    position = decode_iterator(node, iterator)
    shard = position.shard
    if position.next_lsn <= shard.trimmed_through:
        raise TrimmedDataAccessException(
            "The operation attempted to read past the oldest stream record in a shard."
        )
    codec = KeyCodec.of(position.stream.description)
    parts: list[bytes | memoryview] = [b'{"Records":[']
    count, size, next_lsn = 0, 0, position.next_lsn
    for record in node.store.streams.records(position.stream.sid, shard, position.next_lsn):
        shaped, record_size = _record_parts(node, position.stream, codec, record)
        if count and size + record_size > MAX_PAGE_BYTES:
            break
        if count:
            parts.append(b",")
        parts += shaped
        count, size, next_lsn = count + 1, size + record_size, record.lsn + 1
        if count == limit:
            break
    if count:
        RECORDS_READ.labels(position.stream.description["TableName"]).inc(count)
        READS.note(position.stream.sid, next_lsn - 1)
    READS.touch(position.chain)
    parts.append(b"]")
    if not (shard.closed and (shard.last_lsn is None or next_lsn > shard.last_lsn)):
        following = encode_iterator(Position(position.stream, shard, next_lsn, position.chain))
        parts += (b',"NextShardIterator":', orjson.dumps(following))
    parts.append(b"}")
    return b"".join(parts)


def _record_parts(
    node: Node, stream: Stream, codec: KeyCodec, record: StreamRecord
) -> tuple[list[bytes | memoryview], int]:
    """One record as DynamoDB shapes it, in pieces joined once per page (the images are
    views of the stored values, copied only into the answer), and its size."""
    keys = codec.decode(record.key)
    size = canonical_item(keys)[1]
    event_id = hashlib.blake2b(stream.sid + record.lsn.to_bytes(8, "big"), digest_size=16).hexdigest()
    head = orjson.dumps({
        "eventID": event_id,
        "eventName": EVENT_NAMES[record.event],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": node.region,
    })
    parts: list[bytes | memoryview] = [
        head[:-1], b',"dynamodb":{"ApproximateCreationDateTime":', str(record.commit_time_us // 1_000_000).encode(),
        b',"Keys":', orjson.dumps(keys),
    ]
    for member, image in ((b',"NewImage":', record.new), (b',"OldImage":', record.old)):
        if image is not None:
            parts += (member, stored_json(memoryview(image)))
            size += stored_size(image)
    parts.append(
        f',"SequenceNumber":"{sequence_number(record.lsn)}","SizeBytes":{size},'
        f'"StreamViewType":"{stream.description["StreamViewType"]}"}}'.encode()
    )
    if record.expired:
        parts += (b',"userIdentity":', _SERVICE_IDENTITY)
    parts.append(b"}")
    return parts, size


# ---- metrics ------------------------------------------------------------------------------


class StreamReads:
    """What consumers read, for the metrics: the furthest record read per stream and the
    iterator chains used within an iterator's lifetime."""

    def __init__(self) -> None:
        self.read_through: dict[bytes, int] = {}
        self.chains: dict[bytes, float] = {}

    def note(self, sid: bytes, lsn: int) -> None:
        if lsn > self.read_through.get(sid, 0):
            self.read_through[sid] = lsn

    def touch(self, chain: bytes) -> None:
        self.chains[chain] = time.monotonic()

    def active_chains(self) -> int:
        horizon = time.monotonic() - ITERATOR_LIFETIME_SECONDS
        for chain in [chain for chain, seen in self.chains.items() if seen < horizon]:
            del self.chains[chain]
        return len(self.chains)


READS = StreamReads()


class StreamCollector(Collector):
    """Records produced, active iterator chains and the oldest unread record, per stream."""

    def __init__(self) -> None:
        self.store: Callable[[], Store] | None = None

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        if self.store is None:
            return
        labels = ["table", "stream_label"]
        produced = CounterMetricFamily(
            "dynovault_stream_records", "Stream records this process appended (committed or applied)", labels=labels
        )
        unread = GaugeMetricFamily(
            "dynovault_stream_oldest_unread_record_seconds",
            "Age of the oldest record after the furthest one any consumer read (0: all read)",
            labels=labels,
        )
        store, now = self.store(), time.time()
        for table in list(store.tables.values()):
            if table.stream is not None:
                produced.add_metric([table.name, table.description[LABEL_MEMBER]], table.stream.produced)
        for sid, description in list(store.streams.descriptions.items()):
            oldest = store.streams.first_record_after(sid, READS.read_through.get(sid, 0))
            age = max(0.0, now - oldest.commit_time_us / 1e6) if oldest is not None else 0.0
            unread.add_metric([description["TableName"], description["StreamLabel"]], age)
        yield produced
        yield unread
        yield GaugeMetricFamily(
            "dynovault_stream_active_iterators",
            "Iterator chains (a GetShardIterator and the iterators GetRecords returned after it) used in the "
            "last 15 minutes",
            value=READS.active_chains(),
        )


COLLECTOR = StreamCollector()
REGISTRY.register(COLLECTOR)


# ---- retention ----------------------------------------------------------------------------


class StreamRetention:
    """Drops stream records older than 24 hours on this node, in chunks, every ``interval``
    seconds; the replication log's retention never touches them."""

    CHUNK_RECORDS = 5000

    def __init__(self, node: Node, interval: float = 60.0, retention_seconds: float = RETENTION_SECONDS) -> None:
        self.node = node
        self.interval = interval
        self.retention_seconds = retention_seconds
        self._task: asyncio.Task | None = None

    async def start(self, _app: object = None) -> None:
        COLLECTOR.store = lambda: self.node.store
        self._task = asyncio.create_task(self._run())

    async def stop(self, _app: object = None) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            try:
                await self.trim()
            except Exception:  # a store swapped by a bootstrap mid-pass: the next pass sees the new one
                log.exception("stream retention pass failed")
            await asyncio.sleep(self.interval)

    async def trim(self) -> None:
        before_us = int((time.time() - self.retention_seconds) * 1e6)
        while self.node.store.streams.trim(before_us, self.CHUNK_RECORDS) == self.CHUNK_RECORDS:
            await asyncio.sleep(0)
