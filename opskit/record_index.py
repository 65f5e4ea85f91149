"""An index of the records in a store, so that listing and loading records
does not open every ``record.json``.

The index is derived data kept beside the records, under ``_index/``::

    _index/index-<generation>.jsonl     the compacted index, written whole once
    _index/journal/<record folder>.json one summary per record filed since
    _index/journal/README.txt           keeps the journal folder in place

**Filing.** ``RecordStore.save`` writes ``record.json``, then ``add`` writes
the record's journal entry, as a create under a name made from the record
folder: writing it twice (a retry, or a reader repairing the index) is
harmless, and two processes filing at once never touch the same object.

**Reading.** A reader lists ``_index/``, reads the highest generation and every
journal entry, and joins them by record folder, so an entry in both counts
once. An object that vanishes between listing and reading (a compaction
removed it after publishing what it held) makes the reader start again.

**Compaction** writes generation n+1 with everything it read, as a create
that fails when n+1 exists: of two compactors that read generation n, one
publishes and the other changes nothing. Only after publishing does the
winner delete the journal entries it read, and generations older than n, so a
reader never misses a record and entries filed meanwhile stay in the journal.
A compaction stopped before its deletions leaves entries in both places,
which count once. ``RecordStore.save`` compacts when the journal holds
``COMPACT_AFTER`` entries.

**Rebuild** lists the journal, then every record folder, and publishes a
generation of them; the journal entries listed first are covered because
``record.json`` is written before its journal entry. Entries the index holds
soundly (readable journal entries, a sound newest generation) are kept as
filed, so a ``record.json`` replaced later does not replace its entry; the
other folders are read from ``record.json``, and those unreadable or edited
(digest mismatch) are left out with a warning. On a conflict a rebuild joins
the newer generation and tries the next number. Readers rebuild when there
is no generation, or when the newest cannot be trusted: unparsable,
truncated, of another format version, or not matching its sha256; or when a
journal entry is unreadable.

**Staleness.** Each read also lists the record folders of today and yesterday
(UTC) for the kinds it reads, and adds any record there that the index lacks
(a save whose journal entry failed, or a folder copied in). Folders added by
hand to older days are found by ``rebuild`` (``opskit records reindex``).

A generation is JSON lines: a header (format, version, generation, count,
sha256 of the rest, column names), then one line per column, a JSON array of
one value per record, oldest first. Columns are the summary fields, ``tier``,
the names of each record's measurements, targets and phases, and their values
flattened as ``m.<name>``, ``t.<name>.target|actual|met|margin`` and
``p.<name>.seconds|status``. Flat arrays parse several times faster than one
object per record, and ``frame`` reads only the columns it shows.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import json
import logging
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from opskit.errors import (
    InputError,
    NotFoundError,
    OpskitError,
    RecordError,
    first_problem,
)
from opskit.record_model import Record, RecordStatus, Scalar, parse_record
from opskit.storage import (
    LocalStorage,
    ObjectExists,
    ObjectInfo,
    Storage,
    check_key,
)

if TYPE_CHECKING:
    import pandas

logger = logging.getLogger(__name__)

RECORD_FILE = "record.json"
INDEX_DIR = "_index"
JOURNAL_DIR = f"{INDEX_DIR}/journal"
COMPACT_AFTER = 256
FORMAT = "opskit-record-index"
FORMAT_VERSION = 1
RECORD_KEY = re.compile(r"^(?!_index/)[^/]+/\d{4}/\d{2}/\d{2}/[^/]+/record\.json$")
FRAME_COLUMNS = (
    "key",
    "id",
    "kind",
    "name",
    "status",
    "started_at",
    "ended_at",
    "started_by",
    "reason",
    "tier",
)
_FIXED = (*FRAME_COLUMNS, "digest", "parameters", "measurements", "targets", "phases")
_GENERATION = re.compile(rf"^{INDEX_DIR}/index-(\d{{12}})\.jsonl$")
_MARKER = f"{JOURNAL_DIR}/README.txt"
_STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"
_READ_ATTEMPTS = 5
_WORKERS = 16


class TargetSummary(NamedTuple):
    """A target of a record: seconds allowed, seconds taken, met, margin.
    (Named tuples: the index makes hundreds of thousands at a time.)"""

    name: str
    target_seconds: float
    actual_seconds: float | None
    met: bool | None
    margin_seconds: float | None


class PhaseSummary(NamedTuple):
    """A phase of a record: its duration in seconds and how it ended."""

    name: str
    seconds: float
    status: str


@dataclass(frozen=True)
class IndexEntry:
    """A compact summary of one record, as the index keeps it.

    ``key`` is the record folder; times are UTC; ``digest`` is the one filed
    in ``record.json``. Targets and phases are one per name (the last wins).
    """

    key: str
    id: str
    kind: str
    name: str
    status: RecordStatus
    started_at: datetime
    ended_at: datetime
    started_by: str
    reason: str
    digest: str
    parameters: dict[str, Any] = field(default_factory=dict)
    measurements: dict[str, Scalar] = field(default_factory=dict)
    targets: tuple[TargetSummary, ...] = ()
    phases: tuple[PhaseSummary, ...] = ()

    @classmethod
    def of(cls, key: str, record: Record) -> IndexEntry:
        """Summarise ``record``, filed in folder ``key``."""
        targets = {t.name: t for t in record.targets}.values()
        phases = {p.name: p for p in record.phases}.values()
        return cls(
            key=key,
            id=record.id,
            kind=record.kind,
            name=record.name,
            status=record.status,
            started_at=_utc(record.started_at),
            ended_at=_utc(record.ended_at),
            started_by=record.started_by,
            reason=record.reason,
            digest=record.digest,
            parameters=to_jsonable_python(record.parameters),
            measurements=dict(record.measurements),
            targets=tuple(
                TargetSummary(
                    t.name, t.target_seconds, t.actual_seconds, t.met, t.margin_seconds
                )
                for t in targets
            ),
            phases=tuple(
                PhaseSummary(p.name, p.seconds, p.status.value) for p in phases
            ),
        )

    @property
    def tier(self) -> str:
        """The ``tier`` parameter, or ``""`` when the run had none."""
        return str(self.parameters.get("tier") or "")


class _Header(BaseModel):
    format: Literal["opskit-record-index"]
    version: Literal[1]
    generation: int
    count: int
    sha256: str
    columns: list[str]


class _JournalEntry(BaseModel):
    format: Literal["opskit-record-index-entry"] = "opskit-record-index-entry"
    version: Literal[1] = 1
    entry: IndexEntry


class _Damaged(RecordError):
    """The index cannot be trusted; it is rebuilt from the records."""


class _Columns:
    """Index entries as columns, parsed from a generation only when asked for."""

    def __init__(
        self, count: int, raw: dict[str, bytes | list[Any]], where: str
    ) -> None:
        self.count, self.where, self._raw = count, where, raw
        self.names = list(raw)

    @classmethod
    def parse(cls, data: bytes, number: int, where: str) -> _Columns:
        """Check a generation file whole; raises ``_Damaged``."""
        head, _, body = data.partition(b"\n")
        try:
            header = _Header.model_validate_json(head)
        except ValidationError as exc:
            name, message = first_problem(exc)
            raise _Damaged(f"{where}: not a record index ({name}: {message})") from exc
        if hashlib.sha256(body).hexdigest() != header.sha256:
            raise _Damaged(f"{where}: content does not match its sha256 (cut short?)")
        lines = body.split(b"\n")
        if (
            header.generation != number
            or lines[-1]
            or len(lines) != len(header.columns) + 1
            or not set(_FIXED) <= set(header.columns)
        ):
            raise _Damaged(f"{where}: header does not describe the content")
        return cls(header.count, dict(zip(header.columns, lines, strict=False)), where)

    def __getitem__(self, name: str) -> list[Any]:
        value = self._raw.get(name)
        if isinstance(value, bytes):
            try:
                value = self._raw[name] = json.loads(value)
            except ValueError as exc:
                raise _Damaged(f"{self.where}: column {name!r} unreadable") from exc
        if not isinstance(value, list) or len(value) != self.count:
            raise _Damaged(f"{self.where}: column {name!r} missing or cut short")
        return value

    def entries(self, rows: Sequence[int]) -> list[IndexEntry]:
        """The entries at ``rows``; raises ``_Damaged`` on inconsistent columns."""
        if not rows:
            return []
        try:
            with _bulk():
                columns = {name: self[name] for name in self.names}
                return [_entry_at(columns, i) for i in rows]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise _Damaged(f"{self.where}: inconsistent columns ({exc})") from exc

    def select(
        self,
        kind: str | None = None,
        name: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
    ) -> list[int]:
        """The rows matching every filter given, oldest first."""
        rows: Iterable[int] = range(self.count)
        for column, wanted in (("kind", kind), ("name", name), ("status", status)):
            if wanted is not None:
                values = self[column]
                rows = [i for i in rows if values[i] == wanted]
        if since is not None:
            stamp, started = _stamp(since), self["started_at"]
            rows = [i for i in rows if started[i] >= stamp]
        return list(rows)


@dataclass(frozen=True)
class _Snapshot:
    """What one read of ``_index/`` found: the generation (None without one),
    journal entries by record folder, and the journal keys they came from."""

    number: int
    columns: _Columns | None
    journal: dict[str, IndexEntry]
    journal_keys: list[str]
    damage: str = ""


@dataclass
class _View:
    """A sound index: a generation plus the entries it lacks, oldest first."""

    columns: _Columns
    extra: list[IndexEntry]

    def keys(self) -> set[str]:
        return set(self.columns["key"]) | {e.key for e in self.extra}

    def kinds(self) -> set[str]:
        return set(self.columns["kind"]) | {e.kind for e in self.extra}


class RecordIndex:
    """The index of a record store; see the module docstring for its design.

    >>> index = RecordIndex(open_storage("records"))
    >>> index.frame(kind="restore-drill")[["name", "m.rto_seconds"]]
    """

    def __init__(self, storage: Storage, *, compact_after: int = COMPACT_AFTER) -> None:
        self.storage = storage
        self.compact_after = compact_after

    def entries(
        self,
        *,
        kind: str | None = None,
        name: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
    ) -> list[IndexEntry]:
        """Summaries of the records matching every filter given, oldest first.

        ``since`` is compared with ``started_at`` (naive means UTC).
        """
        view = self._view(kind)
        rows = view.columns.select(kind, name, status, since)
        found = view.columns.entries(rows) + [
            e for e in view.extra if _matches(e, kind, name, status, since)
        ]
        return sorted(found, key=_order) if view.extra else found

    def digests(
        self,
        *,
        kind: str | None = None,
        name: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
    ) -> dict[str, str]:
        """The folders of the records matching every filter given, oldest
        first, each with the digest it was filed with. Cheaper than
        ``entries``: it reads only the columns it needs."""
        view = self._view(kind)
        columns = view.columns
        rows = columns.select(kind, name, status, since)
        started, keys, digests = (columns[n] for n in ("started_at", "key", "digest"))
        found = [(started[i], keys[i], digests[i]) for i in rows] + [
            (_stamp(e.started_at), e.key, e.digest)
            for e in view.extra
            if _matches(e, kind, name, status, since)
        ]
        return {key: digest for _, key, digest in sorted(found)}

    def frame(
        self, *, kind: str | None = None, since: datetime | None = None
    ) -> pandas.DataFrame:
        """One row per record, oldest first, for reports.

        Columns: ``FRAME_COLUMNS`` (times as UTC timestamps; ``tier`` is the
        tier parameter or ``""``), then ``m.<measurement>``,
        ``t.<target>.target|actual|met|margin`` (seconds) and
        ``p.<phase>.seconds``; a value a record lacks is NaN or None.
        """
        import pandas as pd

        view = self._view(kind)
        columns, rows = view.columns, view.columns.select(kind=kind, since=since)
        data = {name: columns[name] for name in columns.names if _is_frame_column(name)}
        if len(rows) != columns.count:
            data = {name: [values[i] for i in rows] for name, values in data.items()}
        extra = [_frame_row(e) for e in view.extra if _matches(e, kind, since=since)]
        if extra:
            data = _append_rows(data, len(rows), extra)
        return _tidy_frame(pd.DataFrame(data))

    def add(self, key: str, record: Record) -> None:
        """Journal ``record``, filed in folder ``key``; compact when due.

        Raises ``StorageError`` when the journal entry cannot be written.
        """
        self._journal(IndexEntry.of(key, record))
        try:
            _, journal = self._list()
            if len(journal) >= self.compact_after:
                self.compact()
        except (OpskitError, OSError) as exc:
            logger.warning("%s: compaction failed (%s)", self._where(), exc)

    def compact(self) -> None:
        """Fold the journal into a new generation; rebuild a broken index.

        When another process compacts at the same moment, one of the two
        publishes and the other leaves everything as it was.
        """
        snapshot = self._read()
        if snapshot.columns is None or snapshot.damage:
            self.rebuild()
            return
        if not snapshot.journal:
            return

        added = _columns(sorted(snapshot.journal.values(), key=_order))
        merged = _merge(snapshot.columns, added)
        journal = snapshot.journal_keys
        if self._publish(snapshot.number, merged, journal, join=False):
            logger.debug("%s: compacted %d entries", self._where(), len(added["key"]))

    def rebuild(self) -> int:
        """Rebuild the index from every ``record.json``; return how many.

        Raises ``StorageError`` when the new index cannot be written.
        """
        started = time.monotonic()
        number, journal, columns = self._from_records()
        self._publish(number, columns, journal, join=True)
        count = len(columns["key"])
        logger.info(
            "%s: rebuilt from %d records in %.1f s",
            self._where(),
            count,
            time.monotonic() - started,
        )
        return count

    def lookup(self, key: str) -> IndexEntry | None:
        """The entry for record folder ``key`` as the index holds it now,
        without rebuilding or repairing; None when absent or untrusted."""
        snapshot = self._read()
        if key in snapshot.journal:
            return snapshot.journal[key]
        if snapshot.columns is None or snapshot.damage:
            return None
        try:
            rows = [i for i, k in enumerate(snapshot.columns["key"]) if k == key]
            return snapshot.columns.entries(rows)[0] if rows else None
        except _Damaged:
            return None

    def _view(self, kind: str | None) -> _View:
        snapshot = self._read()
        if snapshot.columns is not None and not snapshot.damage:
            keys = set(snapshot.columns["key"])
            extra = [e for k, e in snapshot.journal.items() if k not in keys]
            view = _View(snapshot.columns, sorted(extra, key=_order))
        else:
            view = _View(self._rebuilt(snapshot.damage), [])
        view.extra.extend(self._repair(view, [kind] if kind else view.kinds()))
        return view

    def _rebuilt(self, damage: str) -> _Columns:
        if damage:
            logger.warning("%s; rebuilding it from the records", damage)
        else:
            logger.info("%s: no index yet; building it", self._where())
        number, journal, columns = self._from_records()
        try:
            self._publish(number, columns, journal, join=True)
        except (OpskitError, OSError) as exc:
            logger.warning(
                "%s: the rebuilt index cannot be written (%s); every read rebuilds "
                "it until the store is writable",
                self._where(),
                exc,
            )
        raw: dict[str, bytes | list[Any]] = dict(columns)
        return _Columns(len(columns["key"]), raw, self._where())

    def _from_records(self) -> tuple[int, list[str], dict[str, list[Any]]]:
        """Index every record folder: journal keys are listed first, then the
        records (see the module docstring). What the index holds soundly is
        kept as filed; ``record.json`` is read for the other folders."""
        generations, journal = self._list()
        top = generations[-1] if generations else 0
        folders = {
            info.key[: -len(RECORD_FILE) - 1]: None
            for info in self.storage.list()
            if RECORD_KEY.match(info.key)
        }
        held, journaled = self._salvage(top, journal)

        rows = [i for i, key in enumerate(held["key"]) if key in folders]
        kept = {name: [values[i] for i in rows] for name, values in held.items()}
        known = set(kept["key"])
        entries = [e for k, e in journaled.items() if k in folders and k not in known]
        known |= {e.key for e in entries}
        read = self._summarise([f for f in folders if f not in known])
        entries += [e for e in read if e is not None]

        raw: dict[str, bytes | list[Any]] = dict(kept)
        base = _Columns(len(rows), raw, self._where())
        return top, journal, _merge(base, _columns(sorted(entries, key=_order)))

    def _salvage(
        self, number: int, journal: Sequence[str]
    ) -> tuple[dict[str, list[Any]], dict[str, IndexEntry]]:
        """The columns of generation ``number`` if sound (else none), and the
        journal entries that can be read."""
        entries = {}
        with ThreadPoolExecutor(_WORKERS) as pool:
            for entry in pool.map(self._try_entry, journal):
                if entry is not None:
                    entries[entry.key] = entry
        if not number:
            return _columns([]), entries
        try:
            key = _generation_key(number)
            data = self.storage.read_bytes(key)
            columns = _Columns.parse(data, number, self.storage.describe(key))
            return {name: columns[name] for name in columns.names}, entries
        except (_Damaged, NotFoundError):
            return _columns([]), entries

    def _try_entry(self, key: str) -> IndexEntry | None:
        try:
            return self._read_entry(key)
        except (_Damaged, NotFoundError):
            return None

    def _repair(self, view: _View, kinds: Iterable[str]) -> list[IndexEntry]:
        """Entries for recent record folders the index lacks, now journaled."""
        known, today = view.keys(), datetime.now(UTC).date()
        missing = [
            info.key[: -len(RECORD_FILE) - 1]
            for kind in sorted(kinds)
            for day in (today - timedelta(days=1), today)
            for info in _list_folder(self.storage, f"{kind}/{day:%Y/%m/%d}")
            if RECORD_KEY.match(info.key)
            and info.key[: -len(RECORD_FILE) - 1] not in known
        ]
        found = [e for e in self._summarise(missing) if e is not None]
        for entry in found:
            logger.warning("%s: not in the record index; adding it", entry.key)
            try:
                self._journal(entry)
            except (OpskitError, OSError) as exc:
                logger.warning("%s: cannot add it to the index (%s)", entry.key, exc)
        return found

    def _summarise(self, folders: Sequence[str]) -> list[IndexEntry | None]:
        if len(folders) < 8:
            return [self._summary(f) for f in folders]
        with ThreadPoolExecutor(_WORKERS) as pool:
            return list(pool.map(self._summary, folders))

    def _summary(self, folder: str) -> IndexEntry | None:
        where = self.storage.describe(f"{folder}/{RECORD_FILE}")
        try:
            record = parse_record(
                self.storage.read_bytes(f"{folder}/{RECORD_FILE}"), where
            )
        except OpskitError as exc:
            logger.warning("%s; left out of the record index", exc)
            return None
        if record.digest != record.compute_digest():
            logger.warning(
                "%s: changed since it was filed (its digest no longer matches); "
                "left out of the record index, see `opskit records verify`",
                where,
            )
            return None
        return IndexEntry.of(folder, record)

    def _journal(self, entry: IndexEntry) -> None:
        key = f"{JOURNAL_DIR}/{entry.key.replace('/', '~')}.json"
        data = _JournalEntry(entry=entry).model_dump_json().encode("utf-8")
        try:
            self.storage.put_bytes(key, data)
        except ObjectExists:
            logger.debug("%s: journaled already", entry.key)

    def _read(self) -> _Snapshot:
        """Read the newest generation and the journal; retry when a
        compaction removes what was listed."""
        for _ in range(_READ_ATTEMPTS):
            generations, journal = self._list()
            number = generations[-1] if generations else 0
            try:
                return self._read_listed(number, journal)
            except NotFoundError as exc:
                logger.debug("index changed while read (%s); reading again", exc)
        raise RecordError(
            f"{self._where()}: the record index kept changing while it was read; "
            "run again"
        )

    def _read_listed(self, number: int, journal: list[str]) -> _Snapshot:
        entries: dict[str, IndexEntry] = {}
        try:
            for entry in self._read_journal(journal):
                entries[entry.key] = entry
            if not number:
                return _Snapshot(0, None, entries, journal)
            key = _generation_key(number)
            data = self.storage.read_bytes(key)
            columns = _Columns.parse(data, number, self.storage.describe(key))
        except _Damaged as exc:
            return _Snapshot(number, None, entries, journal, damage=str(exc))
        return _Snapshot(number, columns, entries, journal)

    def _read_journal(self, keys: Sequence[str]) -> list[IndexEntry]:
        if len(keys) < 8:
            return [self._read_entry(k) for k in keys]
        with ThreadPoolExecutor(_WORKERS) as pool:
            return list(pool.map(self._read_entry, keys))

    def _read_entry(self, key: str) -> IndexEntry:
        data = self.storage.read_bytes(key)
        try:
            return _JournalEntry.model_validate_json(data).entry
        except ValidationError as exc:
            name, message = first_problem(exc)
            where = self.storage.describe(key)
            raise _Damaged(f"{where}: not an index entry ({name}: {message})") from exc

    def _publish(
        self, base: int, columns: dict[str, list[Any]], journal: list[str], join: bool
    ) -> bool:
        """Create generation base+1 holding ``columns``, then delete what it
        replaces. On a conflict, give up, or (``join``) add the newer
        generation's entries and try the number after it."""
        number = base + 1
        for _ in range(_READ_ATTEMPTS):
            try:
                self.storage.put_bytes(
                    _generation_key(number), _encode(number, columns)
                )
            except ObjectExists:
                if not join:
                    logger.debug("generation %d published by another process", number)
                    return False
                newer = self._read()
                if newer.columns is not None and not newer.damage:
                    columns = _merge(newer.columns, columns)
                number = max(newer.number, number) + 1
                continue
            self._tidy(number, journal)
            return True
        raise RecordError(
            f"{self._where()}: other processes kept publishing the index; run again"
        )

    def _tidy(self, number: int, journal: list[str]) -> None:
        """Delete merged journal entries and generations before ``number - 1``
        (kept for readers that listed it). The marker keeps the journal folder
        from being removed under a writer when its last entry goes."""
        if not self.storage.exists(_MARKER):
            text = "Journal of the record index; see opskit/record_index.py.\n"
            self.storage.put_bytes(_MARKER, text.encode(), overwrite=True)
        generations, _ = self._list()
        stale = [_generation_key(n) for n in generations if n < number - 1]
        for key in [*journal, *stale]:
            if not key.startswith(f"{INDEX_DIR}/"):
                raise RecordError(f"{key}: not part of the index; never deleted")
            try:
                self.storage.delete(key)
            except (OpskitError, OSError) as exc:
                logger.debug("%s: left in place (%s)", key, exc)

    def _list(self) -> tuple[list[int], list[str]]:
        """Generation numbers in order, and journal entry keys.

        The journal is listed first: an entry gone by then was deleted after
        a generation holding it was published, so the generations listed
        next include it.
        """
        journal = [
            info.key
            for info in _list_folder(self.storage, JOURNAL_DIR)
            if info.key.endswith(".json")
        ]
        generations = [
            int(match.group(1))
            for info in _list_folder(self.storage, INDEX_DIR)
            if (match := _GENERATION.match(info.key))
        ]
        return sorted(generations), journal

    def _where(self) -> str:
        return self.storage.describe(INDEX_DIR)


