"""The result of a restore drill, as notebooks and people see it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from opskit.backups.manifest import Manifest
from opskit.errors import CheckFailed, OpskitError
from opskit.records import Record, RecordStatus, file_record
from opskit.targets import format_duration


class DrillFailed(CheckFailed):
    """Raised by ``DrillResult.raise_for_status`` for a failed drill."""


class DrillError(OpskitError):
    """Raised by ``DrillResult.raise_for_status`` for a drill that broke."""


@dataclass
class DrillResult:
    """A finished drill: its record, the backup it used and where it was filed."""

    record: Record
    manifest: Manifest | None = None
    location: str | None = None

    @property
    def status(self) -> RecordStatus:
        """``passed``, ``failed`` or ``error``."""
        return self.record.status

    def backup_table(self) -> pd.DataFrame:
        """The backup the drill chose: id, times, engine, source and size."""
        backup = self.record.details.get("backup")
        if not backup:
            return pd.DataFrame(columns=["field", "value"])
        rows = [
            ("backup id", backup["backup_id"]),
            ("engine", backup["engine"]),
            ("source", backup["source"]),
            ("taken at (UTC)", backup["taken_at"]),
            ("newest data (UTC)", backup["newest_data_at"] or "-"),
            ("components", backup["components"]),
            ("size", f"{backup['bytes']:,} bytes"),
        ]
        return pd.DataFrame(rows, columns=["field", "value"])

    def phases_table(self) -> pd.DataFrame:
        """One row per phase: name, status and duration."""
        return pd.DataFrame(
            [
                {
                    "phase": p.name,
                    "status": p.status.value,
                    "duration": format_duration(p.seconds),
                    "detail": p.detail,
                }
                for p in self.record.phases
            ],
            columns=["phase", "status", "duration", "detail"],
        )

    def checks_table(self) -> pd.DataFrame:
        """One row per validation check with expected and actual values."""
        return pd.DataFrame(
            [
                {
                    "check": c.name,
                    "status": c.status.value,
                    "expected": c.expected,
                    "actual": c.actual,
                    "detail": c.detail,
                }
                for c in self.record.checks
            ],
            columns=["check", "status", "expected", "actual", "detail"],
        )

    def targets_table(self) -> pd.DataFrame:
        """RTO and RPO against the tier's targets."""
        return pd.DataFrame(
            [
                {
                    "target": t.name.upper(),
                    "objective": format_duration(t.target_seconds),
                    "measured": "-"
                    if t.actual_seconds is None
                    else format_duration(t.actual_seconds),
                    "met": {True: "yes", False: "NO", None: "-"}[t.met],
                }
                for t in self.record.targets
            ],
            columns=["target", "objective", "measured", "met"],
        )

    def summary(self) -> str:
        """One paragraph for people: status, reason, and each target's verdict."""
        lines = [f"restore drill of {self.record.name}: {self.status.value.upper()}"]
        if self.record.reason:
            lines.append(self.record.reason)
        lines += [target.describe() for target in self.record.targets]
        return "\n".join(lines)

    def file(self, store: str | Path | None = None) -> str:
        """Save the record (see ``opskit.file_record``) and return its location."""
        self.location = file_record(self.record, store)
        return self.location

    def raise_for_status(self) -> None:
        """Raise ``DrillFailed`` or ``DrillError`` unless the drill passed, so an
        unattended run exits non-zero."""
        if self.status is RecordStatus.FAILED:
            raise DrillFailed(self.summary())
        if self.status is not RecordStatus.PASSED:
            raise DrillError(self.summary())
