"""Recovery tiers and their RTO/RPO targets, and the verdict of a measurement
against them.

The default tiers follow the seed chapter; a YAML file (``--tiers`` or the
``OPSKIT_TIERS`` environment variable) may override them or add new ones::

    critical: {rto: 15m, rpo: 5m}
    batch: {rto: 8h, rpo: 1d}
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from opskit.errors import InputError, ParameterError, suggest

TIERS_ENV = "OPSKIT_TIERS"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Tier(BaseModel):
    """A recovery tier: the most downtime (RTO) and data loss (RPO) allowed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    rto_seconds: float
    rpo_seconds: float


class TargetResult(BaseModel):
    """One target compared with a measurement; ``margin_seconds`` is negative
    when the target was missed, and ``met`` is ``None`` when nothing was
    measured."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    target_seconds: float
    actual_seconds: float | None
    met: bool | None
    margin_seconds: float | None

    def describe(self) -> str:
        """Say the verdict in words, e.g. ``RTO 2.1 s against 15 min: met``."""
        target = format_duration(self.target_seconds)
        if self.actual_seconds is None:
            return f"{self.name.upper()} not measured against {target}"
        actual = format_duration(self.actual_seconds)
        verdict = "met" if self.met else "MISSED"
        margin = format_duration(abs(self.margin_seconds or 0.0))
        side = "to spare" if self.met else "over"
        return (
            f"{self.name.upper()} {actual} against {target}: {verdict}, {margin} {side}"
        )


DEFAULT_TIERS: dict[str, Tier] = {
    tier.name: tier
    for tier in (
        Tier(name="critical", rto_seconds=15 * 60, rpo_seconds=5 * 60),
        Tier(name="standard", rto_seconds=3600, rpo_seconds=15 * 60),
        Tier(name="non-critical", rto_seconds=4 * 3600, rpo_seconds=3600),
        Tier(name="portfolio", rto_seconds=24 * 3600, rpo_seconds=86400),
    )
}


def parse_duration(value: str | float | int, field: str) -> float:
    """Turn ``90`` (seconds), ``"90s"``, ``"15m"``, ``"4h"`` or ``"1d"`` into
    seconds; a duration must be a finite number above zero."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value))
        if not match:
            raise InputError(
                f"{field}: {value!r} is not a duration; write a number of seconds "
                "or a number with s, m, h or d, such as 15m"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not math.isfinite(seconds) or seconds <= 0:
        raise InputError(f"{field}: {value!r} must be a duration above zero, e.g. 15m")
    return seconds


def load_tiers(path: str | Path | None = None) -> dict[str, Tier]:
    """Return the default tiers overlaid with those in ``path`` (or $OPSKIT_TIERS).

    Raises ``InputError`` naming the file and tier when the YAML is malformed.
    """
    tiers = dict(DEFAULT_TIERS)
    location = path or os.environ.get(TIERS_ENV)
    if not location:
        return tiers

    source = Path(location)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text; save it as UTF-8") from exc
    except OSError as exc:
        raise InputError(f"{source}: cannot read tiers file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: not valid YAML; {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a mapping of tier name to rto and rpo")

    for name, spec in data.items():
        tiers[str(name)] = _parse_tier(source, str(name), spec)
    return tiers


def get_tier(name: str, tiers: dict[str, Tier] | None = None) -> Tier:
    """Return the tier called ``name``; an unknown name is a ``ParameterError``."""
    known = tiers if tiers is not None else load_tiers()
    if name not in known:
        raise ParameterError(
            f"tier: unknown tier {name!r}{suggest(name, known)}; "
            f"choose one of {', '.join(sorted(known))} or add it to a tiers file"
        )
    return known[name]


def compare_targets(
    tier: Tier, rto_seconds: float | None, rpo_seconds: float | None
) -> list[TargetResult]:
    """Compare measured RTO and RPO (seconds) with the tier's targets."""
    return [
        _compare("rto", tier.rto_seconds, rto_seconds),
        _compare("rpo", tier.rpo_seconds, rpo_seconds),
    ]


def format_duration(seconds: float) -> str:
    """Render seconds for people: ``0.84 s``, ``12 min 5 s``, ``2 h 3 min``."""
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _compare(name: str, target: float, actual: float | None) -> TargetResult:
    if actual is None:
        return TargetResult(
            name=name,
            target_seconds=target,
            actual_seconds=None,
            met=None,
            margin_seconds=None,
        )
    return TargetResult(
        name=name,
        target_seconds=target,
        actual_seconds=round(actual, 6),
        met=actual <= target,
        margin_seconds=round(target - actual, 6),
    )


def _parse_tier(source: Path, name: str, spec: object) -> Tier:
    if not isinstance(spec, dict) or set(spec) != {"rto", "rpo"}:
        raise InputError(
            f"{source}: tier {name!r} needs exactly rto and rpo, e.g. "
            "{rto: 1h, rpo: 15m}"
        )
    return Tier(
        name=name,
        rto_seconds=parse_duration(spec["rto"], f"{source}: tier {name!r} rto"),
        rpo_seconds=parse_duration(spec["rpo"], f"{source}: tier {name!r} rpo"),
    )
