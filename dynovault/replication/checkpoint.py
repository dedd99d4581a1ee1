"""Checkpoint transfer for bootstrap: the leader streams a RocksDB checkpoint, the
follower receives it into a scratch directory of its own and accepts it only once it is
complete and is a store of this kind.

Wire format: the manifest's length (4 bytes, big-endian), the manifest JSON
``{"files": [[name, size], ...]}``, then each file's bytes in manifest order, then the end
of the response. A RocksDB checkpoint is one flat directory, so every name is a plain file
name: the follower refuses anything that could land outside the directory it chose.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

from dynovault.replication import history as history_store
from dynovault.replication.history import History

MANIFEST_LENGTH = struct.Struct(">I")
MANIFEST_MAX_BYTES = 1024 * 1024
MAX_FILES = 100_000
CHUNK = 1024 * 1024
# A name longer than this is no RocksDB file; most file systems refuse it anyway.
NAME_MAX = 255
# Room left free on the volume after a download, so a bootstrap never fills the disk the
# node's own data lives on.
FREE_SPACE_MARGIN = 64 * 1024 * 1024


class CheckpointRefused(Exception):
    """What the leader sent is not a checkpoint this node will use."""


# ---- leader ------------------------------------------------------------------------------


def checkpoint_files(directory: Path) -> list[Path]:
    """The regular files of a checkpoint directory (links and subdirectories are not sent)."""
    return sorted(path for path in directory.iterdir() if path.is_file() and not path.is_symlink())


def encode_manifest(files: list[Path]) -> bytes:
    manifest = orjson.dumps({"files": [[path.name, path.stat().st_size] for path in files]})
    return MANIFEST_LENGTH.pack(len(manifest)) + manifest


async def send(response: web.StreamResponse, files: list[Path], write_timeout: float) -> None:
    """Stream the manifest and files; a reader that stops reading for ``write_timeout``
    seconds gets TimeoutError instead of holding the checkpoint open."""
    await asyncio.wait_for(response.write(encode_manifest(files)), write_timeout)
    for path in files:
        with open(path, "rb") as source:
            while chunk := await asyncio.to_thread(source.read, CHUNK):
                await asyncio.wait_for(response.write(chunk), write_timeout)
    await asyncio.wait_for(response.write_eof(), write_timeout)


# ---- follower ----------------------------------------------------------------------------


def is_plain_name(name: object) -> bool:
    """A name that can only mean a file directly inside the download directory."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= NAME_MAX
        and name not in (".", "..")
        and not any(separator in name for separator in ("/", "\\", "\0"))
    )


def decode_manifest(raw: bytes) -> list[tuple[str, int]]:
    try:
        manifest = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise CheckpointRefused(f"checkpoint manifest is not JSON: {error}") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list) or len(files) > MAX_FILES:
        raise CheckpointRefused(f"checkpoint manifest must list at most {MAX_FILES} files")
    entries: list[tuple[str, int]] = []
    for entry in files:
        if not (isinstance(entry, list) and len(entry) == 2 and is_plain_name(entry[0])):
            raise CheckpointRefused(f"checkpoint file {str(entry)[:300]!r} is not a plain file name")
        if type(entry[1]) is not int or entry[1] < 0:
            raise CheckpointRefused(f"checkpoint file {entry[0]!r} has no valid size")
        entries.append((entry[0], entry[1]))
    if len({name for name, _ in entries}) != len(entries):
        raise CheckpointRefused("checkpoint manifest names a file twice")
    return entries


async def receive(stream: aiohttp.StreamReader, target: Path) -> History:
    """Download into ``target`` (which must not exist yet) and return the checkpoint's
    history; anything short of a complete, well-formed checkpoint raises."""
    try:
        (length,) = MANIFEST_LENGTH.unpack(await stream.readexactly(MANIFEST_LENGTH.size))
        if length > MANIFEST_MAX_BYTES:
            raise CheckpointRefused(f"checkpoint manifest of {length} bytes")
        files = decode_manifest(await stream.readexactly(length))
        _check_room(files, target.parent)
        target.mkdir()
        for name, size in files:
            await _receive_file(stream, target / name, size)
    except asyncio.IncompleteReadError:
        raise CheckpointRefused("checkpoint stream ended early") from None
    if await stream.read(1):
        raise CheckpointRefused("checkpoint stream continues past its manifest")
    history = await asyncio.to_thread(history_store.load_from_checkpoint, target)
    if history is None:
        raise CheckpointRefused("the checkpoint is not a replicated store (no readable history)")
    return history


def _check_room(files: list[tuple[str, int]], volume: Path) -> None:
    needed = sum(size for _, size in files)
    free = shutil.disk_usage(volume).free
    if needed + FREE_SPACE_MARGIN > free:
        raise CheckpointRefused(f"checkpoint of {needed} bytes does not fit in {free} free bytes at {volume}")


async def _receive_file(stream: aiohttp.StreamReader, path: Path, size: int) -> None:
    # Exclusive creation and no symlink following: the name was checked, and a fresh
    # directory cannot hold a link, but a second line of defence costs nothing.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(descriptor, "wb") as sink:
        remaining = size
        while remaining:
            chunk = await stream.read(min(remaining, CHUNK))
            if not chunk:
                raise CheckpointRefused("checkpoint stream ended early")
            await asyncio.to_thread(sink.write, chunk)
            remaining -= len(chunk)
