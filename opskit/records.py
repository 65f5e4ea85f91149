"""The record of one run, and the store that keeps records.

A record is a folder ``<kind>/<YYYY>/<MM>/<DD>/<HHMMSS>-<name>-<short id>/``
holding ``record.json`` and the files it lists with their sha256. Records are
written once: files first, ``record.json`` last and never over an existing one,
so a folder without ``record.json`` is never mistaken for a record.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import platform
import re
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opskit import __version__
from opskit.errors import (
    NotFoundError,
    OpskitError,
    ParameterError,
    RecordError,
    first_problem,
)
from opskit.phases import Phase
from opskit.storage import ObjectExists, Storage, open_storage
from opskit.targets import TargetResult

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RECORD_FILE = "record.json"
STORE_ENV = "OPSKIT_RECORD_STORE"
DRAFT_ENV = "OPSKIT_RECORD_DRAFT"
STARTED_BY_ENV = "OPSKIT_STARTED_BY"
DEFAULT_STORE = "records"
MASK = "***"
_RECORD_KEY = re.compile(r"^[^/]+/\d{4}/\d{2}/\d{2}/[^/]+/record\.json$")
_EDITED = (
    "changed since it was filed (its digest no longer matches); the record "
    "cannot be trusted"
)

_SENSITIVE_NAME = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|credential|private|auth", re.I
)
_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*(?=@)", re.I
)
_DSN_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(\S+)", re.I)


class RecordStatus(StrEnum):
    """How a run ended: ``failed`` missed a target or check, ``error`` broke."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    ABORTED = "aborted"


class CheckStatus(StrEnum):
    """The outcome of one check."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


Scalar = int | float | str | bool | None


class Check(BaseModel):
    """One validation made during a run, with what was expected and seen."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    status: CheckStatus
    expected: Scalar = None
    actual: Scalar = None
    detail: str = ""


class Finding(BaseModel):
    """A problem found by a review, in the one findings format."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    severity: Literal["info", "low", "medium", "high", "critical"]
    title: str
    evidence: str = ""
    advice: str = ""


class TimelineEntry(BaseModel):
    """Something that happened during an incident, and who noted it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    author: str
    text: str


class Artifact(BaseModel):
    """A file of the record folder, by path relative to it, with its sha256."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    sha256: str
    bytes: int


class Environment(BaseModel):
    """Where the run happened."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    opskit_version: str
    python_version: str
    platform: str


class Record(BaseModel):
    """The evidence of one run; see ``opskit/schemas/record-v1.schema.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    kind: str
    name: str
    started_by: str
    started_at: datetime
    ended_at: datetime
    status: RecordStatus
    reason: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    phases: list[Phase] = Field(default_factory=list)
    measurements: dict[str, Scalar] = Field(default_factory=dict)
    targets: list[TargetResult] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    artifacts: list[Artifact] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    environment: Environment
    digest: str = ""

    def compute_digest(self) -> str:
        """The sha256 of this record's canonical JSON, ``digest`` left empty.

        Stored in ``digest`` when the record is filed, it shows whether
        ``record.json`` was edited afterwards.
        """
        body = self.model_copy(update={"digest": ""}).model_dump(mode="json")
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def folder(self) -> str:
        """Return this record's folder key, e.g. ``restore-drill/2026/12/03/...``."""
        at = self.started_at
        slug = re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or "run"
        return f"{self.kind}/{at:%Y/%m/%d}/{at:%H%M%S}-{slug[:40]}-{self.id[:8]}"


@dataclass(frozen=True)
class StoredRecord:
    """A record and the folder key it was found under."""

    key: str
    record: Record


def current_environment() -> Environment:
    """Describe the host and versions this process runs with."""
    return Environment(
        host=socket.gethostname(),
        opskit_version=__version__,
        python_version=platform.python_version(),
        platform=platform.platform(terse=True),
    )


def started_by() -> str:
    """Name who or what started this run: $OPSKIT_STARTED_BY or user@host."""
    return (
        os.environ.get(STARTED_BY_ENV) or f"{getpass.getuser()}@{socket.gethostname()}"
    )


def mask_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``parameters`` with secrets replaced by ``***``.

    Values whose name looks sensitive are masked whole; passwords inside
    URLs and ``password=`` DSN fields are masked in place.
    """
    masked: dict[str, Any] = {}
    for name, value in parameters.items():
        if _SENSITIVE_NAME.search(name) and value not in (None, ""):
            masked[name] = MASK
        elif isinstance(value, str):
            masked[name] = mask_text(value)
        else:
            masked[name] = value
    return masked


def mask_text(text: str) -> str:
    """Mask passwords inside URLs and DSNs found in ``text``."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _DSN_PASSWORD.sub(lambda m: m.group("head") + MASK, text)


