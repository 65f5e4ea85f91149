"""The store that keeps records, written once and never changed.

A record is a folder ``<kind>/<YYYY>/<MM>/<DD>/<HHMMSS>-<name>-<short id>/``
holding ``record.json`` and the files it lists with their sha256. Records are
written once: files first, ``record.json`` last and never over an existing one,
so a folder without ``record.json`` is never mistaken for a record. Then the
record is added to the store's index (``opskit.record_index``), which listings
read instead of every ``record.json``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from opskit.errors import (
    NotFoundError,
    OpskitError,
    ParameterError,
    RecordError,
)
from opskit.record_index import RECORD_FILE as RECORD_FILE
from opskit.record_index import RECORD_KEY, IndexEntry, RecordIndex
from opskit.record_model import Artifact, Record, parse_record
from opskit.storage import ObjectExists, Storage, open_storage

if TYPE_CHECKING:
    import pandas

logger = logging.getLogger(__name__)

STORE_ENV = "OPSKIT_RECORD_STORE"
DRAFT_ENV = "OPSKIT_RECORD_DRAFT"
DRAFT_FILES = "files"
DEFAULT_STORE = "records"
_PRINTED = re.compile(
    r"^(?:(?P<store>.*?)/)?(?P<key>[^/]+/\d{4}/\d{2}/\d{2}/[^/]+-[0-9a-f]{8})/?$"
)
_EDITED = (
    "changed since it was filed (its digest no longer matches); the record "
    "cannot be trusted"
)
_REPLACED = (
    "its digest differs from the one in the record index; record.json was "
    "replaced after it was filed, so the record cannot be trusted"
)


@dataclass(frozen=True)
class StoredRecord:
    """A record and the folder key it was found under."""

    key: str
    record: Record


def resolve_store_location(location: str | Path | None = None) -> str:
    """Return ``location``, else $OPSKIT_RECORD_STORE, else ``records``."""
    return str(location or os.environ.get(STORE_ENV) or DEFAULT_STORE)


def file_record(
    record: Record,
    store: str | Path | None = None,
    files: Mapping[str, Path] | None = None,
) -> str:
    """Save ``record`` in ``store``, with ``files`` (name -> path) beside it,
    and return where it is.

    Under ``opskit run`` the record is handed to the runner instead (through
    $OPSKIT_RECORD_DRAFT, the files copied into ``files/`` beside the draft),
    which files it with the executed notebook and HTML.

    >>> file_record(result.record, "records")
    'records/restore-drill/2026/12/03/163700-orders-1a2b3c4d'
    """
    location = resolve_store_location(store)
    draft = os.environ.get(DRAFT_ENV)
    if draft:
        handed = Path(draft).with_name(DRAFT_FILES)
        handed.mkdir(exist_ok=True)
        for name, path in (files or {}).items():
            shutil.copyfile(path, handed / name)
        Path(draft).write_text(record.model_dump_json(indent=2), encoding="utf-8")
        logger.info("record handed to the runner: %s", draft)
        return f"{location.rstrip('/')}/{record.folder()}"
    return RecordStore.open(location, create=True).save(record, files)


class RecordStore:
    """Records in a store, written once and never changed.

    >>> store = RecordStore.open("records")
    >>> [r.record.status for r in store.find(kind="restore-drill")]
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.index = RecordIndex(storage)

    @classmethod
    def open(
        cls, location: str | Path | None = None, *, create: bool = False
    ) -> RecordStore:
        """Open the store at ``location`` (see ``resolve_store_location``)."""
        return cls(open_storage(resolve_store_location(location), create=create))

    def save(self, record: Record, files: Mapping[str, Path] | None = None) -> str:
        """Write ``record`` with ``files`` (name in folder -> local path).

        Each file is listed in the saved ``record.json`` with its sha256,
        then the record is added to the index; a record whose index entry
        cannot be written stays filed (a warning says so). Returns the record
        folder's location. Raises ``RecordError`` if a record is already
        filed under that folder.
        """
        folder = record.folder()
        if self.storage.exists(f"{folder}/{RECORD_FILE}"):
            raise RecordError(f"{self.storage.describe(folder)}: record exists already")

        artifacts: list[Artifact] = []
        try:
            for name, path in sorted((files or {}).items()):
                self._put(f"{folder}/{name}", path)
                artifacts.append(
                    Artifact(
                        path=name, sha256=sha256_file(path), bytes=path.stat().st_size
                    )
                )
            final = record.model_copy(update={"artifacts": artifacts})
            final = final.model_copy(update={"digest": final.compute_digest()})
            self._put_record(folder, final)
        except OpskitError as exc:
            for artifact in artifacts:
                self.storage.delete(f"{folder}/{artifact.path}")
            raise RecordError(
                f"{exc}; the run ended {record.status.value}"
                f"{': ' + record.reason if record.reason else ''}, but no record was "
                "filed, so fix the record store and run again"
            ) from exc
        location = self.storage.describe(folder)
        logger.info(
            "record %s %s saved at %s", final.kind, final.status.value, location
        )
        self._add_to_index(folder, final, location)
        return location

    def find(
        self,
        *,
        kind: str | None = None,
        name: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
    ) -> list[StoredRecord]:
        """Return records matching every filter given, oldest first.

        The index chooses which ``record.json`` files to open. ``since`` is
        compared with ``started_at``; damaged records, and records that
        differ from their index entry, are logged and left out (``verify``
        reports them).
        """
        found = []
        chosen = self.index.digests(kind=kind, name=name, status=status, since=since)
        for key, digest in chosen.items():
            stored = self._try_load(key)
            if stored is None:
                continue
            if stored.record.digest != digest:
                where = self.storage.describe(f"{key}/{RECORD_FILE}")
                logger.warning("%s: %s", where, _REPLACED)
            elif _matches(stored.record, name, status, since):
                found.append(stored)
        return sorted(found, key=lambda s: s.record.started_at)

    def summaries(
        self,
        *,
        kind: str | None = None,
        name: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
    ) -> list[IndexEntry]:
        """Like ``find``, but the summaries the index keeps, without opening
        any ``record.json`` (``verify`` checks a record against its file)."""
        return self.index.entries(kind=kind, name=name, status=status, since=since)

    def frame(
        self, *, kind: str | None = None, since: datetime | None = None
    ) -> pandas.DataFrame:
        """One row per record from the index, oldest first; the columns are
        described at ``RecordIndex.frame``.

        >>> RecordStore.open("records").frame(kind="restore-drill")["m.rto_seconds"]
        """
        return self.index.frame(kind=kind, since=since)

    def load(self, ref: str) -> StoredRecord:
        """Load a record by folder key (also as printed with the store in front),
        full id or a unique id prefix; an edited record is a ``RecordError``."""
        key = self.locate(ref)
        return StoredRecord(key=key, record=self._read(key))

    def locate(self, ref: str) -> str:
        """Return the folder key of ``ref``, without trusting its contents."""
        key = self._key_of(ref)
        if self.storage.exists(f"{key}/{RECORD_FILE}"):
            return key
        if _PRINTED.match(key) and any(True for _ in self.storage.list(f"{key}/")):
            return key  # a record folder that lost its record.json: verify says so

        found = [
            k for k in self._record_keys(None) if _folder_id(k).startswith(ref[:8])
        ]
        if len(ref) > 8:
            found = [k for k in found if self._id_may_match(k, ref)]
        if len(found) == 1:
            return found[0]
        if not found:
            raise NotFoundError(
                f"record {ref!r}: not in {self.storage.location}; "
                "give a folder key or id as shown by `opskit records list`"
            )
        raise RecordError(
            f"record {ref!r}: matches {len(found)} records; give more of the id"
        )

    def verify(self, ref: str) -> list[str]:
        """Check a record's files against their recorded sha256, the record
        against its digest and against the index; an empty list means it is
        as filed."""
        key = self.locate(ref)
        return verify_folder(self.storage, key) + self._index_disagrees(key)

    def _add_to_index(self, folder: str, record: Record, location: str) -> None:
        try:
            self.index.add(folder, record)
        except (OpskitError, OSError) as exc:
            logger.warning(
                "%s: filed, but not added to the record index (%s); listings find "
                "it while it is a day old at most, or after `opskit records reindex`",
                location,
                exc,
            )

    def _index_disagrees(self, key: str) -> list[str]:
        entry = self.index.lookup(key)
        if entry is None:
            return []
        try:
            data = self.storage.read_bytes(f"{key}/{RECORD_FILE}")
            record = parse_record(data, key)
        except OpskitError:
            return []  # verify_folder has said what is wrong with the file
        return [] if record.digest == entry.digest else [f"{RECORD_FILE}: {_REPLACED}"]

    def _id_may_match(self, key: str, ref: str) -> bool:
        try:
            data = self.storage.read_bytes(f"{key}/{RECORD_FILE}")
            return parse_record(data, key).id.startswith(ref)
        except OpskitError:
            return True  # damaged: let verify say so rather than hide it

    def _key_of(self, ref: str) -> str:
        key = ref.strip().strip("/")
        location = self.storage.location.strip("/")
        if location and key.startswith(location + "/"):
            key = key[len(location) + 1 :]
        elif "://" not in self.storage.location and Path(ref.strip()).is_dir():
            key = _inside(Path(ref.strip()), Path(self.storage.location)) or key
        if not key or any(part in ("", ".", "..") for part in key.split("/")):
            raise ParameterError(
                f"record {ref!r}: give a record folder (as printed by opskit run) "
                "or an id as shown by `opskit records list`"
            )
        return key

    def _put(self, key: str, path: Path) -> None:
        try:
            self.storage.put_file(key, path)
        except ObjectExists as exc:
            raise RecordError(f"{exc}; records are never overwritten") from exc

    def _put_record(self, folder: str, record: Record) -> None:
        data = record.model_dump_json(indent=2).encode("utf-8")
        try:
            self.storage.put_bytes(f"{folder}/{RECORD_FILE}", data)
        except ObjectExists as exc:
            raise RecordError(f"{exc}; records are never overwritten") from exc

    def _record_keys(self, kind: str | None) -> list[str]:
        prefix = f"{kind}/" if kind else ""
        return [
            info.key[: -len(RECORD_FILE) - 1]
            for info in self.storage.list(prefix)
            if RECORD_KEY.match(info.key)
        ]

    def _read(self, key: str) -> Record:
        where = self.storage.describe(f"{key}/{RECORD_FILE}")
        record = parse_record(self.storage.read_bytes(f"{key}/{RECORD_FILE}"), where)
        if record.digest != record.compute_digest():
            raise RecordError(f"{where}: {_EDITED}")
        return record

    def _try_load(self, key: str) -> StoredRecord | None:
        try:
            return StoredRecord(key=key, record=self._read(key))
        except RecordError as exc:
            logger.warning("%s", exc)
            return None


