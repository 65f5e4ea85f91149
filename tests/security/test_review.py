"""A whole review: checks chosen by the inputs, suppressions, the grade, the
gate, the record, and the formats CI systems read."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from opskit.records import RecordStatus, RecordStore
from opskit.security.review import run_review
from tests.helpers import Invoke
from tests.security.conftest import Route, Site


def test_a_site_review_grades_and_gates(site: Site) -> None:
    site.routes["/"] = Route(
        headers=[
            ("Content-Type", "text/html"),
            ("Content-Security-Policy", "script-src 'nonce-fixed' 'self'"),
        ],
        cors_reflect=True,
        cors_credentials=True,
    )

    result = run_review(urls=[site.url("/")], fail_on="critical")

    ids = {f.id for f in result.findings}
    assert {
        "csp-nonce-reuse",
        "cors-any-origin-with-credentials",
        "http-no-redirect",
    } <= ids
    assert result.status is RecordStatus.FAILED
    assert result.grade.letter == "F"
    assert result.record.kind == "security-review"
    assert result.record.name == site.base.split("://")[1]
    assert [p.name for p in result.record.phases] == ["headers"]


def test_suppressions_and_the_gate_decide_the_status(tmp_path: Path) -> None:
    suppressions = tmp_path / "suppressions.yaml"
    suppressions.write_text(
        "- {finding: aws-access-key-id, location: 'assets/index.js:1:67', owner: sec, "
        "reason: documentation example, expires: 2099-01-01}\n"
        "- {finding: env-client-secret, owner: sec, reason: example, "
        "expires: 2099-01-01}\n"
    )

    strict = run_review(build="demo", fail_on="high")
    accepted = run_review(
        build="demo",
        fail_on="high",
        suppressions=str(suppressions),
        today=date(2026, 12, 3),
    )

    assert strict.status is RecordStatus.FAILED
    assert accepted.status is RecordStatus.PASSED
    assert accepted.grade.score == 90
    assert sum(1 for f in accepted.findings if f.suppressed) == 2
    assert accepted.record.details["unused_suppressions"] == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({}, "nothing to review"),
        ({"build": "demo", "fail_on": "severe"}, "fail_on: 'severe' is no severity"),
        ({"urls": ["ftp://x"]}, "is not an http(s) URL"),
        ({"lockfile": "package-lock.json"}, "advisories: a lockfile check needs"),
        ({"build": "demo", "timeout": 1e12}, "timeout: 1000000000000.0 must be at"),
        ({"build": "demo", "connections": 0}, "connections: 0 must be a whole"),
    ],
)
def test_bad_input_is_an_error_record(changes: dict[str, object], message: str) -> None:
    result = run_review(**changes)  # type: ignore[arg-type]

    assert result.status is RecordStatus.ERROR
    assert message in result.record.reason


def test_the_cli_gates_and_writes_each_format(
    opskit: Invoke, tmp_path: Path, record_store: Path
) -> None:
    base = ["review", "--build", "demo", "--record-store", str(record_store)]

    table = opskit(*base)
    lenient = opskit(*base, "--fail-on", "critical")
    as_json = opskit(*base, "--format", "json")
    sarif = opskit(*base, "--format", "sarif")
    junit_path = tmp_path / "junit.xml"
    opskit(*base, "--format", "junit", "--output", str(junit_path))

    assert table.code == 1 and "aws-access-key-id" in table.stdout
    assert "grade C (50/100)" in table.stderr
    assert lenient.code == 0
    assert json.loads(as_json.stdout)["grade"] == "C"
    results = json.loads(sarif.stdout)["runs"][0]["results"]
    located = next(r for r in results if r["ruleId"] == "aws-access-key-id")
    region = located["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 1, "startColumn": 67}
    suite = ET.parse(junit_path).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("3", "2")
    assert len(RecordStore.open(record_store).find(kind="security-review")) == 5


@pytest.mark.slow
def test_the_notebook_runs_through_opskit_run(
    opskit: Invoke, record_store: Path
) -> None:
    done = opskit("run", "security_review", "--record-store", str(record_store))

    assert done.code == 1
    (stored,) = RecordStore.open(record_store).find()
    assert stored.record.kind == "security-review"
    assert stored.record.status is RecordStatus.FAILED
    assert {a.path for a in stored.record.artifacts} == {
        "notebook.ipynb",
        "report.html",
    }


def test_the_process_environment_can_be_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEXT_PUBLIC_SECRET_TOKEN", "tok_0123456789abcdef")

    result = run_review(process_env=True, fail_on="critical")

    (finding,) = [f for f in result.findings if f.check == "envvars"]
    assert finding.location == "process environment"
    assert finding.evidence == "NEXT_PUBLIC_SECRET_TOKEN=tok_************"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"urls": "http://127.0.0.1/"}, "urls: expected a list"),
        ({"urls": ["http://"]}, "is not an http(s) URL with a host"),
        ({"urls": ["http://127.0.0.1:99999/"]}, "is not an http(s) URL with a host"),
        ({"urls": ["http://[::1"]}, "is not an http(s) URL with a host"),
        ({"build": "demo", "timeout": 0}, "timeout: 0 must be"),
        ({"build": "demo", "timeout": float("nan")}, "timeout: nan must be"),
    ],
)
def test_malformed_review_input_is_an_error_without_a_grade(
    changes: dict[str, object], message: str
) -> None:
    result = run_review(**changes)  # type: ignore[arg-type]

    assert result.status is RecordStatus.ERROR
    assert message in result.record.reason
    assert result.grade.letter == "-"
    assert "no grade" in result.summary()


def test_a_server_that_trickles_its_body_is_cut_off_at_the_timeout(
    site: Site,
) -> None:
    site.routes["/drip"] = Route(headers=[("Content-Type", "text/html")], body="x" * 64)
    site.drip = 0.3  # seconds between bytes of the body

    started = time.monotonic()
    result = run_review(urls=[site.url("/drip")], timeout=1, fail_on="critical")

    assert time.monotonic() - started < 6
    assert "fetch-failed" in {f.id for f in result.findings}


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_site_that_refuses_the_connection_is_no_pass_and_gets_no_grade() -> None:
    url = f"http://127.0.0.1:{closed_port()}/"

    started = time.monotonic()
    result = run_review(urls=[url], timeout=5, fail_on="critical")

    assert time.monotonic() - started < 3  # refused at once, not timed out
    (failed,) = [f for f in result.findings if f.id == "fetch-failed"]
    assert failed.evidence.startswith("connection failed: [Errno 111]")
    assert result.status is RecordStatus.ERROR
    assert result.grade.letter == "-"
    assert result.record.reason.startswith(
        f"1 of 1 URL(s) could not be reviewed ({url}"
    )


def test_a_broken_review_reads_as_broken_in_every_format(
    opskit: Invoke, tmp_path: Path, record_store: Path
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    base = ["review", "--url", url, "--record-store", str(record_store)]

    as_json = opskit(*base, "--format", "json")
    sarif = opskit(*base, "--format", "sarif")
    junit = opskit(*base, "--format", "junit")
    missing = opskit(
        "review",
        "--build",
        str(tmp_path / "nowhere"),
        "--format",
        "sarif",
        "--record-store",
        str(record_store),
    )

    assert {as_json.code, sarif.code, junit.code, missing.code} == {2}
    document = json.loads(as_json.stdout)
    assert (document["status"], document["grade"]) == ("error", "-")
    assert "could not be reviewed" in document["error"]
    (run,) = json.loads(sarif.stdout)["runs"]
    assert run["invocations"][0]["executionSuccessful"] is False
    suite = ET.fromstring(junit.stdout)
    assert (suite.get("errors"), suite.get("tests")) == ("1", "2")
    (broken,) = json.loads(missing.stdout)["runs"][0]["invocations"]
    assert "nowhere" in broken["toolExecutionNotifications"][0]["message"]["text"]


def test_the_table_goes_to_output_when_asked(
    opskit: Invoke, tmp_path: Path, record_store: Path
) -> None:
    target = tmp_path / "findings.txt"

    demo = ["review", "--build", "demo", "--record-store", str(record_store)]
    outcome = opskit(*demo, "--output", str(target))

    assert outcome.code == 1
    assert "aws-access-key-id" not in outcome.stdout
    assert "aws-access-key-id" in target.read_text()
    assert "severity" in target.read_text().splitlines()[1]


def test_the_cli_names_an_unwritable_report_path(
    opskit: Invoke, record_store: Path
) -> None:
    outcome = opskit(
        "review",
        "--build",
        "demo",
        "--record-store",
        str(record_store),
        "--format",
        "sarif",
        "--output",
        "/nonexistent/dir/review.sarif",
        "--fail-on",
        "HIGH",
    )

    assert outcome.code == 2
    assert "--output /nonexistent/dir/review.sarif: cannot write the report" in (
        outcome.stderr
    )


def test_a_password_in_a_url_never_reaches_the_record(
    site: Site, record_store: Path
) -> None:
    site.routes["/"] = Route(status=302, headers=[("Location", "/home")])
    site.routes["/home"] = Route(headers=[("Content-Type", "text/html")])
    url = site.url("/").replace("http://", "http://dana:s3cret-pw@")

    result = run_review(urls=[url], timeout=5, fail_on="critical")
    location = result.file(record_store)

    filed = (Path(location) / "record.json").read_text()
    assert "s3cret-pw" not in filed
    assert "dana:***@" in filed
    assert "s3cret-pw" not in location
    assert result.record.name == site.base.removeprefix("http://")
    assert all("s3cret-pw" not in f.location + f.evidence for f in result.findings)


@pytest.mark.parametrize(
    ("bundle", "problem"),
    [
        ("{tmp}/nowhere.pem", "$REQUESTS_CA_BUNDLE: {tmp}/nowhere.pem cannot be read"),
        ("{tmp}/junk.pem", "$REQUESTS_CA_BUNDLE: {tmp}/junk.pem cannot be read"),
    ],
)
def test_a_ca_bundle_that_cannot_be_read_is_named_and_http_is_unaffected(
    site: Site,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bundle: str,
    problem: str,
) -> None:
    (tmp_path / "junk.pem").write_text("not a certificate")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle.format(tmp=tmp_path))
    site.routes["/"] = Route(headers=[("Content-Type", "text/html")])

    over_tls = run_review(urls=["https://127.0.0.1:9/"], timeout=5)
    plain = run_review(urls=[site.url("/")], timeout=5, fail_on="critical")

    assert over_tls.status is RecordStatus.ERROR
    assert problem.format(tmp=tmp_path) in over_tls.record.reason
    assert plain.status is RecordStatus.PASSED


def test_fewer_connections_spare_a_server_with_a_small_backlog(
    opskit: Invoke, record_store: Path, tmp_path: Path
) -> None:
    """python -m http.server listens with a backlog of 5."""
    (tmp_path / "index.html").write_text("<p>hello</p>")
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = server.stdout.readline().split(" port ")[1].split()[0]
        urls = [f"--url=http://127.0.0.1:{port}/?n={n}" for n in range(100)]
        outcome = opskit(
            "review", *urls, "--connections", "4", "--timeout", "5",
            "--fail-on", "critical", "--record-store", str(record_store),
            "--output", str(tmp_path / "findings.txt"),
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()  # type: ignore[union-attr]

    assert outcome.code == 0, outcome.stderr
    assert "fetch-failed" not in (tmp_path / "findings.txt").read_text()
    assert "security review: PASSED, grade" in (tmp_path / "findings.txt").read_text()
