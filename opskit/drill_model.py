"""The drills-file model: ``Drill`` and ``Schedule``, validated field by field
(names safe as file, unit and DAG ids, notebooks that exist and take the
given parameters, portable cron expressions, known tiers and time zones).
``opskit.schedules`` loads files into it and reports errors with lines."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from opskit.cron import normalize
from opskit.errors import InputError, OpskitError, suggest
from opskit.notebooks import declared_parameters, find_notebook
from opskit.targets import get_tier, load_tiers

MAX_NAME = 39  # opskit-drill-NAME fits a CronJob name (52)
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")
_SCALARS = (str, int, float, bool, type(None))


class ScheduleError(InputError):
    """A drills file is missing, not YAML, or breaks the drills format."""


class Drill(BaseModel):
    """One scheduled drill: a notebook, its parameters and when it runs.

    Validation context (``folder``, ``tiers``) resolves relative paths
    against the drills file's folder and checks tiers against a tiers file.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    notebook: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    schedule: str
    tier: str
    owner: str
    timezone: str = "UTC"
    notify: str | None = None
    record_store: str | None = None
    enabled: bool = True

    @property
    def cron(self) -> str:
        """The schedule as five cron fields, presets expanded."""
        return normalize(self.schedule)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if (
            not 0 < len(value) <= MAX_NAME
            or not set(value) <= _NAME_CHARS
            or not value[0].isalpha()
            or value.endswith("-")
        ):
            raise ValueError(
                f"{value!r} cannot name files, systemd units, CronJobs and DAGs; "
                f"use up to {MAX_NAME} lowercase letters, digits and hyphens, "
                "starting with a letter, e.g. restore-orders"
            )
        return value

    @field_validator("notebook")
    @classmethod
    def _find_notebook(cls, value: str, info: ValidationInfo) -> str:
        is_path = value.endswith(".ipynb")
        given = _folder(info) / Path(value).expanduser() if is_path else value
        try:
            found = find_notebook(str(given))
            declared_parameters(found)
        except OpskitError as exc:
            raise ValueError(str(exc)) from exc
        return str(found.absolute()) if is_path else value

    @field_validator("parameters")
    @classmethod
    def _check_parameters(
        cls, value: dict[str, Any], info: ValidationInfo
    ) -> dict[str, Any]:
        for name, item in value.items():
            if name == "record_store":
                raise ValueError(
                    "record_store is a drill field, not a parameter; move it up"
                )
            if not _is_plain(item):
                raise ValueError(
                    f"{name}: {item!r} is not text, a number, true/false, a list "
                    "or a mapping; quote dates and times"
                )
        notebook = info.data.get("notebook")
        if notebook is not None:
            declared = declared_names(find_notebook(notebook)) - {"record_store"}
            unknown = sorted(set(value) - declared)
            if unknown:
                raise ValueError(
                    f"{Path(notebook).stem} has no parameter {unknown[0]!r}"
                    f"{suggest(unknown[0], declared)}; it takes "
                    f"{', '.join(sorted(declared)) or 'none'}"
                )
        return value

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        normalize(value)
        return " ".join(value.split())

    @field_validator("tier")
    @classmethod
    def _check_tier(cls, value: str, info: ValidationInfo) -> str:
        try:
            get_tier(value, (info.context or {}).get("tiers") or load_tiers())
        except OpskitError as exc:
            raise ValueError(str(exc).removeprefix("tier: ")) from exc
        given = info.data.get("parameters", {}).get("tier", value)
        if given != value:
            raise ValueError(
                f"{value!r} differs from parameters.tier {given!r}; set the tier "
                "once, in the tier field"
            )
        return value

    @field_validator("owner")
    @classmethod
    def _check_owner(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty; name the person or team who answers for it")
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"{value!r} is not an IANA time zone; write e.g. UTC or Europe/Berlin"
            ) from exc
        return value

    @field_validator("notify")
    @classmethod
    def _check_notify(cls, value: str | None) -> str | None:
        parts = urlsplit(value or "")
        if value is not None and (
            parts.scheme not in ("http", "https") or not parts.netloc
        ):
            raise ValueError(f"{value!r} is not an http(s) webhook URL")
        return value

    @field_validator("record_store")
    @classmethod
    def _resolve_store(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or "://" in value:
            return value
        return str((_folder(info) / Path(value).expanduser()).absolute())


class Schedule(BaseModel):
    """The drills of one drills file; ``source`` names the file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    drills: list[Drill]
    source: str = "<drills>"

    @field_validator("drills")
    @classmethod
    def _check_names(cls, value: list[Drill]) -> list[Drill]:
        if not value:
            raise ValueError("empty; declare at least one drill")
        seen: dict[str, int] = {}
        for index, drill in enumerate(value):
            if drill.name in seen:
                raise ValueError(
                    f"drills[{seen[drill.name]}] and drills[{index}] are both "
                    f"named {drill.name!r}; give each drill its own name"
                )
            seen[drill.name] = index
        return value


def _folder(info: ValidationInfo) -> Path:
    folder = (info.context or {}).get("folder")
    return Path(folder) if folder is not None else Path.cwd()


@lru_cache(maxsize=64)
def _declared_at(path: Path, mtime_ns: int) -> frozenset[str]:
    return frozenset(declared_parameters(path))


def declared_names(path: Path) -> frozenset[str]:
    """The notebook's declared parameter names, read once per version."""
    return _declared_at(path.absolute(), path.stat().st_mtime_ns)


def _is_plain(value: Any) -> bool:
    if isinstance(value, list):
        return all(_is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return isinstance(value, _SCALARS)