def _list_folder(storage: Storage, folder: str) -> list[ObjectInfo]:
    """The objects under ``folder``. A local store walks its whole tree for
    any listing, so its folder is listed as a store of its own."""
    try:
        check_key(folder)
        if not isinstance(storage, LocalStorage):
            return list(storage.list(f"{folder}/"))
        if not (storage.root / folder).is_dir():
            return []
        own = LocalStorage(storage.root / folder)
    except InputError:  # a folder name no record could have, or gone meanwhile
        return []
    return [
        ObjectInfo(f"{folder}/{info.key}", info.size, info.modified)
        for info in own.list()
    ]


def _columns(entries: Sequence[IndexEntry]) -> dict[str, list[Any]]:
    """Entries as columns, in the order given; see the module docstring."""
    count = len(entries)
    columns: dict[str, list[Any]] = {
        "key": [e.key for e in entries],
        "id": [e.id for e in entries],
        "kind": [e.kind for e in entries],
        "name": [e.name for e in entries],
        "status": [e.status.value for e in entries],
        "started_at": [_stamp(e.started_at) for e in entries],
        "ended_at": [_stamp(e.ended_at) for e in entries],
        "started_by": [e.started_by for e in entries],
        "reason": [e.reason for e in entries],
        "tier": [e.tier for e in entries],
        "digest": [e.digest for e in entries],
        "parameters": [e.parameters for e in entries],
        "measurements": [list(e.measurements) for e in entries],
        "targets": [[t.name for t in e.targets] for e in entries],
        "phases": [[p.name for p in e.phases] for e in entries],
    }
    for i, entry in enumerate(entries):
        for name, value in _flat(entry):
            if name not in columns:
                columns[name] = [None] * count
            columns[name][i] = value
    return columns


