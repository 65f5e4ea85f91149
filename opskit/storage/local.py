"""A store in a local folder: writes go to a temporary file, then a link or
rename, so readers never see half an object."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO

from opskit.errors import InputError, NotFoundError, StorageError
from opskit.storage.interface import (
    CHUNK_BYTES,
    HashingReader,
    ObjectExists,
    ObjectInfo,
    Storage,
    Written,
    check_key,
)

logger = logging.getLogger(__name__)

_TEMP_PREFIX = ".opskit-"


class LocalStorage(Storage):
    """A folder on a local disk."""

    def __init__(self, root: str | Path, *, create: bool = False) -> None:
        self.root = Path(root).expanduser()
        self.location = str(root)
        if self.root.exists() and not self.root.is_dir():
            raise InputError(
                f"{self.location}: is a file, not a store folder; give a folder path"
            )
        if create:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(
                    f"{self.location}: cannot create the store folder "
                    f"({exc.strerror}); choose a writable location"
                ) from exc
        if not self.root.is_dir():
            raise NotFoundError(
                f"{self.location}: store folder does not exist; "
                "check the path or create the store first"
            )

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        found: list[ObjectInfo] = []
        for dirpath, dirnames, filenames in os.walk(self.root, onerror=_unreadable):
            dirnames[:] = [d for d in dirnames if not d.startswith(_TEMP_PREFIX)]
            for filename in filenames:
                path = Path(dirpath) / filename
                key = path.relative_to(self.root).as_posix()
                if filename.startswith(_TEMP_PREFIX) or not key.startswith(prefix):
                    continue
                info = _info(key, path)
                if info is not None:
                    found.append(info)
        yield from sorted(found, key=lambda info: info.key)

    def open_read(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return path.open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"{self.describe(key)}: no such object") from exc
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: cannot read ({exc})") from exc

    def put_file(self, key: str, path: Path, *, overwrite: bool = False) -> None:
        with path.open("rb") as source:
            self._write(key, source, overwrite)

    def put_stream(self, key: str, stream: BinaryIO) -> Written:
        reader = HashingReader(stream)
        self._write(key, reader, overwrite=False)
        return reader.written()

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        # Folders exist only to hold keys: remove those left empty.
        for folder in path.parents:
            if folder == self.root or not folder.is_dir() or any(folder.iterdir()):
                break
            folder.rmdir()

    def _write(
        self, key: str, source: BinaryIO | HashingReader, overwrite: bool
    ) -> None:
        final = self._path(key)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            handle, tmp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=final.parent)
        except OSError as exc:
            raise StorageError(
                f"{self.describe(key)}: cannot write into {final.parent} "
                f"({exc.strerror or exc}); make the store folder writable (a "
                "file in the way of a folder must go) or choose another store"
            ) from exc
        tmp = Path(tmp_name)
        try:
            with os.fdopen(handle, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK_BYTES)
            _publish(tmp, final, overwrite)
        except FileExistsError as exc:
            raise ObjectExists(f"{self.describe(key)}: already exists") from exc
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: cannot write ({exc})") from exc
        finally:
            tmp.unlink(missing_ok=True)
        logger.debug("stored %s", self.describe(key))

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)


def _publish(tmp: Path, final: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, final)
    else:
        # link() fails if the name exists, so nothing is ever overwritten.
        os.link(tmp, final)


def _unreadable(error: OSError) -> None:
    logger.warning("cannot read %s: %s; left out", error.filename, error.strerror)


def _info(key: str, path: Path) -> ObjectInfo | None:
    """An object's details; links to nothing and other non-files are no objects."""
    try:
        stat = path.stat()
    except OSError:
        logger.warning("%s: not a readable file; left out", path)
        return None
    if not S_ISREG(stat.st_mode):
        return None
    return ObjectInfo(
        key=key,
        size=stat.st_size,
        modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
    )
