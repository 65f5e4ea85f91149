"""What every health check is: a name, a timeout, and a run that answers
healthy, degraded or unhealthy with a latency and a detail, and never raises."""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar

from opskit.errors import InputError


class HealthStatus(StrEnum):
    """How a check found its target, best first."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


_RANK = {status: rank for rank, status in enumerate(HealthStatus)}


def worst(statuses: Iterable[HealthStatus]) -> HealthStatus:
    """The worst of ``statuses``; healthy when there are none."""
    return max(statuses, key=_RANK.__getitem__, default=HealthStatus.HEALTHY)


@dataclass(frozen=True)
class CheckResult:
    """One check's answer: ``latency`` in seconds, ``checked_at`` in UTC."""

    name: str
    kind: str
    status: HealthStatus
    latency: float
    detail: str
    checked_at: datetime


Outcome = tuple[HealthStatus, str]


class HealthCheck(ABC):
    """A check with a ``name`` and a ``timeout`` in seconds; ``run()`` times
    ``probe()`` and turns any exception into an unhealthy result."""

    kind: ClassVar[str]
    name: str
    timeout: float

    def run(self) -> CheckResult:
        """Run the check once; never raises."""
        checked_at = datetime.now(UTC)
        started = time.monotonic()
        try:
            status, detail = self.probe()
        except Exception as exc:
            status, detail = HealthStatus.UNHEALTHY, describe_error(exc)
        latency = time.monotonic() - started
        return CheckResult(self.name, self.kind, status, latency, detail, checked_at)

    @abstractmethod
    def probe(self) -> Outcome:
        """Ask the target once and say how it is; may raise."""


def os_reason(exc: BaseException) -> str:
    """The innermost OS reason ("Connection refused"), else the short text."""
    found = re.findall(r"\[Errno -?\d+\] ([^'\"\)]+)", str(exc))
    if found:
        return str(found[-1]).strip()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return describe_error(exc)


def describe_error(exc: BaseException) -> str:
    """``Type: message``, on one line of at most 200 characters."""
    return f"{type(exc).__name__}: {shorten(str(exc))}"


def shorten(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut at ``limit`` characters."""
    text = text.replace("\n", " ").strip()
    return text if len(text) <= limit else text[:limit] + "…"


def refuse_repeated_names(names: list[str], label: str) -> None:
    """Raise ``InputError`` when two checks share a name (results are told
    apart by name)."""
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(
            f"{label}: check names repeat ({', '.join(repeated)}); "
            "give each check its own name"
        )
