"""One grade for every check: 100 minus a documented modifier per finding."""

from __future__ import annotations

import pytest

from opskit.records import Finding, Severity
from opskit.security.grading import at_or_above, grade, modifier


def finding(rule: str, severity: Severity, suppressed: str = "") -> Finding:
    return Finding(id=rule, severity=severity, title=rule, suppressed=suppressed)


@pytest.mark.parametrize(
    ("findings", "score", "letter"),
    [
        ([], 100, "A+"),
        ([finding("x", Severity.INFO)], 100, "A+"),
        ([finding("x", Severity.LOW)], 95, "A"),
        ([finding("x", Severity.MEDIUM), finding("y", Severity.LOW)], 85, "A-"),
        ([finding("csp-missing", Severity.HIGH)], 75, "B"),
        ([finding("x", Severity.HIGH), finding("y", Severity.HIGH)], 60, "C+"),
        ([finding("x", Severity.CRITICAL), finding("y", Severity.HIGH)], 40, "D+"),
        ([finding("cors-any-origin-with-credentials", Severity.CRITICAL)] * 3, 0, "F"),
    ],
)
def test_scores_map_to_letters(
    findings: list[Finding], score: int, letter: str
) -> None:
    result = grade(findings)

    assert (result.score, result.letter) == (score, letter)


def test_suppressed_findings_do_not_count_or_gate() -> None:
    accepted = finding("x", Severity.CRITICAL, suppressed="web-team: legacy")

    assert modifier(accepted) == 0
    assert grade([accepted]).letter == "A+"
    assert at_or_above([accepted], Severity.LOW) == []


def test_the_gate_takes_findings_at_or_above_the_threshold() -> None:
    findings = [finding(s.value, s) for s in Severity]

    gated = at_or_above(findings, Severity.HIGH)

    assert [f.severity for f in gated] == [Severity.HIGH, Severity.CRITICAL]