def split_location(ref: str) -> tuple[str, str] | None:
    """Split a record folder as opskit prints it into store and folder key:
    ``s3://b/records/restore-drill/2026/12/03/1200-x-1a2b3c4d`` gives
    ``("s3://b/records", "restore-drill/2026/12/03/1200-x-1a2b3c4d")``."""
    match = _PRINTED.match(ref.strip())
    if not match:
        return None
    return match.group("store") or ".", match.group("key")


def verify_folder(storage: Storage, key: str) -> list[str]:
    """Return the problems of the record folder ``key`` in ``storage``."""
    prefix = f"{key}/" if key else ""
    try:
        record = parse_record(
            storage.read_bytes(f"{prefix}{RECORD_FILE}"),
            storage.describe(f"{prefix}{RECORD_FILE}"),
        )
    except NotFoundError:
        return [f"{RECORD_FILE}: missing; this folder holds no filed record"]
    except RecordError as exc:
        return [str(exc)]

    problems = (
        []
        if record.digest == record.compute_digest()
        else [f"{RECORD_FILE}: {_EDITED}"]
    )
    listed = {a.path: a for a in record.artifacts}
    present = {info.key[len(prefix) :]: info for info in storage.list(prefix)}
    for path, artifact in sorted(listed.items()):
        if path not in present:
            problems.append(f"{path}: listed in record.json but missing")
        elif _sha256_object(storage, prefix + path) != artifact.sha256:
            problems.append(
                f"{path}: sha256 differs from record.json; the file was changed"
            )
    for path in sorted(set(present) - set(listed) - {RECORD_FILE}):
        problems.append(f"{path}: in the folder but not listed in record.json")
    return problems


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_object(storage: Storage, key: str) -> str:
    digest = hashlib.sha256()
    with storage.open_read(key) as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _folder_id(key: str) -> str:
    return key.rsplit("-", 1)[-1]


def _matches(
    record: Record, name: str | None, status: str | None, since: datetime | None
) -> bool:
    return (
        (name is None or record.name == name)
        and (status is None or record.status.value == status)
        and (since is None or record.started_at >= since)
    )


def _inside(path: Path, root: Path) -> str:
    """``path`` as a key under ``root`` (both as this machine resolves them),
    or ``""`` when it lies elsewhere: a record folder given relative to the
    current folder rather than to the store."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return ""
