"""One round of checks at once, as a DataFrame, and what to say about it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd

from opskit.errors import ParameterError
from opskit.health.interface import (
    CheckResult,
    HealthCheck,
    HealthStatus,
    shorten,
    worst,
)

logger = logging.getLogger(__name__)

COLUMNS = ["name", "kind", "status", "latency", "detail", "checked_at"]
_GRACE = 0.2  # seconds a check may overrun its timeout before it is abandoned


def run_checks(
    checks: Sequence[HealthCheck], *, deadline: float | None = None
) -> pd.DataFrame:
    """Run every check at once and return one row per check, in order.

    Each check runs in a daemon thread of its own and is abandoned at its
    timeout (counted from the round's start), or at ``deadline`` seconds for
    the round (default: the longest timeout plus 1); an abandoned check is
    unhealthy, "no answer within N s".

    >>> results = run_checks(load_checks("checks.yaml"))
    >>> summarize(results)
    """
    if deadline is not None and deadline <= 0:
        raise ParameterError(f"deadline: must be positive, got {deadline!r}")
    if not checks:
        return frame_of([])
    limit = deadline if deadline is not None else max(c.timeout for c in checks) + 1
    answers: list[CheckResult | None] = [None] * len(checks)
    checked_at, started = datetime.now(UTC), time.monotonic()

    def work(index: int, check: HealthCheck) -> None:
        answers[index] = check.run()

    threads = [
        threading.Thread(
            target=work, args=(index, check), name=f"health {check.name}", daemon=True
        )
        for index, check in enumerate(checks)
    ]
    for thread in threads:
        thread.start()
    for thread, check in zip(threads, checks, strict=True):
        cutoff = started + min(check.timeout + _GRACE, limit)
        thread.join(max(0.0, cutoff - time.monotonic()))

    results = [
        answer or _abandoned(check, min(check.timeout, limit), checked_at)
        for check, answer in zip(checks, answers, strict=True)
    ]
    frame = frame_of(results)
    logger.debug(
        "health round in %.2f s: %s", time.monotonic() - started, summarize(frame)
    )
    return frame


def overall(results: pd.DataFrame) -> HealthStatus:
    """The worst status among ``results``; healthy when there are none."""
    return worst(HealthStatus(status) for status in results["status"])


def summarize(results: pd.DataFrame) -> str:
    """One line for a timeline: counts by status, then what is wrong, worst
    first, e.g. ``3 checks: 2 healthy, 1 unhealthy (api: HTTP 503, expected 200)``.
    """
    total = len(results)
    head = f"{total} check{'' if total == 1 else 's'}"
    counts = results["status"].value_counts() if total else pd.Series(dtype=int)
    parts = [f"{counts[s]} {s}" for s in HealthStatus if counts.get(s, 0)]
    problems = [
        f"{row.name}: {shorten(str(row.detail), 100)}"
        for status in (HealthStatus.UNHEALTHY, HealthStatus.DEGRADED)
        for row in results[results["status"] == status].itertuples()
    ]
    if len(problems) > 3:
        problems = [*problems[:3], f"{len(problems) - 3} more"]
    tail = f" ({'; '.join(problems)})" if problems else ""
    return f"{head}: {', '.join(parts)}{tail}" if parts else head


def frame_of(results: list[CheckResult]) -> pd.DataFrame:
    """Results as rows with ``COLUMNS``; the same columns and types when empty."""
    return pd.DataFrame(
        {
            "name": pd.Series([r.name for r in results], dtype=object),
            "kind": pd.Series([r.kind for r in results], dtype=object),
            "status": pd.Series([r.status.value for r in results], dtype=object),
            "latency": pd.Series([r.latency for r in results], dtype="float64"),
            "detail": pd.Series([r.detail for r in results], dtype=object),
            "checked_at": pd.to_datetime([r.checked_at for r in results], utc=True),
        },
        columns=COLUMNS,
    )


def _abandoned(check: HealthCheck, limit: float, checked_at: datetime) -> CheckResult:
    detail = f"no answer within {limit:g} s"
    return CheckResult(
        check.name, check.kind, HealthStatus.UNHEALTHY, limit, detail, checked_at
    )
