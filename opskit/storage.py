"""Object storage behind one interface: keys are relative POSIX paths inside a
store, objects are written whole and never partially visible.

``open_storage("./backups")`` gives a local folder; the same calls serve every
kind of store, so records and backups never care where they live.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from opskit.errors import InputError, NotFoundError, StorageError

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    """An object in a store: its key, size in bytes and last change (UTC)."""

    key: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class Download:
    """A fetched object: where it was written, its size and its sha256."""

    path: Path
    size: int
    sha256: str


class ObjectExists(StorageError):
    """An object was to be created but a key of that name is already there."""


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
    def read_bytes(self, key: str) -> bytes:
        """Return a small object whole; raises ``NotFoundError`` if absent."""

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """Open an object for streaming reads; raises ``NotFoundError``."""

    @abstractmethod
    def put_file(self, key: str, path: Path, *, overwrite: bool = False) -> None:
        """Store the file at ``path`` as ``key``, atomically.

        Raises ``ObjectExists`` when ``key`` exists and ``overwrite`` is false.
        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; removing an absent key is not an error."""

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = False) -> None:
        """Store ``data`` as ``key``, atomically, through a temporary file."""
        with tempfile.TemporaryDirectory(prefix="opskit-put-") as tmp:
            path = Path(tmp) / "object"
            path.write_bytes(data)
            self.put_file(key, path, overwrite=overwrite)

    def download(self, key: str, dest: Path) -> Download:
        """Stream ``key`` into ``dest``, hashing as it goes; never whole in memory."""
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
    path = PurePosixPath(key)
    parts = key.split("/")
    if (
        not key
        or path.is_absolute()
        or "\\" in key
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise InputError(
            f"key {key!r}: not a plain relative path inside the store; "
            "keys may not be absolute or contain '..'"
        )
    return key


class LocalStorage(Storage):
    """A folder on a local disk; writes go to a temporary file, then a rename."""

    def __init__(self, root: str | Path, *, create: bool = False) -> None:
        self.root = Path(root).expanduser()
        self.location = str(root)
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        if not self.root.is_dir():
            raise NotFoundError(
                f"{self.location}: store folder does not exist; "
                "check the path or create the store first"
            )

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        found: list[ObjectInfo] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".opskit-"))
            for filename in filenames:
                if filename.startswith(".opskit-"):
                    continue
                path = Path(dirpath) / filename
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(_info(key, path))
        yield from sorted(found, key=lambda info: info.key)

    def read_bytes(self, key: str) -> bytes:
        with self.open_read(key) as handle:
            return handle.read()

    def open_read(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return path.open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"{self.describe(key)}: no such object") from exc
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: cannot read ({exc})") from exc

    def put_file(self, key: str, path: Path, *, overwrite: bool = False) -> None:
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=".opskit-", dir=final.parent)
        os.close(handle)
        tmp = Path(tmp_name)
        try:
            shutil.copyfile(path, tmp)
            _publish(tmp, final, overwrite)
        except FileExistsError as exc:
            raise ObjectExists(f"{self.describe(key)}: already exists") from exc
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: cannot write ({exc})") from exc
        finally:
            tmp.unlink(missing_ok=True)
        logger.debug("stored %s", self.describe(key))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)


def open_storage(location: str | Path, *, create: bool = False) -> Storage:
    """Open the store at ``location``: a local folder path.

    ``create`` makes a missing local folder; otherwise a missing store is a
    ``NotFoundError`` that names it.
    """
    text = str(location)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise InputError(
            f"{text}: storage scheme {scheme!r} is not supported; use a folder path"
        )
    return LocalStorage(text, create=create)


def _publish(tmp: Path, final: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, final)
    else:
        # link() fails if the name exists, so no record is ever overwritten.
        os.link(tmp, final)


def _info(key: str, path: Path) -> ObjectInfo:
    stat = path.stat()
    return ObjectInfo(
        key=key,
        size=stat.st_size,
        modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
    )
