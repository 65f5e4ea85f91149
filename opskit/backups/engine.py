"""The interface every backup engine implements, and the engine registry.

An engine knows one kind of data (a SQLite file, a PostgreSQL database, a
folder): how to copy it consistently into a backup store, restore the copy
somewhere that is not the source, and judge the restored copy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Protocol

from opskit.backups.manifest import Component, Manifest
from opskit.errors import BackupRejected, InputError, suggest
from opskit.records import Check, CheckStatus


class ComponentSink(Protocol):
    """Where an engine writes the components of a new backup."""

    def put_file(self, key: str, path: Path) -> Component:
        """Store a finished file as component ``key``."""
        ...

    def put_stream(self, key: str, stream: BinaryIO) -> Component:
        """Store a stream as component ``key``, hashing it on the way."""
        ...


@dataclass(frozen=True)
class BackupRequest:
    """What to back up, and how."""

    source: str
    freshness_query: str = ""
    exclude: tuple[str, ...] = ()
    compression: int | None = None


@dataclass(frozen=True)
class BackupOutput:
    """What an engine stored and what it holds; ``taken_at`` is the data's
    own clock when the engine can read it (a database server's)."""

    components: list[Component]
    source: str
    tables: dict[str, int] = field(default_factory=dict)
    newest_data_at: datetime | None = None
    taken_at: datetime | None = None
    engine_info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RestoreOptions:
    """How a drill restores and validates: scratch location, parallel jobs,
    the freshness query and SQL checks (name -> {"sql": ..., "expected": ...})."""

    scratch: str = ""
    jobs: int = 1
    freshness_query: str = ""
    sql_checks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Validation:
    """The checks made on a restored copy and the newest data found in it."""

    checks: list[Check]
    newest_data_at: datetime | None = None
    restored_bytes: int = 0


class Engine(ABC):
    """Backs up, restores and validates one kind of data."""

    name: ClassVar[str]

    @abstractmethod
    def backup(
        self, request: BackupRequest, sink: ComponentSink, workdir: Path
    ) -> BackupOutput:
        """Copy ``request.source`` consistently into ``sink``."""

    @abstractmethod
    def plan_target(self, manifest: Manifest, options: RestoreOptions) -> str:
        """Return where the backup will be restored.

        Raises ``UnsafeTargetError`` if that is the source or already exists.
        """

    @abstractmethod
    def restore(
        self,
        manifest: Manifest,
        files: dict[str, Path],
        target: str,
        options: RestoreOptions,
    ) -> None:
        """Restore the downloaded, verified component ``files`` into ``target``."""

    def can_stream(self, manifest: Manifest, options: RestoreOptions) -> bool:
        """Whether ``restore_stream`` can restore while the backup downloads."""
        return False

    def restore_stream(
        self, manifest: Manifest, stream: BinaryIO, target: str, options: RestoreOptions
    ) -> None:
        """Restore the single component read from ``stream`` into ``target``."""
        raise NotImplementedError(f"the {self.name} engine cannot restore a stream")

    @abstractmethod
    def validate(
        self, manifest: Manifest, target: str, options: RestoreOptions
    ) -> Validation:
        """Judge the restored ``target`` against ``manifest``."""

    @abstractmethod
    def discard(self, target: str) -> None:
        """Remove a restored ``target`` this engine made; never anything else.

        ``target`` is empty when planning failed; then only what the engine
        made for the drill (a scratch folder) is removed.
        """


_ENGINES: dict[str, type[Engine]] = {}


def register_engine(engine: type[Engine]) -> type[Engine]:
    """Make ``engine`` available by its name; used as a class decorator."""
    _ENGINES[engine.name] = engine
    return engine


def get_engine(name: str) -> Engine:
    """Return a new engine called ``name``; unknown names are an ``InputError``."""
    if name not in _ENGINES:
        raise InputError(
            f"engine: unknown backup engine {name!r}{suggest(name, _ENGINES)}; "
            f"known engines are {', '.join(sorted(_ENGINES))}"
        )
    return _ENGINES[name]()


def engine_names() -> list[str]:
    """The names of the registered engines."""
    return sorted(_ENGINES)


def parse_data_time(value: object, query: str) -> datetime:
    """Read a freshness query result as a UTC time.

    Accepts a datetime, ISO 8601 text (naive means UTC) or epoch seconds.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch(value, query)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise InputError(
        f"freshness_query: {query!r} returned {value!r}; it must return one "
        "timestamp (ISO 8601 text, epoch seconds or a timestamp column)"
    )


def read_freshness(
    query: str,
    run: Callable[[str], object],
    errors: type[Exception] | tuple[type[Exception], ...],
) -> datetime:
    """Run the freshness query with ``run`` and read its value as a UTC time;
    a failing query or an empty result is an ``InputError`` naming it."""
    try:
        value = run(query)
    except errors as exc:
        raise InputError(
            f"freshness_query: {query!r} failed: {str(exc).strip()}; fix the SQL"
        ) from exc
    if value is None:
        raise InputError(
            f"freshness_query: {query!r} returned no value; "
            "it must return the newest data time"
        )
    return parse_data_time(value, query)


def _from_epoch(value: float, query: str) -> datetime:
    """Epoch seconds before 2000 are almost surely a count, not a time."""
    try:
        moment = datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise InputError(
            f"freshness_query: {query!r} returned {value!r}, which is no time; it must "
            "return the newest data time"
        ) from exc
    if moment.year < 2000:
        raise InputError(
            f"freshness_query: {query!r} returned {value!r}, which as epoch seconds is "
            f"{moment:%Y-%m-%d}; it must return the newest data time, not a count"
        )
    return moment


def first_missing_folder(folder: Path) -> Path | None:
    """The outermost folder on the way to ``folder`` that does not exist yet,
    so a drill can remove exactly the folders it made."""
    missing = None
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def require_components(manifest: Manifest, *keys: str) -> None:
    """Refuse a manifest that lacks a component this engine needs."""
    present = {component.key for component in manifest.components}
    for key in keys:
        if key not in present:
            raise BackupRejected(
                f"manifest of {manifest.backup_id}: no component {key!r} (it has "
                f"{', '.join(sorted(present))}); the backup is damaged and is refused"
            )


def row_count_checks(
    expected: Mapping[str, int], actual: Mapping[str, int]
) -> list[Check]:
    """One check per table of the manifest: restored rows against recorded rows."""
    checks = []
    for table, rows in sorted(expected.items()):
        found = actual.get(table)
        status = CheckStatus.PASSED if found == rows else CheckStatus.FAILED
        detail = "" if found is not None else "table missing from the restored copy"
        checks.append(
            Check(
                name=f"rows:{table}",
                status=status,
                expected=rows,
                actual=found,
                detail=detail,
            )
        )
    return checks


def freshness_check(manifest: Manifest, newest: datetime) -> Check:
    """Compare the newest data in the restored copy with the manifest's."""
    found = newest.isoformat()
    if manifest.newest_data_at is None:
        return Check(
            name="freshness",
            status=CheckStatus.PASSED,
            actual=found,
            detail="no freshness time in the manifest to compare with",
        )
    status = (
        CheckStatus.PASSED if newest == manifest.newest_data_at else CheckStatus.FAILED
    )
    return Check(
        name="freshness",
        status=status,
        expected=manifest.newest_data_at.isoformat(),
        actual=found,
    )


def sql_checks(
    checks: Mapping[str, Mapping[str, Any]], query: Callable[[str], object]
) -> list[Check]:
    """Run each SQL check through ``query`` (first column of the first row) and
    compare it with its expected value; a failing query is a failed check."""
    return [_sql_check(name, spec, query) for name, spec in checks.items()]


def _sql_check(
    name: str, spec: Mapping[str, Any], query: Callable[[str], object]
) -> Check:
    expected = spec.get("expected")
    try:
        actual = query(str(spec.get("sql", "")))
    except Exception as exc:
        return Check(
            name=f"sql:{name}",
            status=CheckStatus.FAILED,
            expected=_scalar(expected),
            detail=f"query failed: {exc}",
        )
    same = actual == expected or str(actual) == str(expected)
    return Check(
        name=f"sql:{name}",
        status=CheckStatus.PASSED if same else CheckStatus.FAILED,
        expected=_scalar(expected),
        actual=_scalar(actual),
    )


def check_sql_checks(checks: object) -> dict[str, dict[str, Any]]:
    """Validate the ``sql_checks`` parameter's shape, naming what is wrong."""
    if not isinstance(checks, Mapping):
        raise InputError(
            "sql_checks: expected a mapping of check name to "
            '{"sql": "select ...", "expected": value}'
        )
    for name, spec in checks.items():
        if not isinstance(spec, Mapping) or set(spec) != {"sql", "expected"}:
            raise InputError(
                f"sql_checks: check {name!r} needs exactly sql and expected, e.g. "
                '{"sql": "select count(*) > 0 from orders", "expected": true}'
            )
    return {str(k): dict(v) for k, v in checks.items()}


def _scalar(value: object) -> int | float | str | bool | None:
    if value is None or isinstance(value, int | float | str | bool):
        return value
    return str(value)
