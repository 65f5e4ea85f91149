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

**Reading.** A reader lists the journal, then the generations (an entry gone
from the first listing was deleted after a generation holding it was
published, so the second sees that generation or a newer one), reads the
highest generation and every journal entry, and joins them by record folder,
so an entry in both counts once. An object that vanishes between listing and
reading (a compaction removed it) makes the reader start again.

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

Each generation is a columnar JSON-lines file that carries its own sha256;
its format and the entries it holds are in ``opskit.record_columns``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError

from opskit.errors import (
    InputError,
    NotFoundError,
    OpskitError,
    RecordError,
    first_problem,
)
from opskit.record_columns import (
    FRAME_COLUMNS,
    Columns,
    IndexDamaged,
    IndexEntry,
    PhaseSummary,
    TargetSummary,
    columns_of,
    encode,
    frame_of,
    matches,
    merge,
    order,
    stamp,
)
from opskit.record_model import Record, parse_record
from opskit.storage import (
    LocalStorage,
    ObjectExists,
    ObjectInfo,
    Storage,
    check_key,
)

if TYPE_CHECKING:
    import pandas

__all__ = [
    "COMPACT_AFTER",
    "FRAME_COLUMNS",
    "INDEX_DIR",
    "RECORD_FILE",
    "RECORD_KEY",
    "IndexEntry",
    "PhaseSummary",
    "RecordIndex",
    "TargetSummary",
]

logger = logging.getLogger(__name__)

RECORD_FILE = "record.json"
INDEX_DIR = "_index"
JOURNAL_DIR = f"{INDEX_DIR}/journal"
COMPACT_AFTER = 256
RECORD_KEY = re.compile(r"^(?!_index/)[^/]+/\d{4}/\d{2}/\d{2}/[^/]+/record\.json$")
_GENERATION = re.compile(rf"^{INDEX_DIR}/index-(\d{{12}})\.jsonl$")
_MARKER = f"{JOURNAL_DIR}/README.txt"
_READ_ATTEMPTS = 5
_WORKERS = 16


class _JournalEntry(BaseModel):
    format: Literal["opskit-record-index-entry"] = "opskit-record-index-entry"
    version: Literal[1] = 1
    entry: IndexEntry


@dataclass(frozen=True)
class _Snapshot:
    """What one read of ``_index/`` found: the generation (None without one),
    journal entries by record folder, and the journal keys they came from."""

    number: int
    columns: Columns | None
    journal: dict[str, IndexEntry]
    journal_keys: list[str]
    damage: str = ""


@dataclass
class _View:
    """A sound index: a generation plus the entries it lacks, oldest first."""

    columns: Columns
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
            e for e in view.extra if matches(e, kind, name, status, since)
        ]
        return sorted(found, key=order) if view.extra else found

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
            (stamp(e.started_at), e.key, e.digest)
            for e in view.extra
            if matches(e, kind, name, status, since)
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
        view = self._view(kind)
        rows = view.columns.select(kind=kind, since=since)
        extra = [e for e in view.extra if matches(e, kind, since=since)]
        return frame_of(view.columns, rows, extra)

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

        added = columns_of(sorted(snapshot.journal.values(), key=order))
        merged = merge(snapshot.columns, added)
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
        except IndexDamaged:
            return None

    def _view(self, kind: str | None) -> _View:
        snapshot = self._read()
        if snapshot.columns is not None and not snapshot.damage:
            keys = set(snapshot.columns["key"])
            extra = [e for k, e in snapshot.journal.items() if k not in keys]
            view = _View(snapshot.columns, sorted(extra, key=order))
        else:
            view = _View(self._rebuilt(snapshot.damage), [])
        view.extra.extend(self._repair(view, [kind] if kind else view.kinds()))
        return view

    def _rebuilt(self, damage: str) -> Columns:
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
        return Columns(len(columns["key"]), raw, self._where())

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
        base = Columns(len(rows), raw, self._where())
        return top, journal, merge(base, columns_of(sorted(entries, key=order)))

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
            return columns_of([]), entries
        try:
            key = _generation_key(number)
            data = self.storage.read_bytes(key)
            columns = Columns.parse(data, number, self.storage.describe(key))
            return {name: columns[name] for name in columns.names}, entries
        except (IndexDamaged, NotFoundError):
            return columns_of([]), entries

    def _try_entry(self, key: str) -> IndexEntry | None:
        try:
            return self._read_entry(key)
        except (IndexDamaged, NotFoundError):
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
            columns = Columns.parse(data, number, self.storage.describe(key))
        except IndexDamaged as exc:
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
            raise IndexDamaged(
                f"{where}: not an index entry ({name}: {message})"
            ) from exc

    def _publish(
        self, base: int, columns: dict[str, list[Any]], journal: list[str], join: bool
    ) -> bool:
        """Create generation base+1 holding ``columns``, then delete what it
        replaces. On a conflict, give up, or (``join``) add the newer
        generation's entries and try the number after it."""
        number = base + 1
        for _ in range(_READ_ATTEMPTS):
            try:
                self.storage.put_bytes(_generation_key(number), encode(number, columns))
            except ObjectExists:
                if not join:
                    logger.debug("generation %d published by another process", number)
                    return False
                newer = self._read()
                if newer.columns is not None and not newer.damage:
                    columns = merge(newer.columns, columns)
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


def _generation_key(number: int) -> str:
    return f"{INDEX_DIR}/index-{number:012d}.jsonl"
