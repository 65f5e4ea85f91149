"""Helpers every check shares: building findings and masking what they show."""

from __future__ import annotations

import math
from collections import Counter

from opskit.records import Finding, Severity


def new_finding(
    check: str,
    rule: str,
    severity: Severity,
    title: str,
    *,
    evidence: str = "",
    advice: str = "",
    location: str = "",
    reference: str = "",
) -> Finding:
    """A finding of ``check``; keyword arguments keep call sites readable."""
    return Finding(
        id=rule,
        check=check,
        severity=severity,
        title=title,
        evidence=evidence,
        advice=advice,
        location=location,
        reference=reference,
    )


def masked(value: str) -> str:
    """A secret as a finding may show it: at most its first four characters
    (fewer for short values, none under eight), then stars."""
    shown = min(4, len(value) // 4) if len(value) >= 8 else 0
    return value[:shown] + "*" * min(max(len(value) - shown, 4), 12)


def entropy(value: str) -> float:
    """Shannon entropy in bits per character; random keys score about 4 and up."""
    if not value:
        return 0.0
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