@contextmanager
def _bulk() -> Iterator[None]:
    """Pause the cyclic garbage collector while making many small objects
    that hold no cycles: it would rescan them over and over (40% of the time
    to build 100,000 entries, measured)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _entry_at(col: dict[str, list[Any]], i: int) -> IndexEntry:
    """The entry in row ``i`` of the columns ``col``."""
    return IndexEntry(
        key=col["key"][i],
        id=col["id"][i],
        kind=col["kind"][i],
        name=col["name"][i],
        status=RecordStatus(col["status"][i]),
        started_at=datetime.fromisoformat(col["started_at"][i]),
        ended_at=datetime.fromisoformat(col["ended_at"][i]),
        started_by=col["started_by"][i],
        reason=col["reason"][i],
        digest=col["digest"][i],
        parameters=col["parameters"][i],
        measurements={n: col[f"m.{n}"][i] for n in col["measurements"][i]},
        targets=tuple(
            TargetSummary(
                n,
                col[f"t.{n}.target"][i],
                col[f"t.{n}.actual"][i],
                col[f"t.{n}.met"][i],
                col[f"t.{n}.margin"][i],
            )
            for n in col["targets"][i]
        ),
        phases=tuple(
            PhaseSummary(n, col[f"p.{n}.seconds"][i], col[f"p.{n}.status"][i])
            for n in col["phases"][i]
        ),
    )


def _flat(entry: IndexEntry) -> Iterator[tuple[str, Any]]:
    for name, value in entry.measurements.items():
        yield f"m.{name}", value
    for t in entry.targets:
        yield f"t.{t.name}.target", t.target_seconds
        yield f"t.{t.name}.actual", t.actual_seconds
        yield f"t.{t.name}.met", t.met
        yield f"t.{t.name}.margin", t.margin_seconds
    for p in entry.phases:
        yield f"p.{p.name}.seconds", p.seconds
        yield f"p.{p.name}.status", p.status


def _merge(old: _Columns, new: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """``old`` plus the rows of ``new`` whose key it lacks, oldest first."""
    known = set(old["key"])
    keep = [i for i, key in enumerate(new["key"]) if key not in known]
    names = old.names + [name for name in new if name not in old.names]
    merged = {
        name: (old[name] if name in old.names else [None] * old.count)
        + [new[name][i] if name in new else None for i in keep]
        for name in names
    }
    return _in_order(merged)


def _in_order(columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Rows sorted by start time, then key; the same columns if they are."""
    rows = list(zip(columns["started_at"], columns["key"], strict=True))
    if all(a <= b for a, b in itertools.pairwise(rows)):
        return columns
    order = sorted(range(len(rows)), key=rows.__getitem__)
    return {name: [values[i] for i in order] for name, values in columns.items()}


