"""Timing of named phases: UTC timestamps for the record, a monotonic clock for
durations, so a clock step during a drill cannot bend its RTO."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from opskit.errors import CheckFailed

logger = logging.getLogger(__name__)


class PhaseStatus(StrEnum):
    """How a phase ended."""

    OK = "ok"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


class Phase(BaseModel):
    """One timed phase of a run; ``seconds`` comes from the monotonic clock."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    started_at: datetime
    ended_at: datetime
    seconds: float
    status: PhaseStatus
    detail: str = ""


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class PhaseTimer:
    """Times the phases of one run in order.

    >>> timer = PhaseTimer()
    >>> with timer.phase("restore"): ...
    """

    def __init__(self) -> None:
        self.started_at = utc_now()
        self._started = time.monotonic()
        self.phases: list[Phase] = []

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as phase ``name``; an exception marks it and propagates.

        A ``CheckFailed`` marks the phase ``failed``; anything else ``error``.
        """
        started_at, started = utc_now(), time.monotonic()
        logger.debug("phase %s started", name)
        status, detail = PhaseStatus.OK, ""
        try:
            yield
        except CheckFailed as exc:
            status, detail = PhaseStatus.FAILED, str(exc)
            raise
        except BaseException as exc:
            status, detail = PhaseStatus.ERROR, str(exc) or type(exc).__name__
            raise
        finally:
            self._close(name, started_at, started, status, detail)

    def skip(self, name: str, reason: str) -> None:
        """Record that phase ``name`` did not run, and why."""
        now = utc_now()
        self.phases.append(
            Phase(
                name=name,
                started_at=now,
                ended_at=now,
                seconds=0.0,
                status=PhaseStatus.SKIPPED,
                detail=reason,
            )
        )

    def add(
        self,
        name: str,
        *,
        started_at: datetime,
        seconds: float,
        detail: str = "",
        before: str | None = None,
    ) -> None:
        """Record a phase measured elsewhere, such as a download that overlapped
        a restore; ``before`` places it ahead of the named phase."""
        phase = Phase(
            name=name,
            started_at=started_at,
            ended_at=started_at + timedelta(seconds=seconds),
            seconds=round(seconds, 6),
            status=PhaseStatus.OK,
            detail=detail,
        )
        names = [p.name for p in self.phases]
        index = names.index(before) if before in names else len(self.phases)
        self.phases.insert(index, phase)

    def elapsed(self) -> float:
        """Seconds since the timer started, by the monotonic clock."""
        return time.monotonic() - self._started

    def ended_at(self, name: str) -> datetime | None:
        """Return when phase ``name`` ended, or ``None`` if it has not run."""
        for phase in self.phases:
            if phase.name == name:
                return phase.ended_at
        return None

    def _close(
        self,
        name: str,
        started_at: datetime,
        started: float,
        status: PhaseStatus,
        detail: str,
    ) -> None:
        seconds = time.monotonic() - started
        # Derive the end from the monotonic duration so end - start == seconds.
        ended_at = started_at + timedelta(seconds=seconds)
        self.phases.append(
            Phase(
                name=name,
                started_at=started_at,
                ended_at=ended_at,
                seconds=round(seconds, 6),
                status=status,
                detail=detail,
            )
        )
        logger.debug("phase %s %s after %.3f s", name, status.value, seconds)
