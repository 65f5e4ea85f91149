"""``opskit fleet run``: due drills in parallel processes, a summary, JUnit
XML, a fleet record, and an alert for the drill that failed."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree import ElementTree

import pytest

from opskit.demo import Demo
from opskit.record_store import RecordStore
from opskit.records import RecordStatus
from tests.helpers import Invoke

pytestmark = pytest.mark.slow

DRILLS = """\
drills:
  - name: restore-ok
    notebook: restore_drill
    parameters: {{service: shop, backup_store: "{backups}"}}
    schedule: "30 2 * * *"
    tier: standard
    owner: ops
  - name: restore-bad
    notebook: restore_drill
    parameters:
      service: cart
      backup_store: "{backups}"
      sql_checks: {{none: {{sql: "select count(*) from orders", expected: 0}}}}
    schedule: "@daily"
    tier: critical
    owner: ops
    notify: {webhook}
  - name: restore-broken
    notebook: restore_drill
    parameters: {{service: gone, backup_store: /nonexistent/backups}}
    schedule: "@daily"
    tier: standard
    owner: ops
"""


@pytest.fixture
def webhook() -> Iterator[list[dict[str, object]]]:
    """A chat webhook on loopback that keeps what it is sent."""
    received: list[dict[str, object]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.append({"url": f"http://127.0.0.1:{server.server_address[1]}/hooks/T0"})
    yield received
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_fleet_runs_in_parallel_and_reports_each_drill(
    opskit: Invoke,
    chdir_tmp: Path,
    webhook: list[dict[str, object]],
    demo: Demo,
) -> None:
    url = str(webhook.pop(0)["url"])
    (chdir_tmp / "drills.yaml").write_text(
        DRILLS.format(webhook=url, backups=demo.backup_store)
    )
    store = chdir_tmp / "records"

    outcome = opskit(
        "fleet",
        "run",
        "drills.yaml",
        "--workers",
        "2",
        "--store",
        str(store),
        "--junit",
        "fleet.xml",
    )

    assert outcome.code == 1, outcome.stderr
    assert "1 of 3 drills passed" in outcome.stderr
    assert re.search(r"drills .* 3/3", outcome.stderr), outcome.stderr  # the bar
    for line in ("restore-ok: passed", "restore-bad: failed", "restore-broken: error"):
        assert line in outcome.stderr.splitlines()
    suite = ElementTree.parse(chdir_tmp / "fleet.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == (
        "3",
        "1",
        "1",
    )
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"restore-ok", "restore-bad", "restore-broken"}
    assert cases["restore-ok"].find("failure") is None
    assert "expected 0, found 2500" in cases["restore-bad"].findtext("failure", "")
    assert "/nonexistent/backups" in cases["restore-broken"].findtext("error", "")

    records = RecordStore.open(store)
    drills = {s.record.name: s.record for s in records.find(kind="restore-drill")}
    assert drills["shop"].status is RecordStatus.PASSED
    assert drills["cart"].status is RecordStatus.FAILED
    assert drills["shop"].started_by == "opskit fleet: restore-ok via opskit run"
    (fleet,) = records.find(kind="fleet")
    assert fleet.record.measurements["passed"] == 1
    assert [m["text"] for m in webhook if "cart" in str(m["text"])]
    assert len(webhook) == 1  # only restore-bad names a webhook


def test_the_next_fleet_run_only_runs_what_fell_due(
    opskit: Invoke, chdir_tmp: Path, demo: Demo
) -> None:
    (chdir_tmp / "drills.yaml").write_text(
        DRILLS.format(webhook="null", backups=demo.backup_store).split(
            "  - name: restore-bad"
        )[0]
    )

    first = opskit("fleet", "run", "drills.yaml", "--store", "records")
    again = opskit("fleet", "run", "drills.yaml", "--store", "records")
    forced = opskit("fleet", "run", "drills.yaml", "--store", "records", "--all")

    assert first.code == 0, first.stderr
    assert "1 drill(s): every enabled drill" in first.stderr
    assert again.code == 0 and "0 drill(s) due since" in again.stderr
    assert forced.code == 0 and "1 of 1 drills passed" in forced.stderr
    assert len(RecordStore.open(chdir_tmp / "records").find(kind="restore-drill")) == 2


def test_a_bad_drills_file_is_named(opskit: Invoke, chdir_tmp: Path) -> None:
    (chdir_tmp / "drills.yaml").write_text(
        "drills:\n  - name: x\n    notebook: restore_drill\n    schedule: every day\n"
        "    tier: standard\n    owner: ops\n"
    )

    outcome = opskit("fleet", "run", "drills.yaml", "--store", "records")

    assert outcome.code == 2
    assert "drills.yaml:4" in outcome.stderr and "schedule" in outcome.stderr
    assert not (chdir_tmp / "opskit-fleet.junit.xml").exists()


def test_two_workers_run_two_drills_at_the_same_time(
    opskit: Invoke, chdir_tmp: Path
) -> None:
    notebook = Path(__file__).parent / "fixtures" / "notebooks" / "fleet_barrier.ipynb"
    drills = "drills:\n" + "".join(
        f"  - name: barrier-{me}\n    notebook: {notebook}\n"
        f"    parameters: {{name: {me}, peer: {peer}, folder: {chdir_tmp}}}\n"
        '    schedule: "@daily"\n    tier: standard\n    owner: ops\n'
        for me, peer in (("a", "b"), ("b", "a"))
    )
    (chdir_tmp / "drills.yaml").write_text(drills)

    outcome = opskit(
        "fleet", "run", "drills.yaml", "--workers", "2", "--store", "records"
    )

    assert outcome.code == 0, outcome.stderr
    assert "2 of 2 drills passed" in outcome.stderr


def test_a_drill_that_cannot_start_is_an_error_and_the_rest_still_run(
    opskit: Invoke, chdir_tmp: Path, demo: Demo
) -> None:
    (chdir_tmp / "not-a-folder").write_text("a file where its records should go")
    drills = DRILLS.format(webhook="null", backups=demo.backup_store).split(
        "  - name: restore-bad"
    )[0] + (
        "  - name: unreadable\n    notebook: restore_drill\n"
        "    parameters: {service: shop, backup_store: demo}\n"
        "    record_store: not-a-folder\n"
        '    schedule: "@daily"\n    tier: standard\n    owner: ops\n'
    )
    (chdir_tmp / "drills.yaml").write_text(drills)

    outcome = opskit(
        "fleet", "run", "drills.yaml", "--store", "records", "--junit", "f.xml"
    )

    assert outcome.code == 1, outcome.stderr
    suite = ElementTree.parse(chdir_tmp / "f.xml").getroot()
    assert (suite.get("tests"), suite.get("errors")) == ("2", "1")
    broken = next(c for c in suite.iter("testcase") if c.get("name") == "unreadable")
    assert "not-a-folder" in broken.findtext("error", "")
    assert len(RecordStore.open(chdir_tmp / "records").find(kind="fleet")) == 1


def test_an_unwritable_junit_file_is_refused_before_any_drill(
    opskit: Invoke, chdir_tmp: Path, demo: Demo
) -> None:
    (chdir_tmp / "drills.yaml").write_text(
        DRILLS.format(webhook="null", backups=demo.backup_store)
    )

    outcome = opskit(
        "fleet", "run", "drills.yaml", "--store", "records", "--junit", "no/such/f.xml"
    )

    assert outcome.code == 2
    assert "--junit no/such/f.xml: cannot be written" in outcome.stderr
    assert not (chdir_tmp / "records" / "restore-drill").exists()


def test_sigterm_stops_the_fleet_and_still_reports(chdir_tmp: Path) -> None:
    notebook = Path(__file__).parent / "fixtures" / "notebooks" / "fleet_barrier.ipynb"
    (chdir_tmp / "drills.yaml").write_text(
        "drills:\n"
        + "".join(
            f"  - name: lonely-{n}\n    notebook: {notebook}\n"
            f"    parameters: {{name: n{n}, peer: nobody, folder: {chdir_tmp}}}\n"
            '    schedule: "@daily"\n    tier: standard\n    owner: ops\n'
            for n in range(3)
        )
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "opskit",
            "fleet",
            "run",
            "drills.yaml",
            "--workers",
            "2",
            "--store",
            "records",
            "--junit",
            "f.xml",
        ],
        cwd=chdir_tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(600):
        if (chdir_tmp / "n0").exists() and (chdir_tmp / "n1").exists():
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)  # as a scheduler stops a job; Ctrl-C alike
    try:
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
        process.communicate()

    assert process.returncode == 2, err
    suite = ElementTree.parse(chdir_tmp / "f.xml").getroot()
    assert suite.get("tests") == "3"
    assert suite.get("errors") == "3"
    (fleet,) = RecordStore.open(chdir_tmp / "records").find(kind="fleet")
    assert fleet.record.measurements["passed"] == 0
    assert not (chdir_tmp / "n2").exists()