def _encode(number: int, columns: dict[str, list[Any]]) -> bytes:
    lines = [
        json.dumps(values, separators=(",", ":")).encode("utf-8")
        for values in columns.values()
    ]
    body = b"\n".join(lines) + b"\n"
    header = _Header(
        format=FORMAT,
        version=FORMAT_VERSION,
        generation=number,
        count=len(columns["key"]),
        sha256=hashlib.sha256(body).hexdigest(),
        columns=list(columns),
    )
    return header.model_dump_json().encode("utf-8") + b"\n" + body


def _frame_row(entry: IndexEntry) -> dict[str, Any]:
    row: dict[str, Any] = {
        "key": entry.key,
        "id": entry.id,
        "kind": entry.kind,
        "name": entry.name,
        "status": entry.status.value,
        "started_at": _stamp(entry.started_at),
        "ended_at": _stamp(entry.ended_at),
        "started_by": entry.started_by,
        "reason": entry.reason,
        "tier": entry.tier,
    }
    row.update((k, v) for k, v in _flat(entry) if _is_frame_column(k))
    return row


def _append_rows(
    data: dict[str, list[Any]], count: int, rows: list[dict[str, Any]]
) -> dict[str, list[Any]]:
    """Columns of ``count`` values plus ``rows``, in time order."""
    names = list(data) + [n for row in rows for n in row if n not in data]
    data = {
        name: data.get(name, [None] * count) + [row.get(name) for row in rows]
        for name in dict.fromkeys(names)
    }
    return _in_order(data)


