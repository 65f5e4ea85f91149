"""The manifest that describes a backup: what it holds, where, and its hashes.

A backup is a folder ``<backup_id>/`` in a backup store holding its components
and ``manifest.json``; the manifest is written last, so a backup without one is
incomplete and never chosen.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from opskit.errors import BackupRejected, InputError, first_problem
from opskit.storage import check_key

MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1


class Component(BaseModel):
    """One object of a backup: its key inside the backup folder, size, sha256."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    role: str = "data"

    @field_validator("key")
    @classmethod
    def _key_stays_inside(cls, key: str) -> str:
        try:
            return check_key(key)
        except InputError as exc:
            raise ValueError(str(exc)) from exc


class Manifest(BaseModel):
    """Everything a drill needs to find, verify, restore and judge a backup.

    Times are UTC. ``newest_data_at`` is the newest data in the backup when a
    freshness query was given at backup time.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: Literal[1] = 1
    backup_id: str
    engine: str
    source: str
    taken_at: AwareDatetime
    newest_data_at: AwareDatetime | None = None
    components: list[Component] = Field(min_length=1)
    tables: dict[str, int] = Field(default_factory=dict)
    engine_info: dict[str, Any] = Field(default_factory=dict)

    @property
    def size(self) -> int:
        """Total bytes of all components."""
        return sum(component.size for component in self.components)


BACKUP_ID = re.compile(r"^\d{8}T\d{6}(\.\d{6})?Z-[0-9a-f]{6}$")


def is_backup_id(name: str) -> bool:
    """Whether ``name`` has the shape of a backup id (and so sorts by time)."""
    return bool(BACKUP_ID.match(name))


def new_backup_id(taken_at: datetime) -> str:
    """Return a backup id that sorts by time: ``20261203T163700.123456Z-1a2b3c``.

    Microseconds keep backups taken within one second in order.
    """
    return f"{taken_at:%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(3)}"


def parse_manifest(data: bytes, where: str) -> Manifest:
    """Parse ``manifest.json``; a bad one is refused, naming file and field."""
    try:
        return Manifest.model_validate_json(data)
    except ValidationError as exc:
        field, message = first_problem(exc)
        raise BackupRejected(
            f"{where}: field {field}: {message}; the backup is damaged or was not "
            "written by opskit, so it is refused"
        ) from exc
