"""The storage interface every kind of store implements."""

from __future__ import annotations

import hashlib
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from opskit.errors import InputError, StorageError

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    """An object in a store: its key, size in bytes and last change (UTC)."""

    key: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class Written:
    """What was stored from a stream: its size and sha256."""

    size: int
    sha256: str


@dataclass(frozen=True)
class Download:
    """A fetched object: where it was written, its size and its sha256."""

    path: Path
    size: int
    sha256: str


class ObjectExists(StorageError):
    """An object was to be created but a key of that name is already there."""


class HashingReader:
    """Wraps a readable stream, hashing and counting what passes through."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._digest = hashlib.sha256()
        self._started = time.monotonic()
        self.size = 0
        self.seconds_to_end: float | None = None

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        if not chunk and self.seconds_to_end is None and size != 0:
            self.seconds_to_end = time.monotonic() - self._started
        self._digest.update(chunk)
        self.size += len(chunk)
        return chunk

    def written(self) -> Written:
        """The size and sha256 of everything read so far."""
        return Written(size=self.size, sha256=self._digest.hexdigest())


class Storage(ABC):
    """A place that holds objects by key."""

    location: str

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Return whether an object called ``key`` is in the store."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Yield the objects whose keys start with ``prefix``, in key order."""

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """Open an object for streaming reads; raises ``NotFoundError``."""

    @abstractmethod
    def put_file(self, key: str, path: Path, *, overwrite: bool = False) -> None:
        """Store the file at ``path`` as ``key``, atomically.

        Raises ``ObjectExists`` when ``key`` exists and ``overwrite`` is false.
        """

    @abstractmethod
    def put_stream(self, key: str, stream: BinaryIO) -> Written:
        """Store everything read from ``stream`` as a new object ``key``,
        hashing on the way; the whole stream is never held in memory."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; removing an absent key is not an error."""

    def read_bytes(self, key: str) -> bytes:
        """Return a small object whole; raises ``NotFoundError`` if absent."""
        with self.open_read(key) as handle:
            return handle.read()

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = False) -> None:
        """Store ``data`` as ``key``, atomically, through a temporary file."""
        with tempfile.TemporaryDirectory(prefix="opskit-put-") as tmp:
            path = Path(tmp) / "object"
            path.write_bytes(data)
            self.put_file(key, path, overwrite=overwrite)

    def download(self, key: str, dest: Path) -> Download:
        """Stream ``key`` into ``dest``, hashing as it goes."""
        digest, size = hashlib.sha256(), 0
        with self.open_read(key) as source, dest.open("wb") as out:
            while chunk := source.read(CHUNK_BYTES):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        return Download(path=dest, size=size, sha256=digest.hexdigest())

    def describe(self, key: str = "") -> str:
        """Name ``key`` for people, with the store's location."""
        return f"{self.location.rstrip('/')}/{key}" if key else self.location


def check_key(key: str) -> str:
    """Return ``key`` if it stays inside a store, else raise ``InputError``.

    Absolute keys, ``..`` parts, backslashes and empty parts are refused, so a
    hostile manifest cannot name a file outside the store.
    """
    parts = key.split("/")
    if (
        not key
        or PurePosixPath(key).is_absolute()
        or "\\" in key
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise InputError(
            f"key {key!r}: not a plain relative path inside the store; "
            "keys may not be absolute or contain '..'"
        )
    return key
