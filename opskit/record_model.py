"""The record of one run: what happened, measured, checked and found.

``record.json`` follows ``opskit/schemas/record-v1.schema.json``, generated
from these models (``make schema``).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform
import re
import socket
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opskit import __version__
from opskit.errors import RecordError, first_problem
from opskit.phases import Phase
from opskit.targets import TargetResult

SCHEMA_VERSION = 1
STARTED_BY_ENV = "OPSKIT_STARTED_BY"


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


class Severity(StrEnum):
    """How bad a finding is, from ``info`` to ``critical``; compares in order."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info up to 4 for critical."""
        return list(Severity).index(self)


class Finding(BaseModel):
    """A problem found by a review, in the one findings format every check uses.

    ``id`` names the rule (``csp-unsafe-inline``), ``check`` the check that
    made it (``csp``), ``location`` where it was seen (a URL, ``file:line``).
    ``suppressed`` holds the owner and reason when a suppression applies.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    severity: Severity
    title: str
    check: str = ""
    evidence: str = ""
    advice: str = ""
    reference: str = ""
    location: str = ""
    suppressed: str = ""

    @property
    def fingerprint(self) -> str:
        """A short stable hash of rule, location and evidence, for suppressions."""
        text = "\x1f".join((self.id, self.location, self.evidence))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class TimelineEntry(BaseModel):
    """Something that happened during an incident or a runbook run, and who
    noted or decided it. Runbook steps also say their outcome, how many
    attempts they took and an excerpt of their output (secrets masked)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    author: str
    text: str
    kind: str = "note"
    step: str = ""
    outcome: str = ""
    attempts: int = 0
    output: str = ""


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


def record_schema() -> dict[str, Any]:
    """Return the JSON schema of ``record.json`` for this schema version."""
    schema = Record.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://opskit.dev/schemas/record-v{SCHEMA_VERSION}.json"
    return schema
