"""``opskit runbook run`` as a terminal user meets it: where the record
goes, typed parameters, and Ctrl-C in the middle of a step."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opskit.record_store import RecordStore
from opskit.records import RecordStatus
from tests.helpers import Invoke

SLOW = """\
name: slow
parameters:
  dir: {type: str}
  version: {type: str}
steps:
  - name: Note the version
    changes: false
    action: {command: [sh, -c, 'echo "$1" > "$0/version"', "${dir}", "${version}"]}
  - name: Wait
    changes: false
    timeout: 120
    action: {command: [sh, -c, 'sleep 60 & echo $! > "$0/child"; wait', "${dir}"]}
  - name: After
    changes: false
    action: {command: [touch, "${dir}/after"]}
"""


@pytest.fixture
def runbook(tmp_path: Path) -> Path:
    path = tmp_path / "slow.runbook.yaml"
    path.write_text(SLOW)
    return path


def test_the_record_goes_to_the_store_given(
    opskit: Invoke, runbook: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSKIT_RECORD_STORE", str(tmp_path / "elsewhere"))
    quick = runbook.read_text().replace("timeout: 120", "timeout: 1")
    runbook.write_text(quick.replace("sleep 60", "sleep 0"))

    outcome = opskit(
        "runbook",
        "run",
        str(runbook),
        "-p",
        "dir",
        str(tmp_path),
        "-p",
        "version",
        "1.10",
        "--store",
        str(tmp_path / "chosen"),
    )

    assert outcome.code == 0, outcome.stderr
    assert outcome.stdout.strip().startswith(str(tmp_path / "chosen"))
    assert (tmp_path / "version").read_text() == "1.10\n"
    assert not (tmp_path / "elsewhere").exists()


def test_sigterm_stops_the_step_and_files_an_aborted_record(
    runbook: Path, tmp_path: Path
) -> None:
    store = tmp_path / "records"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "opskit",
            "runbook",
            "run",
            str(runbook),
            "-p",
            "dir",
            str(tmp_path),
            "-p",
            "version",
            "2",
            "--store",
            str(store),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    child = tmp_path / "child"
    for _ in range(600):
        if child.exists() and child.read_text().strip():
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)  # as a scheduler stops a job; Ctrl-C alike
    try:
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
        process.communicate()

    assert process.returncode == 2, err
    record = RecordStore.open(store).load(out.strip()).record
    assert record.status is RecordStatus.ABORTED
    assert "interrupted (Ctrl-C or SIGTERM) during step 'Wait'" in record.reason
    assert not (tmp_path / "after").exists()
    assert not alive(int(child.read_text()))


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a killed orphan may linger as a zombie until
    its new parent reaps it; that is not running)."""
    time.sleep(0.2)
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status
