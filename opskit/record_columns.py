"""Index entries, the compact summaries of records, and the columnar file
that holds many of them: one generation of the record index
(``opskit.record_index`` keeps, reads and publishes them).

A generation is JSON lines: a header (format, version, generation number,
count, sha256 of the rest, column names), then one line per column, a JSON
array of one value per record, oldest first. The columns are the summary
fields, ``tier``, the names of each record's measurements, targets and
phases, and their values flattened as ``m.<name>``,
``t.<name>.target|actual|met|margin`` and ``p.<name>.seconds|status``. Flat
arrays parse several times faster than one JSON object per record, and a
frame reads only the columns it shows.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from opskit.errors import RecordError, first_problem
from opskit.record_model import Record, RecordStatus, Scalar

if TYPE_CHECKING:
    import pandas

FORMAT = "opskit-record-index"
FORMAT_VERSION = 1
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
_STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


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
            started_at=utc(record.started_at),
            ended_at=utc(record.ended_at),
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


class IndexDamaged(RecordError):
    """The index cannot be trusted; it is rebuilt from the records."""


class Columns:
    """Index entries as columns, parsed from a generation only when asked for."""

    def __init__(
        self, count: int, raw: dict[str, bytes | list[Any]], where: str
    ) -> None:
        self.count, self.where, self._raw = count, where, raw
        self.names = list(raw)

    @classmethod
    def parse(cls, data: bytes, number: int, where: str) -> Columns:
        """Check a generation file whole; raises ``IndexDamaged``."""
        head, _, body = data.partition(b"\n")
        try:
            header = _Header.model_validate_json(head)
        except ValidationError as exc:
            name, message = first_problem(exc)
            raise IndexDamaged(
                f"{where}: not a record index ({name}: {message})"
            ) from exc
        if hashlib.sha256(body).hexdigest() != header.sha256:
            raise IndexDamaged(
                f"{where}: content does not match its sha256 (cut short?)"
            )
        lines = body.split(b"\n")
        if (
            header.generation != number
            or lines[-1]
            or len(lines) != len(header.columns) + 1
            or not set(_FIXED) <= set(header.columns)
        ):
            raise IndexDamaged(f"{where}: header does not describe the content")
        return cls(header.count, dict(zip(header.columns, lines, strict=False)), where)

    def __getitem__(self, name: str) -> list[Any]:
        """The column ``name``, parsed on first use; raises ``IndexDamaged``."""
        value = self._raw.get(name)
        if isinstance(value, bytes):
            try:
                value = self._raw[name] = json.loads(value)
            except ValueError as exc:
                raise IndexDamaged(f"{self.where}: column {name!r} unreadable") from exc
        if not isinstance(value, list) or len(value) != self.count:
            raise IndexDamaged(f"{self.where}: column {name!r} missing or cut short")
        return value

    def entries(self, rows: Sequence[int]) -> list[IndexEntry]:
        """The entries at ``rows``; raises ``IndexDamaged`` on inconsistent columns."""
        if not rows:
            return []
        try:
            with _bulk():
                columns = {name: self[name] for name in self.names}
                return [_entry_at(columns, i) for i in rows]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise IndexDamaged(f"{self.where}: inconsistent columns ({exc})") from exc

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
            earliest, started = stamp(since), self["started_at"]
            rows = [i for i in rows if started[i] >= earliest]
        return list(rows)


def frame_of(
    columns: Columns, rows: Sequence[int], extra: list[IndexEntry]
) -> pandas.DataFrame:
    """A frame of the ``rows`` of ``columns`` and the entries ``extra``, in
    time order; see ``RecordIndex.frame`` for its columns."""
    import pandas as pd

    data = {name: columns[name] for name in columns.names if _is_frame_column(name)}
    if len(rows) != columns.count:
        data = {name: [values[i] for i in rows] for name, values in data.items()}
    if extra:
        data = _append_rows(data, len(rows), [_frame_row(e) for e in extra])
    return _tidy_frame(pd.DataFrame(data))


def columns_of(entries: Sequence[IndexEntry]) -> dict[str, list[Any]]:
    """Entries as columns, in the order given; see the module docstring."""
    count = len(entries)
    columns: dict[str, list[Any]] = {
        "key": [e.key for e in entries],
        "id": [e.id for e in entries],
        "kind": [e.kind for e in entries],
        "name": [e.name for e in entries],
        "status": [e.status.value for e in entries],
        "started_at": [stamp(e.started_at) for e in entries],
        "ended_at": [stamp(e.ended_at) for e in entries],
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


def merge(old: Columns, new: dict[str, list[Any]]) -> dict[str, list[Any]]:
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


def encode(number: int, columns: dict[str, list[Any]]) -> bytes:
    """The generation file ``number`` holding ``columns``, header first."""
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
        "started_at": stamp(entry.started_at),
        "ended_at": stamp(entry.ended_at),
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


def matches(
    entry: IndexEntry,
    kind: str | None = None,
    name: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
) -> bool:
    """Whether ``entry`` passes every filter given (``since``: started at or
    after)."""
    return (
        (kind is None or entry.kind == kind)
        and (name is None or entry.name == name)
        and (status is None or entry.status.value == status)
        and (since is None or entry.started_at >= utc(since))
    )


def order(entry: IndexEntry) -> tuple[datetime, str]:
    """Sort key of entries: oldest first, then by folder."""
    return entry.started_at, entry.key


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive time is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def stamp(moment: datetime) -> str:
    """A UTC time as fixed-width text, so that text order is time order."""
    return f"{utc(moment):{_STAMP}}"
