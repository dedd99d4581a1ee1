"""What leader and follower say to each other over the replication WebSocket.

Text messages are JSON objects with a ``type``:

- follower → leader ``hello``: ``name``, ``cluster``, ``epoch``, ``lsn`` (its last applied LSN),
  its ``history`` and ``tail``, the fingerprint of its record at ``lsn``;
- leader → follower ``stream`` (records follow from ``lsn + 1``; carries the leader's
  ``history`` and ``tail``, its own record's fingerprint at the follower's LSN),
  ``bootstrap`` (fetch a checkpoint first) or ``refused`` (with ``reason``);
- leader → follower ``heartbeat``: the leader's ``lsn``, so an idle follower knows it is current;
- follower → leader ``ack``: ``lsn``, the last LSN it applied.

Binary messages are record frames: the leader's last LSN when the frame was cut, then
``(LSN, length, encoded LogRecord)`` entries in LSN order.

Neither side trusts the other's messages further than they are checked here: text
messages are small JSON objects of the expected shape, frames hold whole entries.
"""

from __future__ import annotations

import struct

import orjson

from dynovault.replication.history import History
from dynovault.storage.replog import LogRecord

STREAM_PATH = "/replication/stream"
CHECKPOINT_PATH = "/replication/checkpoint"
STATUS_PATH = "/replication/status"
PROMOTE_PATH = "/admin/promote"
FOLLOW_PATH = "/admin/follow"

# Control messages are a few hundred bytes; a peer that sends more is not speaking the protocol.
CONTROL_MESSAGE_MAX = 64 * 1024
# The leader cuts a frame once it holds a megabyte of records and its last commit is
# whole, so a frame is at most that plus one commit (a BatchWriteItem of 25 items of at
# most 400 KB, a transaction of at most 4 MB, in their JSON form).
DATA_FRAME_MAX = 32 * 1024 * 1024
NAME_MAX = 256

_LEADER_LSN = struct.Struct(">Q")
_ENTRY = struct.Struct(">QI")


class ProtocolError(ValueError):
    """A peer's message is not what the protocol allows."""


def parse_control(data: str, *expected_types: str) -> dict:
    """A text message as a JSON object whose ``type`` is one of ``expected_types``."""
    if len(data) > CONTROL_MESSAGE_MAX:
        raise ProtocolError(f"control message of {len(data)} characters")
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise ProtocolError(f"control message is not JSON: {error}") from None
    if not isinstance(message, dict) or message.get("type") not in expected_types:
        raise ProtocolError(f"unexpected control message (expected {', '.join(expected_types)})")
    return message


def lsn_field(message: dict, name: str = "lsn") -> int:
    value = message.get(name)
    if type(value) is not int or value < 0:
        raise ProtocolError(f"'{name}' must be a non-negative integer")
    return value


def parse_hello(message: dict) -> dict:
    """A follower's hello with every field of the type the leader relies on."""
    name, cluster, epoch = message.get("name"), message.get("cluster"), message.get("epoch")
    if not isinstance(name, str) or not 0 < len(name) <= NAME_MAX:
        raise ProtocolError(f"'name' must be a string of 1 to {NAME_MAX} characters")
    if cluster is not None and (not isinstance(cluster, str) or len(cluster) > NAME_MAX):
        raise ProtocolError("'cluster' must be a string or null")
    if type(epoch) is not int or epoch < 0:
        raise ProtocolError("'epoch' must be a non-negative integer")
    tail = message.get("tail")
    if tail is not None and (not isinstance(tail, str) or len(tail) > NAME_MAX):
        raise ProtocolError("'tail' must be a short string or null")
    return {"type": "hello", "name": name, "cluster": cluster, "epoch": epoch, "lsn": lsn_field(message),
            "history": parse_history(message.get("history")), "tail": tail}


def parse_history(data: object) -> History | None:
    """A peer's history, or None when it sent none."""
    if data is None:
        return None
    try:
        history = History.from_json(data)
    except (KeyError, TypeError, ValueError):
        raise ProtocolError("'history' must be {cluster, epochs: [[epoch, first LSN], ...]}") from None
    if not history.epochs or len(history.epochs) > 100_000 or not isinstance(history.cluster, str):
        raise ProtocolError("'history' must hold between 1 and 100,000 epochs")
    return history


def encode_frame(leader_lsn: int, entries: list[tuple[int, bytes]]) -> bytes:
    parts = [_LEADER_LSN.pack(leader_lsn)]
    for lsn, raw in entries:
        parts.append(_ENTRY.pack(lsn, len(raw)))
        parts.append(raw)
    return b"".join(parts)


def decode_frame(frame: bytes) -> tuple[int, list[tuple[int, LogRecord]]]:
    if len(frame) < _LEADER_LSN.size:
        raise ProtocolError("record frame shorter than its header")
    (leader_lsn,) = _LEADER_LSN.unpack_from(frame)
    pos = _LEADER_LSN.size
    records = []
    while pos < len(frame):
        if pos + _ENTRY.size > len(frame):
            raise ProtocolError("record frame ends inside an entry header")
        lsn, length = _ENTRY.unpack_from(frame, pos)
        pos += _ENTRY.size
        if pos + length > len(frame):
            raise ProtocolError("record frame ends inside a record")
        records.append((lsn, LogRecord.decode(frame[pos : pos + length])))
        pos += length
    return leader_lsn, records
