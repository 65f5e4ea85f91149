"""One grading scheme for every security check: a score that starts at 100,
an additive modifier per finding, and a letter grade, in the manner of the
public header observatories. It needs nothing but the findings, so it grades
localhost and private hosts as well as public ones.

Modifiers by severity: info 0, low -5, medium -10, high -20, critical -40;
a few rules carry their own (``RULE_MODIFIERS``). Suppressed findings do not
count. The score never goes below 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from opskit.records import Finding, Severity

SEVERITY_MODIFIERS: dict[Severity, int] = {
    Severity.INFO: 0,
    Severity.LOW: -5,
    Severity.MEDIUM: -10,
    Severity.HIGH: -20,
    Severity.CRITICAL: -40,
}

RULE_MODIFIERS: dict[str, int] = {
    "csp-missing": -25,
    "hsts-missing": -20,
    "cors-any-origin-with-credentials": -50,
}

# Lowest score for each grade, best first.
GRADES: tuple[tuple[int, str], ...] = (
    (100, "A+"),
    (90, "A"),
    (85, "A-"),
    (80, "B+"),
    (70, "B"),
    (65, "B-"),
    (60, "C+"),
    (50, "C"),
    (45, "C-"),
    (40, "D+"),
    (30, "D"),
    (25, "D-"),
    (0, "F"),
)


@dataclass(frozen=True)
class Grade:
    """A score from 0 to 100 and its letter."""

    score: int
    letter: str


def modifier(finding: Finding) -> int:
    """The points a finding takes off the score."""
    if finding.suppressed:
        return 0
    return RULE_MODIFIERS.get(finding.id, SEVERITY_MODIFIERS[finding.severity])


def grade(findings: Iterable[Finding]) -> Grade:
    """Grade a set of findings.

    >>> grade([]).letter
    'A+'
    """
    score = max(0, 100 + sum(modifier(f) for f in findings))
    letter = next(letter for lowest, letter in GRADES if score >= lowest)
    return Grade(score=score, letter=letter)


def at_or_above(findings: Iterable[Finding], threshold: Severity) -> list[Finding]:
    """Unsuppressed findings as severe as ``threshold`` or worse (a CI gate)."""
    return [
        f for f in findings if not f.suppressed and f.severity.rank >= threshold.rank
    ]
