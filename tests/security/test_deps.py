"""Dependency audits: each report format typed in its smallest form, and a
lockfile of each version checked offline against OSV advisories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opskit.errors import InputError
from opskit.records import Severity
from opskit.security import deps

NPM6 = {
    "advisories": {
        "1673": {
            "module_name": "minimist",
            "severity": "moderate",
            "title": "Prototype Pollution",
            "patched_versions": ">=1.2.6",
            "findings": [{"version": "1.2.5", "paths": ["mkdirp>minimist"]}],
        }
    }
}
NPM7 = {
    "auditReportVersion": 2,
    "vulnerabilities": {
        "lodash": {
            "name": "lodash",
            "severity": "high",
            "isDirect": True,
            "via": [{"source": 1523, "title": "Prototype Pollution in lodash"}],
            "range": "<4.17.21",
            "fixAvailable": {"name": "lodash", "version": "4.17.21"},
        }
    },
}
PIP_AUDIT = {
    "dependencies": [
        {
            "name": "jinja2",
            "version": "2.11.2",
            "vulns": [
                {
                    "id": "PYSEC-2021-66",
                    "fix_versions": ["2.11.3"],
                    "description": "ReDoS in the urlize filter",
                }
            ],
        },
        {"name": "rich", "version": "13.7.0", "vulns": []},
    ]
}
OSV_SCANNER = {
    "results": [
        {
            "packages": [
                {
                    "package": {
                        "name": "express",
                        "version": "4.17.1",
                        "ecosystem": "npm",
                    },
                    "vulnerabilities": [
                        {
                            "id": "GHSA-rv95-896h-c2vc",
                            "summary": "Open redirect",
                            "database_specific": {"severity": "MODERATE"},
                            "affected": [
                                {
                                    "package": {"name": "express"},
                                    "ranges": [
                                        {
                                            "type": "SEMVER",
                                            "events": [
                                                {"introduced": "0"},
                                                {"fixed": "4.19.2"},
                                            ],
                                        }
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    ]
}


def write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (
            NPM6,
            (
                "dep-npm-1673",
                Severity.MEDIUM,
                "minimist 1.2.5; fixed in >=1.2.6; transitive dependency",
            ),
        ),
        (
            NPM7,
            (
                "dep-npm-1523",
                Severity.HIGH,
                "lodash in <4.17.21; fixed in 4.17.21; direct dependency",
            ),
        ),
        (
            PIP_AUDIT,
            ("dep-PYSEC-2021-66", Severity.MEDIUM, "jinja2 2.11.2; fixed in 2.11.3"),
        ),
        (
            OSV_SCANNER,
            (
                "dep-GHSA-rv95-896h-c2vc",
                Severity.MEDIUM,
                "express 4.17.1; fixed in 4.19.2",
            ),
        ),
    ],
)
def test_each_report_format_becomes_findings(
    tmp_path: Path, report: dict[str, Any], expected: tuple[str, Severity, str]
) -> None:
    (finding,) = deps.read_audit(write(tmp_path, "audit.json", report))

    assert (finding.id, finding.severity, finding.evidence) == expected


def test_an_unknown_report_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a report opskit reads"):
        deps.read_audit(write(tmp_path, "x.json", {"hello": 1}))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(InputError, match="cannot read it as JSON"):
        deps.read_audit(tmp_path / "broken.json")


ADVISORIES = [
    {
        "id": "GHSA-lodash",
        "summary": "Prototype Pollution",
        "database_specific": {"severity": "HIGH"},
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": "lodash"},
                "ranges": [
                    {
                        "type": "SEMVER",
                        "events": [{"introduced": "0"}, {"fixed": "4.17.21"}],
                    }
                ],
            }
        ],
    },
    {
        "id": "GHSA-minimist",
        "summary": "Prototype Pollution",
        "severity": [{"type": "CVSS_V3", "score": "9.8"}],
        "affected": [
            {"package": {"ecosystem": "npm", "name": "minimist"}, "versions": ["1.2.5"]}
        ],
    },
    {
        "id": "GHSA-pypi-only",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "lodash"}}],
    },
]
LOCK_V1 = {
    "lockfileVersion": 1,
    "dependencies": {
        "lodash": {"version": "4.17.20"},
        "mkdirp": {
            "version": "0.5.5",
            "dependencies": {"minimist": {"version": "1.2.5"}},
        },
    },
}
LOCK_V3 = {
    "lockfileVersion": 3,
    "packages": {
        "": {"dependencies": {"lodash": "^4.17.0", "mkdirp": "^0.5.5"}},
        "node_modules/lodash": {"version": "4.17.21"},
        "node_modules/mkdirp": {"version": "0.5.5"},
        "node_modules/mkdirp/node_modules/minimist": {"version": "1.2.5"},
    },
}


@pytest.mark.parametrize(
    ("lock", "expected"),
    [
        (
            LOCK_V1,
            {
                ("dep-GHSA-lodash", Severity.HIGH, "lodash 4.17.20; fixed in 4.17.21"),
                (
                    "dep-GHSA-minimist",
                    Severity.CRITICAL,
                    "minimist 1.2.5; fixed in no release yet",
                ),
            },
        ),
        (
            LOCK_V3 | {"lockfileVersion": 2},
            {
                (
                    "dep-GHSA-minimist",
                    Severity.CRITICAL,
                    "minimist 1.2.5; fixed in no release yet; transitive dependency",
                )
            },
        ),
        (
            LOCK_V3,
            {
                (
                    "dep-GHSA-minimist",
                    Severity.CRITICAL,
                    "minimist 1.2.5; fixed in no release yet; transitive dependency",
                )
            },
        ),
    ],
)
def test_lockfiles_are_checked_offline_against_osv(
    tmp_path: Path, lock: dict[str, Any], expected: set[tuple[str, Severity, str]]
) -> None:
    found = deps.check_lockfile(
        write(tmp_path, "package-lock.json", lock),
        write(tmp_path, "osv.json", ADVISORIES),
    )

    assert {(f.id, f.severity, f.evidence) for f in found} == expected


@pytest.mark.parametrize(
    ("version", "events", "hit"),
    [
        ("1.0.0", [{"introduced": "0"}, {"fixed": "1.0.1"}], True),
        ("1.0.1", [{"introduced": "0"}, {"fixed": "1.0.1"}], False),
        ("2.0.0-beta.1", [{"introduced": "1.5.0"}, {"fixed": "2.0.0"}], True),
        ("1.4.9", [{"introduced": "1.5.0"}, {"fixed": "2.0.0"}], False),
        ("3.1.0", [{"introduced": "3.0.0"}, {"last_affected": "3.1.0"}], True),
        ("9.9.9", [{"introduced": "9.0.0"}], True),
    ],
)
def test_semver_ranges(version: str, events: list[dict[str, str]], hit: bool) -> None:
    assert (deps._in_range(events, version) is not None) is hit


@pytest.mark.parametrize(
    "report",
    [
        [1, 2],
        {"auditReportVersion": 2, "vulnerabilities": None},
        {"auditReportVersion": 2, "vulnerabilities": {"lodash": "high"}},
        {"advisories": {"1": None}},
        {"dependencies": [{"name": "x", "version": "1", "vulns": None}]},
    ],
)
def test_reports_of_unexpected_shape_are_named(tmp_path: Path, report: Any) -> None:
    with pytest.raises(InputError, match=r"unexpected shape|not a report opskit reads"):
        deps.read_audit(write(tmp_path, "audit.json", report))


def test_versions_that_are_not_semver_are_not_guessed(tmp_path: Path) -> None:
    lock = {
        "lockfileVersion": 3,
        "packages": {
            "node_modules/lodash": {"version": "latest"},
            "node_modules/minimist": {"version": "git+https://example.invalid/m1.2.5"},
        },
    }

    found = deps.check_lockfile(
        write(tmp_path, "package-lock.json", lock),
        write(tmp_path, "osv.json", ADVISORIES),
    )

    assert found == []
