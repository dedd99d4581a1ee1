"""Where exports are written and imports read: an S3 bucket and key prefix, which are
either a directory under the node's export root (``<export dir>/<bucket>/<key>``) or, when
the node is given an S3 endpoint, that bucket of that S3-compatible service (through
boto3, with the process's usual AWS credentials). Every call blocks: jobs make them in a
thread.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Protocol

import boto3

from dynovault.errors import ValidationException
from dynovault.node import Node


class Bucket(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, sorted."""
        ...


def checked_key(key: str) -> str:
    """A key that stays inside its bucket when it names a local file."""
    parts = PurePosixPath(key).parts
    if key.startswith("/") or any(part in ("..", ".") for part in parts):
        raise ValidationException(f"S3 key {key!r} must not hold '.' or '..' parts or start with '/'")
    return key


class LocalBucket:
    """A bucket that is a directory; each object is written whole under a temporary name
    and renamed, so no reader sees it half written."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes) -> None:
        path = self.root / checked_key(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        with open(partial, "wb") as sink:
            sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(partial, path)

    def get(self, key: str) -> bytes:
        return (self.root / checked_key(key)).read_bytes()

    def keys(self, prefix: str) -> list[str]:
        checked_key(prefix or "x")
        found = []
        for path in self.root.rglob("*") if self.root.is_dir() else ():
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix) and not path.name.endswith(".partial"):
                found.append(key)
        return sorted(found)


class S3Bucket:
    def __init__(self, endpoint_url: str, name: str, region: str) -> None:
        self.client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        self.name = name

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def keys(self, prefix: str) -> list[str]:
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix):
            found += [entry["Key"] for entry in page.get("Contents", ())]
        return sorted(found)


def bucket(node: Node, name: str) -> Bucket:
    if node.archives.s3_endpoint_url:
        return S3Bucket(node.archives.s3_endpoint_url, name, node.region)
    return LocalBucket(node.archives.export_dir / checked_key(name))


def joined(prefix: str | None, *parts: str) -> str:
    """An object key under an optional prefix (with a trailing '/' or not)."""
    head = [prefix.strip("/")] if prefix and prefix.strip("/") else []
    return "/".join(head + list(parts))
