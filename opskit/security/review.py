"""A security review: run the checks the inputs call for, apply suppressions,
grade the findings and judge them against a severity gate, in one record.

>>> result = run_review(urls=["https://shop.example/"], build="dist", fail_on="high")
>>> result.grade.letter
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from opskit.errors import CheckFailed, InputError, OpskitError, ParameterError
from opskit.masking import mask_text
from opskit.phases import PhaseTimer, utc_now
from opskit.records import (
    Finding,
    Record,
    RecordStatus,
    Severity,
    current_environment,
    file_record,
    mask_parameters,
    started_by,
)
from opskit.security import cors, csp, deps, envvars, headers, jwt, secrets
from opskit.security.grading import Grade, at_or_above, grade
from opskit.security.http import Request, fetch_all, new_client
from opskit.security.suppressions import apply_suppressions, load_suppressions

logger = logging.getLogger(__name__)

KIND = "security-review"
MAX_CONNECTIONS = 1024
MAX_TIMEOUT = 3600.0
DEMO = "demo"


class ReviewFailed(CheckFailed):
    """Raised by ``ReviewResult.raise_for_status`` when the gate was hit."""


class ReviewError(OpskitError):
    """Raised by ``ReviewResult.raise_for_status`` for a review that broke."""


@dataclass
class ReviewResult:
    """A finished review: its record, findings, grade and where it was filed."""

    record: Record
    findings: list[Finding] = field(default_factory=list)
    grade: Grade = field(default_factory=lambda: Grade(100, "A+"))
    location: str | None = None

    @property
    def status(self) -> RecordStatus:
        """``passed``, ``failed`` (a finding at or above the gate) or ``error``."""
        return self.record.status

    def findings_table(self) -> pd.DataFrame:
        """One row per finding, worst first; suppressed ones say so."""
        rows = sorted(self.findings, key=lambda f: (-f.severity.rank, f.check, f.id))
        return pd.DataFrame(
            [
                {
                    "severity": f.severity.value,
                    "check": f.check,
                    "id": f.id,
                    "title": f.title,
                    "where": f.location,
                    "evidence": f.evidence,
                    "suppressed": f.suppressed,
                }
                for f in rows
            ],
            columns=[
                "severity",
                "check",
                "id",
                "title",
                "where",
                "evidence",
                "suppressed",
            ],
        )

    def summary(self) -> str:
        """Status, grade and counts by severity."""
        counts = {s: 0 for s in Severity}
        for finding in self.findings:
            if not finding.suppressed:
                counts[finding.severity] += 1
        spread = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
        lines = [
            f"security review: {self.status.value.upper()}, "
            + (
                f"grade {self.grade.letter} ({self.grade.score}/100)"
                if self.grade.letter != "-"
                else "no grade (the review broke)"
            ),
            f"findings: {spread or 'none'}",
        ]
        if self.record.reason:
            lines.append(self.record.reason)
        return "\n".join(lines)

    def file(self, store: str | Path | None = None) -> str:
        """Save the record and return its location (see ``opskit.file_record``)."""
        self.location = file_record(self.record, store)
        return self.location

    def raise_for_status(self) -> None:
        """Raise unless the review passed, so unattended runs exit non-zero."""
        if self.status is RecordStatus.FAILED:
            raise ReviewFailed(self.summary())
        if self.status is not RecordStatus.PASSED:
            raise ReviewError(self.summary())


def run_review(
    *,
    name: str = "",
    urls: Sequence[str] = (),
    env_files: Sequence[str] = (),
    process_env: bool = False,
    build: str = "",
    audits: Sequence[str] = (),
    lockfile: str = "",
    advisories: str = "",
    tokens: Sequence[str] = (),
    suppressions: str = "",
    allowlist: str = "",
    fail_on: str = "high",
    client_prefixes: Sequence[str] = envvars.CLIENT_PREFIXES,
    timeout: float = 10.0,
    connections: int = MAX_CONNECTIONS,
    today: date | None = None,
) -> ReviewResult:
    """Run every check the inputs call for; never raises for an outcome."""
    raw: dict[str, Any] = {
        "name": name,
        "urls": list(urls),
        "env_files": list(env_files),
        "process_env": process_env,
        "build": build,
        "audits": list(audits),
        "lockfile": lockfile,
        "advisories": advisories,
        "tokens": [f"<{len(t)} characters>" for t in tokens],
        "suppressions": suppressions,
        "allowlist": allowlist,
        "fail_on": fail_on,
    }
    timer = PhaseTimer()
    findings: list[Finding] = []
    unused: list[str] = []
    graded = Grade(100, "A+")
    try:
        _check_inputs(urls, env_files, audits, tokens, timeout, connections)
        gate = _severity(fail_on)
        with tempfile.TemporaryDirectory(prefix="opskit-review-") as work:
            build, env_files = _resolve_demo(build, list(env_files), Path(work))
            inputs = _Inputs(
                urls=urls,
                env_files=env_files,
                process_env=process_env,
                build=build,
                audits=audits,
                lockfile=lockfile,
                advisories=advisories,
                tokens=tokens,
                allowlist=allowlist,
                prefixes=client_prefixes,
                timeout=timeout,
                connections=connections,
            )
            findings = _masked(_run_checks(timer, inputs))
        if suppressions:
            entries = load_suppressions(suppressions)
            applied = apply_suppressions(findings, entries, today or date.today())
            findings, unused = applied.findings, [e.finding for e in applied.unused]
        graded = grade(findings)
        gated = at_or_above(findings, gate)
        status = RecordStatus.FAILED if gated else RecordStatus.PASSED
        reason = f"{len(gated)} finding(s) at or above {gate.value}" if gated else ""
        unreviewed = _unreviewed(findings)
        if unreviewed:
            status, graded = RecordStatus.ERROR, Grade(0, "-")
            shown = "; ".join(unreviewed[:3])
            more = f"; and {len(unreviewed) - 3} more" if len(unreviewed) > 3 else ""
            reason = (
                f"{len(unreviewed)} of {len(urls)} URL(s) could not be reviewed "
                f"({shown}{more}); a grade would vouch for a site nobody saw"
            )
    except OpskitError as exc:
        status, reason = RecordStatus.ERROR, str(exc)
        graded = Grade(0, "-")  # a review that broke earns no grade

    record = Record(
        kind=KIND,
        name=name or _default_name(urls, build),
        started_by=started_by(),
        started_at=timer.started_at,
        ended_at=utc_now(),
        status=status,
        reason=reason,
        parameters=mask_parameters(raw),
        phases=timer.phases,
        findings=findings,
        measurements={
            "score": graded.score,
            "grade": graded.letter,
            "findings": len([f for f in findings if not f.suppressed]),
        },
        details={"unused_suppressions": unused},
        environment=current_environment(),
    )
    return ReviewResult(record=record, findings=findings, grade=graded)


@dataclass(frozen=True)
class _Inputs:
    urls: Sequence[str]
    env_files: Sequence[str]
    process_env: bool
    build: str
    audits: Sequence[str]
    lockfile: str
    advisories: str
    tokens: Sequence[str]
    allowlist: str
    prefixes: Sequence[str]
    timeout: float
    connections: int


def _run_checks(timer: PhaseTimer, given: _Inputs) -> list[Finding]:
    findings: list[Finding] = []
    if given.urls:
        with timer.phase("headers"):
            findings += review_urls(given.urls, given.timeout, given.connections)
    if given.env_files or given.process_env:
        with timer.phase("envvars"):
            for path in given.env_files:
                findings += envvars.review(
                    envvars.read_env_file(path), path, given.prefixes
                )
            if given.process_env:
                findings += envvars.review(
                    dict(os.environ), "process environment", given.prefixes
                )
    if given.build:
        with timer.phase("secrets"):
            allow = (
                secrets.load_allowlist(given.allowlist) if given.allowlist else set()
            )
            findings += secrets.scan(given.build, allow)
    if given.audits or given.lockfile:
        with timer.phase("dependencies"):
            for path in given.audits:
                findings += deps.read_audit(path)
            if given.lockfile:
                if not given.advisories:
                    raise ParameterError(
                        "advisories: a lockfile check needs an OSV advisory file"
                    )
                findings += deps.check_lockfile(given.lockfile, given.advisories)
    if given.tokens:
        with timer.phase("jwt"):
            for index, token in enumerate(given.tokens, 1):
                findings += jwt.review(token, f"token {index}")
    if not timer.phases:
        raise InputError(
            "review: nothing to review; give urls, env files, a build folder, audit "
            "files, a lockfile or a token"
        )
    return findings


def _unreviewed(findings: Sequence[Finding]) -> list[str]:
    """``url: why`` for each URL whose answer never came (unless suppressed)."""
    return [
        f"{f.location}: {f.evidence}"
        for f in findings
        if f.id == "fetch-failed" and not f.suppressed
    ]


def _check_inputs(
    urls: object,
    env_files: object,
    audits: object,
    tokens: object,
    timeout: float,
    connections: int,
) -> None:
    for name, value in (
        ("urls", urls),
        ("env_files", env_files),
        ("audits", audits),
        ("tokens", tokens),
    ):
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise ParameterError(f"{name}: expected a list, got {value!r}")
    if not (
        isinstance(timeout, int | float)
        and math.isfinite(timeout)
        and 0 < timeout <= MAX_TIMEOUT
    ):
        raise ParameterError(
            f"timeout: {timeout!r} must be at most {MAX_TIMEOUT:g} seconds and above 0"
        )
    if not isinstance(connections, int) or not 0 < connections <= MAX_CONNECTIONS:
        raise ParameterError(
            f"connections: {connections!r} must be a whole number from 1 to "
            f"{MAX_CONNECTIONS}"
        )
    for url in urls:  # type: ignore[attr-defined]
        _check_url(str(url))


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and port_ok
    except ValueError:
        usable = False
    if not usable:
        raise ParameterError(
            f"urls: {url!r} is not an http(s) URL with a host, e.g. "
            "https://shop.example/"
        )


def review_urls(
    urls: Sequence[str], timeout: float = 10.0, connections: int = MAX_CONNECTIONS
) -> list[Finding]:
    """Review every URL at once. Each gets three requests, all concurrent: a
    plain one, one with a foreign Origin (which also shows whether the CSP
    nonce changes) and one with Origin null. The whole review takes about as
    long as the slowest response. ``connections`` caps the requests in flight
    (each request's timeout starts when it is sent), for servers that cannot
    take hundreds of connections at once."""
    for url in urls:
        _check_url(url)
    asks = [
        Request(url, {"Origin": origin} if origin else None)
        for url in urls
        for origin in (None, *cors.ORIGINS)
    ]
    workers = min(len(asks), connections, MAX_CONNECTIONS) or 1
    with new_client(workers) as client:
        answers = fetch_all(asks, client, timeout=timeout, limit=workers)

    found: list[Finding] = []
    for index, url in enumerate(urls):
        plain, foreign, null = answers[3 * index : 3 * index + 3]
        found += headers.review(plain)
        if not plain.error and not foreign.error:
            found += csp.repeated_nonces(
                plain.final.values("content-security-policy"),
                foreign.final.values("content-security-policy"),
                url,
            )
        found += cors.judge(cors.FOREIGN, foreign, url) + cors.judge("null", null, url)
    return found


def _severity(text: str) -> Severity:
    try:
        return Severity(str(text).lower())
    except ValueError as exc:
        raise ParameterError(
            f"fail_on: {text!r} is no severity; choose info, low, medium, high "
            "or critical"
        ) from exc


def _resolve_demo(
    build: str, env_files: list[str], work: Path
) -> tuple[str, list[str]]:
    if build != DEMO:
        return build, env_files
    from opskit.security.demo import write_demo_build

    dist, env = write_demo_build(work)
    return str(dist), [*env_files, str(env)]


def _default_name(urls: Sequence[str], build: str) -> str:
    """The first URL's host (never its user or password), else the build's
    folder name."""
    if urls:
        try:
            parts = urlsplit(str(urls[0]))
            host = parts.hostname or ""
            return f"{host}:{parts.port}" if host and parts.port else host or "review"
        except ValueError:
            return "review"
    return Path(build).name if build else "review"


def _masked(findings: Sequence[Finding]) -> list[Finding]:
    """Findings with passwords in URLs masked where they are shown."""
    masked = []
    for finding in findings:
        shown = {
            "location": mask_text(finding.location),
            "evidence": mask_text(finding.evidence),
        }
        masked.append(finding.model_copy(update=shown))
    return masked
