"""Snapshots of vector indexes' HNSW graphs, so a store opening need not rebuild them.

A graph is derived data: the vector index's column family is the truth. A snapshot is the
graph as of the store's last clean close, with the table key of each of its labels (row
numbers); the store opening takes it as a head start and reconciles it with the column
family (keys gone or with another vector leave the graph, keys it lacks join it), so a
snapshot older than the data, after a kill -9, costs only the rework and is never wrong.

Files live in the data directory, one folder per vector index (named after its column
family), one file per partition, named after a digest of the partition's HASH values and
the graph's distance function and dimensions. Each is written to a temporary name and
renamed, so a crash never leaves half a snapshot.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
from pathlib import Path

from usearch.index import Index

_LENGTH = struct.Struct(">I")
# Marks a row no key holds (freed by a delete).
_NO_KEY = 0xFFFFFFFF
_SUFFIX = ".graph"

RowKeys = list[bytes | None]


def _file_name(partition: bytes, distance: str, dimensions: int) -> str:
    digest = hashlib.blake2b(partition, digest_size=16).hexdigest()
    return f"{digest}.{distance}.{dimensions}{_SUFFIX}"


def _pack(graph: Index, row_keys: RowKeys) -> bytes:
    parts = [_LENGTH.pack(len(row_keys))]
    for key in row_keys:
        parts.append(_LENGTH.pack(_NO_KEY) if key is None else _LENGTH.pack(len(key)) + key)
    return b"".join(parts) + bytes(graph.save())


def _unpack(data: bytes) -> tuple[Index, RowKeys]:
    (count,) = _LENGTH.unpack_from(data)
    position = _LENGTH.size
    row_keys: RowKeys = []
    for _ in range(count):
        (length,) = _LENGTH.unpack_from(data, position)
        position += _LENGTH.size
        if length == _NO_KEY:
            row_keys.append(None)
        else:
            row_keys.append(data[position : position + length])
            position += length
    return Index.restore(data[position:]), row_keys


def save_graphs(folder: Path, distance: str, dimensions: int, graphs: dict[bytes, tuple[Index, RowKeys]]) -> None:
    """Replace the folder's snapshots with ``graphs`` (partition → graph and row keys)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = set()
    for partition, (graph, row_keys) in graphs.items():
        name = _file_name(partition, distance, dimensions)
        temporary = folder / (name + ".tmp")
        temporary.write_bytes(_pack(graph, row_keys))
        os.replace(temporary, folder / name)
        written.add(name)
    for stale in folder.iterdir():
        if stale.name not in written:
            stale.unlink()


def load_graph(folder: Path, partition: bytes, distance: str, dimensions: int) -> tuple[Index, RowKeys] | None:
    """The snapshot of one partition's graph, or None when there is none (or it is unreadable)."""
    path = folder / _file_name(partition, distance, dimensions)
    try:
        return _unpack(path.read_bytes())
    except (OSError, ValueError, RuntimeError, struct.error):
        return None


def forget_graphs(folder: Path) -> None:
    """Drop the snapshots of an index that is gone."""
    shutil.rmtree(folder, ignore_errors=True)
