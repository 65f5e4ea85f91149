"""Retention: which backups to keep by daily, weekly, monthly and yearly
counts, with the reason for every keep and every prune.

A rule keeps the newest backup of each of its most recent periods that hold a
backup (days, ISO weeks, months, years), computed in a chosen time zone from
the UTC times in the manifests. The newest backup is always kept. A plan is
only a plan: deleting is a separate, explicit step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opskit.errors import ParameterError

_PERIODS: dict[str, Callable[[datetime], str]] = {
    "daily": lambda t: f"{t:%Y-%m-%d}",
    "weekly": lambda t: "{}-W{:02d}".format(*t.isocalendar()[:2]),
    "monthly": lambda t: f"{t:%Y-%m}",
    "yearly": lambda t: f"{t:%Y}",
}


@dataclass(frozen=True)
class RetentionPolicy:
    """How many periods of each kind to keep a backup for; 0 turns a rule off."""

    daily: int = 30
    weekly: int = 12
    monthly: int = 12
    yearly: int = 0
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        for rule in _PERIODS:
            if getattr(self, rule) < 0:
                raise ParameterError(
                    f"{rule}: must be 0 or more, got {getattr(self, rule)}"
                )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ParameterError(
                f"timezone: unknown time zone {self.timezone!r}; use a name such as "
                "UTC or Europe/Berlin"
            ) from exc


@dataclass(frozen=True)
class Decision:
    """What happens to one backup, and why."""

    backup_id: str
    taken_at: datetime
    keep: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RetentionPlan:
    """Every backup's decision, newest first."""

    decisions: list[Decision] = field(default_factory=list)

    @property
    def kept(self) -> list[Decision]:
        """The decisions that keep a backup."""
        return [d for d in self.decisions if d.keep]

    @property
    def pruned(self) -> list[Decision]:
        """The decisions that delete a backup."""
        return [d for d in self.decisions if not d.keep]


def plan_retention(
    backups: Sequence[tuple[str, datetime]], policy: RetentionPolicy
) -> RetentionPlan:
    """Decide for each ``(backup_id, taken_at)`` whether ``policy`` keeps it.

    ``taken_at`` must be timezone-aware; ties are broken by backup id.

    >>> plan_retention([("b1", taken_at)], RetentionPolicy(daily=7)).kept
    """
    zone = ZoneInfo(policy.timezone)
    ordered = sorted(backups, key=lambda b: (b[1], b[0]), reverse=True)
    reasons: dict[str, list[str]] = {backup_id: [] for backup_id, _ in ordered}
    if ordered:
        reasons[ordered[0][0]].append("newest backup")

    for rule, period_of in _PERIODS.items():
        wanted = getattr(policy, rule)
        seen: set[str] = set()
        for backup_id, taken_at in ordered:
            if len(seen) >= wanted:
                break
            period = period_of(taken_at.astimezone(zone))
            if period not in seen:
                seen.add(period)
                reasons[backup_id].append(f"{rule} {period}")

    return RetentionPlan([_decide(b, t, reasons[b], policy) for b, t in ordered])


def _decide(
    backup_id: str, taken_at: datetime, reasons: list[str], policy: RetentionPolicy
) -> Decision:
    if reasons:
        return Decision(backup_id, taken_at, True, tuple(reasons))
    why = (
        "not the newest backup of any period kept "
        f"({policy.daily} daily, {policy.weekly} weekly, {policy.monthly} monthly, "
        f"{policy.yearly} yearly, in {policy.timezone})"
    )
    return Decision(backup_id, taken_at, False, (why,))
