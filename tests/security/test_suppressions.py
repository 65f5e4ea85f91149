"""One suppression file for every check: owners, reasons and expiry dates."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from opskit.errors import InputError
from opskit.records import Finding, Severity
from opskit.security.suppressions import apply_suppressions, load_suppressions

TODAY = date(2026, 12, 3)


def finding(rule: str, location: str) -> Finding:
    return Finding(id=rule, severity=Severity.HIGH, title=rule, location=location)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suppressions.yaml"
    path.write_text(text)
    return path


def test_live_entries_suppress_expired_ones_report_unused_ones_are_listed(
    tmp_path: Path,
) -> None:
    inline = finding("csp-unsafe-inline", "https://shop.example/")
    eval_ = finding("csp-unsafe-eval", "https://shop.example/")
    other = finding("csp-unsafe-inline", "https://admin.example/")
    entries = load_suppressions(
        write(
            tmp_path,
            f"""
- finding: csp-unsafe-inline
  location: https://shop.example/
  owner: web-team
  reason: legacy checkout widget
  expires: 2027-03-31
- finding: csp-unsafe-eval
  fingerprint: {eval_.fingerprint}
  owner: web-team
  reason: template engine
  expires: 2026-11-30
- finding: hsts-missing
  owner: ops
  reason: not served over https yet
  expires: 2027-01-01
""",
        )
    )

    applied = apply_suppressions([inline, eval_, other], entries, TODAY)

    by_key = {(f.id, f.location): f for f in applied.findings}
    assert by_key[("csp-unsafe-inline", "https://shop.example/")].suppressed == (
        "web-team: legacy checkout widget (until 2027-03-31)"
    )
    assert by_key[("csp-unsafe-inline", "https://admin.example/")].suppressed == ""
    assert by_key[("csp-unsafe-eval", "https://shop.example/")].suppressed == ""
    expired = by_key[("suppression-expired", eval_.fingerprint)]
    assert "expired on 2026-11-30" in expired.title
    assert [e.finding for e in applied.unused] == ["hsts-missing"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- finding: x\n  owner: a\n  reason: b\n", "entry 1, field expires"),
        ("- finding: x\n  owner: a\n  reason: b\n  expires: soon\n", "field expires"),
        ("- {finding: x, owner: a, reason: b, expires: 2027-01-01, why: c}\n", "why"),
        ("finding: x\n", "expected a list"),
    ],
)
def test_a_bad_entry_names_the_file_entry_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)

    with pytest.raises(InputError, match=message) as caught:
        load_suppressions(path)
    assert str(path) in str(caught.value)


def test_a_repeated_entry_is_named(tmp_path: Path) -> None:
    entry = "- {finding: x, owner: a, reason: b, expires: 2027-01-01}\n"

    with pytest.raises(InputError, match="entry 2 repeats an earlier entry"):
        load_suppressions(write(tmp_path, entry * 2))
