"""One suppression file for every check.

    - finding: csp-unsafe-inline
      location: https://shop.example/       # or fingerprint: 1a2b3c4d5e6f7a8b
      owner: web-team
      reason: legacy checkout widget, replaced in Q1
      expires: 2027-03-31

A suppressed finding stays in the table, marked with its owner and reason.
An expired entry stops working and is reported as a finding of its own; an
entry that matched nothing is listed as unused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from opskit.errors import InputError, first_problem
from opskit.records import Finding, Severity


class Suppression(BaseModel):
    """One accepted finding: which, whose decision, why, and until when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    finding: str
    location: str = ""
    fingerprint: str = ""
    owner: str
    reason: str
    expires: date

    def matches(self, finding: Finding) -> bool:
        """Whether this entry names ``finding`` (by id, and location or fingerprint)."""
        if finding.id != self.finding:
            return False
        if self.fingerprint:
            return finding.fingerprint == self.fingerprint
        return not self.location or finding.location == self.location


@dataclass(frozen=True)
class Applied:
    """Findings after suppression, with expired and unused entries."""

    findings: list[Finding]
    expired: list[Suppression]
    unused: list[Suppression]


def load_suppressions(path: str | Path) -> list[Suppression]:
    """Read a suppression file; a bad entry is an ``InputError`` naming it."""
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or []
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:
        raise InputError(
            f"{source}: cannot read the suppression file ({exc}); dates are YYYY-MM-DD"
        ) from exc
    if not isinstance(data, list):
        raise InputError(f"{source}: expected a list of suppressions")

    entries: list[Suppression] = []
    for index, item in enumerate(data):
        try:
            entries.append(Suppression.model_validate(item))
        except ValidationError as exc:
            field, message = first_problem(exc)
            raise InputError(
                f"{source}: entry {index + 1}, field {field}: {message}; each entry "
                "needs finding, owner, reason and expires (YYYY-MM-DD)"
            ) from exc
        if entries[-1] in entries[:-1]:
            raise InputError(
                f"{source}: entry {index + 1} repeats an earlier entry; remove one"
            )
    return entries


def apply_suppressions(
    findings: Iterable[Finding], entries: list[Suppression], today: date
) -> Applied:
    """Mark findings that a live entry names; report expired and unused ones."""
    live = [e for e in entries if e.expires >= today]
    expired = [e for e in entries if e.expires < today]
    used: set[int] = set()

    marked = []
    for finding in findings:
        entry = next((e for e in live if e.matches(finding)), None)
        if entry is None:
            marked.append(finding)
            continue
        used.add(id(entry))
        note = f"{entry.owner}: {entry.reason} (until {entry.expires})"
        marked.append(finding.model_copy(update={"suppressed": note}))

    marked += [_expired_finding(e) for e in expired]
    unused = [e for e in live if id(e) not in used]
    return Applied(findings=marked, expired=expired, unused=unused)


def _expired_finding(entry: Suppression) -> Finding:
    return Finding(
        id="suppression-expired",
        check="suppressions",
        severity=Severity.LOW,
        title=f"suppression of {entry.finding} expired on {entry.expires}",
        evidence=f"owner {entry.owner}: {entry.reason}",
        advice="fix the finding, or renew the entry with a new expiry date",
        location=entry.location or entry.fingerprint,
    )
