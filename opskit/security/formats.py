"""Findings written for CI systems: JSON, SARIF 2.1.0 and JUnit XML."""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree as ET

from opskit import __version__
from opskit.records import Finding, Severity
from opskit.security.grading import Grade, at_or_above

_SARIF_LEVEL = {
    Severity.INFO: "note",
    Severity.LOW: "note",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "error",
    Severity.CRITICAL: "error",
}
_FILE_LINE = re.compile(r"^(?P<uri>[^:]+):(?P<line>\d+)(?::(?P<column>\d+))?$")


def to_json(findings: list[Finding], grade: Grade, error: str = "") -> str:
    """Every finding with the grade, as one JSON document; ``error`` says why
    a review broke (its grade is then ``-``)."""
    return json.dumps(
        {
            "status": "error" if error else "complete",
            "error": error,
            "grade": grade.letter,
            "score": None if error else grade.score,
            "findings": [
                f.model_dump(mode="json") | {"fingerprint": f.fingerprint}
                for f in findings
            ],
        },
        indent=2,
    )


def to_sarif(findings: list[Finding], error: str = "") -> str:
    """A SARIF 2.1.0 log, one result per finding; a review that broke
    (``error``) is an unsuccessful invocation, so no viewer shows it clean."""
    rules = sorted({f.id: f for f in findings}.values(), key=lambda f: f.id)
    results = [
        {
            "ruleId": f.id,
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.title}: {f.evidence}" if f.evidence else f.title},
            "locations": [_sarif_location(f.location)] if f.location else [],
            "partialFingerprints": {"opskit/v1": f.fingerprint},
            **(
                {"suppressions": [{"kind": "external", "justification": f.suppressed}]}
                if f.suppressed
                else {}
            ),
        }
        for f in findings
    ]
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "opskit",
                        "version": __version__,
                        "rules": [
                            {
                                "id": f.id,
                                "shortDescription": {"text": f.title},
                                "help": {"text": f.advice},
                                "helpUri": f.reference or None,
                            }
                            for f in rules
                        ],
                    }
                },
                "results": results,
                "invocations": [
                    {
                        "executionSuccessful": not error,
                        "toolExecutionNotifications": (
                            [{"level": "error", "message": {"text": error}}]
                            if error
                            else []
                        ),
                    }
                ],
            }
        ],
    }
    return json.dumps(log, indent=2)


def to_junit(findings: list[Finding], fail_on: Severity, error: str = "") -> str:
    """JUnit XML: one test case per finding, failing when it meets the gate;
    a review that broke adds a test case in error with ``error``."""
    failing = {id(f) for f in at_or_above(findings, fail_on)}
    suite = ET.Element(
        "testsuite",
        name="opskit security review",
        tests=str(len(findings) + bool(error)),
        failures=str(len(failing)),
        errors=str(int(bool(error))),
    )
    if error:
        case = ET.SubElement(suite, "testcase", classname="review", name="review")
        ET.SubElement(case, "error", message="the review broke").text = error
    for finding in findings:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=finding.check or "review",
            name=f"{finding.id} {finding.location}".strip(),
        )
        if id(finding) in failing:
            failure = ET.SubElement(
                case, "failure", type=finding.severity.value, message=finding.title
            )
            failure.text = f"{finding.evidence}\n{finding.advice}".strip()
        elif finding.suppressed:
            ET.SubElement(case, "skipped", message=f"suppressed: {finding.suppressed}")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def _sarif_location(location: str) -> dict[str, object]:
    match = _FILE_LINE.match(location)
    if match and "://" not in location:
        region = {"startLine": int(match.group("line"))}
        if match.group("column"):
            region["startColumn"] = int(match.group("column"))
        return {
            "physicalLocation": {
                "artifactLocation": {"uri": match.group("uri")},
                "region": region,
            }
        }
    return {"physicalLocation": {"artifactLocation": {"uri": location}}}
