"""What leader and follower say to each other over the replication WebSocket.

Text messages are JSON objects with a ``type``:

- follower → leader ``hello``: ``name``, ``cluster``, ``epoch``, ``lsn`` (its last applied LSN);
- leader → follower ``stream`` (records follow from ``lsn + 1``; carries the leader's
  ``history``), ``bootstrap`` (fetch a checkpoint first) or ``refused`` (with ``reason``);
- leader → follower ``heartbeat``: the leader's ``lsn``, so an idle follower knows it is current;
- follower → leader ``ack``: ``lsn``, the last LSN it applied.

Binary messages are record frames: the leader's last LSN when the frame was cut, then
``(LSN, length, encoded LogRecord)`` entries in LSN order.
"""

from __future__ import annotations

import struct

from dynovault.storage.replog import LogRecord

STREAM_PATH = "/replication/stream"
CHECKPOINT_PATH = "/replication/checkpoint"
STATUS_PATH = "/replication/status"
PROMOTE_PATH = "/admin/promote"
FOLLOW_PATH = "/admin/follow"

_LEADER_LSN = struct.Struct(">Q")
_ENTRY = struct.Struct(">QI")


def encode_frame(leader_lsn: int, entries: list[tuple[int, bytes]]) -> bytes:
    parts = [_LEADER_LSN.pack(leader_lsn)]
    for lsn, raw in entries:
        parts.append(_ENTRY.pack(lsn, len(raw)))
        parts.append(raw)
    return b"".join(parts)


def decode_frame(frame: bytes) -> tuple[int, list[tuple[int, LogRecord]]]:
    (leader_lsn,) = _LEADER_LSN.unpack_from(frame)
    pos = _LEADER_LSN.size
    records = []
    while pos < len(frame):
        lsn, length = _ENTRY.unpack_from(frame, pos)
        pos += _ENTRY.size
        records.append((lsn, LogRecord.decode(frame[pos : pos + length])))
        pos += length
    return leader_lsn, records
