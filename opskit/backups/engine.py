"""The interface every backup engine implements, and the engine registry.

An engine knows one kind of data (a SQLite file, a PostgreSQL database, a
folder): how to copy it consistently, restore the copy somewhere else, and
judge the restored copy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from opskit.backups.manifest import Manifest
from opskit.errors import InputError, suggest
from opskit.records import Check


@dataclass(frozen=True)
class BackupOutput:
    """What an engine produced: component files by key, and what they hold."""

    files: dict[str, Path]
    source: str
    tables: dict[str, int] = field(default_factory=dict)
    newest_data_at: datetime | None = None
    engine_info: dict[str, Any] = field(default_factory=dict)


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
        self, source: str, workdir: Path, freshness_query: str = ""
    ) -> BackupOutput:
        """Copy ``source`` consistently into files under ``workdir``."""

    @abstractmethod
    def plan_target(self, manifest: Manifest, scratch: Path) -> str:
        """Return where ``manifest``'s backup would be restored under ``scratch``.

        Raises ``UnsafeTargetError`` if that is the source or already exists.
        """

    @abstractmethod
    def restore(self, manifest: Manifest, files: dict[str, Path], target: str) -> None:
        """Restore the downloaded component ``files`` into ``target``."""

    @abstractmethod
    def validate(
        self, manifest: Manifest, target: str, freshness_query: str = ""
    ) -> Validation:
        """Judge the restored ``target`` against ``manifest``."""

    @abstractmethod
    def discard(self, target: str) -> None:
        """Remove a restored ``target``; never anything else."""


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


def parse_data_time(value: object, query: str) -> datetime:
    """Read a freshness query result as a UTC time.

    Accepts a datetime, ISO 8601 text (naive means UTC) or epoch seconds.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
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