def resolve_store_location(location: str | Path | None = None) -> str:
    """Return ``location``, else $OPSKIT_RECORD_STORE, else ``records``."""
    return str(location or os.environ.get(STORE_ENV) or DEFAULT_STORE)


def file_record(record: Record, store: str | Path | None = None) -> str:
    """Save ``record`` in ``store`` and return where it is.

    Under ``opskit run`` the record is handed to the runner instead (through
    $OPSKIT_RECORD_DRAFT), which files it with the executed notebook and HTML.

    >>> file_record(result.record, "records")
    'records/restore-drill/2026/12/03/163700-orders-1a2b3c4d'
    """
    location = resolve_store_location(store)
    draft = os.environ.get(DRAFT_ENV)
    if draft:
        Path(draft).write_text(record.model_dump_json(indent=2), encoding="utf-8")
        logger.info("record handed to the runner: %s", draft)
        return f"{location.rstrip('/')}/{record.folder()}"
    return RecordStore.open(location, create=True).save(record)


class RecordStore:
    """Records in a store, written once and never changed.

    >>> store = RecordStore.open("records")
    >>> [r.record.status for r in store.find(kind="restore-drill")]
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @classmethod
    def open(
        cls, location: str | Path | None = None, *, create: bool = False
    ) -> RecordStore:
        """Open the store at ``location`` (see ``resolve_store_location``)."""
        return cls(open_storage(resolve_store_location(location), create=create))

    def save(self, record: Record, files: Mapping[str, Path] | None = None) -> str:
        """Write ``record`` with ``files`` (name in folder -> local path).

        Each file is listed in the saved ``record.json`` with its sha256.
        Returns the record folder's location. Raises ``RecordError`` if a
        record is already filed under that folder.
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

        ``since`` is compared with ``started_at``; damaged records are logged
        and left out (``verify`` reports them).
        """
        found = []
        for key in self._record_keys(kind):
            if since is not None and _folder_day(key) < since.date():
                continue
            stored = self._try_load(key)
            if stored is not None and _matches(stored.record, name, status, since):
                found.append(stored)
        return sorted(found, key=lambda s: s.record.started_at)

    def load(self, ref: str) -> StoredRecord:
        """Load a record by folder key (also as printed with the store in front),
        full id or a unique id prefix."""
        key = self._key_of(ref)
        if self.storage.exists(f"{key}/{RECORD_FILE}"):
            return StoredRecord(key=key, record=self._read(key))

        matches = [
            k for k in self._record_keys(None) if _folder_id(k).startswith(ref[:8])
        ]
        stored = [
            s
            for k in matches
            if (s := self._try_load(k)) and s.record.id.startswith(ref)
        ]
        if len(stored) == 1:
            return stored[0]
        if not stored:
            raise NotFoundError(
                f"record {ref!r}: not in {self.storage.location}; "
                "give a folder key or id as shown by `opskit records list`"
            )
        raise RecordError(
            f"record {ref!r}: matches {len(stored)} records; give more of the id"
        )

    def _key_of(self, ref: str) -> str:
        key = ref.strip().strip("/")
        location = self.storage.location.strip("/")
        if location and key.startswith(location + "/"):
            key = key[len(location) + 1 :]
        if not key or any(part in ("", ".", "..") for part in key.split("/")):
            raise ParameterError(
                f"record {ref!r}: give a record folder (as printed by opskit run) "
                "or an id as shown by `opskit records list`"
            )
        return key

    def verify(self, ref: str) -> list[str]:
        """Check a record's files against their recorded sha256.

        Returns the problems found; an empty list means the folder is exactly
        as it was filed.
        """
        key = self._key_of(ref)
        if not self.storage.exists(f"{key}/{RECORD_FILE}"):
            key = self.load(ref).key
        return verify_folder(self.storage, key)

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
            if _RECORD_KEY.match(info.key)
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


def parse_record(data: bytes, where: str) -> Record:
    """Parse ``record.json`` bytes; ``where`` names the file in errors."""
    try:
        return Record.model_validate_json(data)
    except ValidationError as exc:
        field, message = first_problem(exc)
        raise RecordError(
            f"{where}: not a valid record, field {field}: {message}; "
            "the file was changed or written by another tool"
        ) from exc


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


def record_schema() -> dict[str, Any]:
    """Return the JSON schema of ``record.json`` for this schema version."""
    schema = Record.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://opskit.dev/schemas/record-v{SCHEMA_VERSION}.json"
    return schema


def _sha256_object(storage: Storage, key: str) -> str:
    digest = hashlib.sha256()
    with storage.open_read(key) as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _folder_day(key: str) -> date:
    _, year, month, day, _ = key.split("/")
    return date(int(year), int(month), int(day))


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