def _tidy_frame(frame: pandas.DataFrame) -> pandas.DataFrame:
    """Times as UTC timestamps; flattened columns no row has are dropped."""
    import pandas as pd

    for name in ("started_at", "ended_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    empty = [
        name
        for name in frame.columns
        if name not in FRAME_COLUMNS and frame[name].isna().all()
    ]
    return frame.drop(columns=empty)


def _is_frame_column(name: str) -> bool:
    return (
        name in FRAME_COLUMNS
        or name.startswith(("m.", "t."))
        or (name.startswith("p.") and name.endswith(".seconds"))
    )


def _matches(
    entry: IndexEntry,
    kind: str | None = None,
    name: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
) -> bool:
    return (
        (kind is None or entry.kind == kind)
        and (name is None or entry.name == name)
        and (status is None or entry.status.value == status)
        and (since is None or entry.started_at >= _utc(since))
    )


def _order(entry: IndexEntry) -> tuple[datetime, str]:
    return entry.started_at, entry.key


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive time is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _stamp(moment: datetime) -> str:
    """A UTC time as fixed-width text, so that text order is time order."""
    return f"{_utc(moment):{_STAMP}}"


def _generation_key(number: int) -> str:
    return f"{INDEX_DIR}/index-{number:012d}.jsonl"
