"""Bad input met the way users meet it: each gets a message naming the file,
field or parameter, exit code 2 (or 1 for a failed check), and no traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opskit.demo import Demo
from opskit.records import RecordStatus, RecordStore
from tests.helpers import Invoke, sha256_of

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


def drill_args(demo: Demo, store: Path, *params: str) -> list[str]:
    return [
        "run", "restore_drill", "--record-store", str(store),
        "-p", "service", "shop", "-p", "backup_store", str(demo.backup_store),
        *params,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tiers"], "must be a duration above zero"),
        (["run", "{bad}"], "not a readable notebook"),
        (["records", "list", "--store", "{file}"], "is a file, not a store folder"),
        (["backup", "create", "{db}", "--store", "{file}"], "is a file, not a store"),
        (["records", "show", ".."], "give a record folder"),
        (["run", "restore_drill", "--cell-timeout", "0"], "--cell-timeout"),
    ],
)
def test_bad_input_exits_2_without_a_traceback(
    opskit: Invoke,
    demo: Demo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    tiers = tmp_path / "tiers.yaml"
    tiers.write_text("odd: {rto: .nan, rpo: .inf}\n")
    monkeypatch.setenv("OPSKIT_TIERS", str(tiers))
    filled = [a.format(bad=bad, file=afile, db=demo.database) for a in args]

    outcome = opskit(*filled)

    assert outcome.code == 2
    assert message in outcome.stderr
    assert "Traceback" not in outcome.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tier", "gold"], "--tier 'gold': no such tier; the tiers are critical"),
        (["--record-store", "{file}"], "is a file, not a store folder"),
        (["--workdir", "{file}"], "is a file, not a folder"),
        (["--notify", "ftp://hooks"], "notify: ftp://hooks is not an http(s) URL"),
    ],
)
def test_the_demo_checks_its_options_before_it_builds_anything(
    opskit: Invoke, tmp_path: Path, args: list[str], message: str
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    workdir = tmp_path / "shop"

    outcome = opskit(
        "demo", "--workdir", str(workdir), *[a.format(file=afile) for a in args]
    )

    assert outcome.code == 2
    assert message in outcome.stderr
    assert not workdir.exists()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("select 1e20", "which is no time"),
        ("select count(*) from orders", "not a count"),
    ],
)
def test_a_freshness_query_that_returns_no_time_is_named(
    opskit: Invoke, demo: Demo, tmp_path: Path, query: str, message: str
) -> None:
    store = str(tmp_path / "b")

    outcome = opskit(
        "backup", "create", str(demo.database), "--store", store,
        "--freshness-query", query,
    )  # fmt: skip

    assert outcome.code == 2
    assert f"freshness_query: {query!r} returned" in outcome.stderr
    assert message in outcome.stderr
    assert not (tmp_path / "b").exists(), "a failed backup must not leave a store"


def test_an_empty_database_file_is_not_backed_up(
    opskit: Invoke, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()

    outcome = opskit("backup", "create", str(empty), "--store", str(tmp_path / "b"))

    assert outcome.code == 2
    assert "holds no tables" in outcome.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scratch", "message"),
    [
        ("{db}-journal", "a name SQLite uses beside the source"),
        ("{file}", "is a file, not a folder"),
    ],
)
def test_unsafe_sqlite_scratch_locations_are_refused(
    opskit: Invoke,
    demo: Demo,
    record_store: Path,
    tmp_path: Path,
    scratch: str,
    message: str,
) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("keep")
    before = sha256_of(demo.database)
    target = scratch.format(db=demo.database, file=afile)

    outcome = opskit(*drill_args(demo, record_store, "-p", "scratch", target))

    assert outcome.code == 2
    (stored,) = RecordStore.open(record_store).find()
    assert message in stored.record.reason
    assert not Path(f"{demo.database}-journal").exists()
    assert afile.read_text() == "keep"
    assert sha256_of(demo.database) == before


def test_a_freshness_time_after_the_backup_is_refused_at_backup_time(
    opskit: Invoke, demo: Demo, tmp_path: Path
) -> None:
    outcome = opskit(
        "backup", "create", str(demo.database), "--store", str(tmp_path / "b"),
        "--freshness-query", "select '2099-01-01T00:00:00Z'",
    )  # fmt: skip

    assert outcome.code == 2
    assert "after the backup was taken" in outcome.stderr


@pytest.mark.slow
def test_newest_data_in_the_future_fails_instead_of_a_negative_rpo(
    opskit: Invoke, demo: Demo, record_store: Path
) -> None:
    manifest = demo.backup_store / demo.manifest.backup_id / "manifest.json"
    document = json.loads(manifest.read_text())
    document["newest_data_at"] = "2099-01-01T00:00:00Z"
    manifest.write_text(json.dumps(document))

    outcome = opskit(*drill_args(demo, record_store))

    assert outcome.code == 1
    (stored,) = RecordStore.open(record_store).find()
    assert stored.record.status is RecordStatus.FAILED
    assert "is after the drill started" in stored.record.reason
    assert stored.record.measurements.get("rpo_seconds") is None


def test_an_empty_service_name_is_refused(
    opskit: Invoke, demo: Demo, record_store: Path
) -> None:
    outcome = opskit(*drill_args(demo, record_store, "-r", "service", ""))

    assert outcome.code == 2
    (stored,) = RecordStore.open(record_store).find()
    assert "parameter service: string should have at least 1 character" in (
        stored.record.reason
    )


def test_records_show_and_verify_accept_what_opskit_run_prints(
    opskit: Invoke, demo: Demo, record_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(record_store.parent)
    printed = opskit(*drill_args(demo, Path("records"))).stdout.strip()

    shown = opskit("records", "show", printed, "--record-store", "records")
    verified = opskit("records", "verify", printed)
    (Path(printed) / "record.json").unlink()
    missing = opskit("records", "verify", printed)

    assert shown.code == 0 and json.loads(shown.stdout)["status"] == "passed"
    assert verified.code == 0
    assert missing.code == 1
    assert "record.json: missing" in missing.stdout


def test_markup_in_names_prints_as_written(
    opskit: Invoke, demo: Demo, record_store: Path
) -> None:
    outcome = opskit(
        *drill_args(demo, record_store, "-p", "backup_id", "[bold]x[/bold]")
    )

    assert outcome.code == 2
    assert "'[bold]x[/bold]'" in outcome.stderr + json.dumps(
        RecordStore.open(record_store).find()[0].record.reason
    )


@pytest.mark.slow
def test_sigterm_files_an_aborted_record_with_the_partial_notebook(
    tmp_path: Path,
) -> None:
    env = os.environ | {"TMPDIR": str(tmp_path)}
    command = [
        str(Path(sys.executable).with_name("opskit")), "run",
        str(FIXTURES / "hangs_in_third_cell.ipynb"),
        "--record-store", str(tmp_path / "records"),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partial = list(tmp_path.glob("opskit-run-*/notebook.ipynb"))
        if partial and "about to hang" in partial[0].read_text():
            break
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 2, stderr
    (stored,) = RecordStore.open(tmp_path / "records").find()
    assert stored.record.status is RecordStatus.ABORTED
    assert "interrupted" in stored.record.reason
    folder = tmp_path / "records" / stored.key
    assert "about to hang" in (folder / "notebook.ipynb").read_text()
    assert list(tmp_path.glob("opskit-run-*")) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--store", ""], "no location given"),
        (["--store", "{tmp}/b", "--exclude", "*.tmp"], "applies to folder backups"),
        (["--store", "{tmp}/b", "--engine", "postgres"], "is not a PostgreSQL DSN"),
    ],
)
def test_backup_create_refuses_bad_options(
    opskit: Invoke, demo: Demo, tmp_path: Path, args: list[str], message: str
) -> None:
    filled = [a.format(tmp=tmp_path) for a in args]

    outcome = opskit("backup", "create", str(demo.database), *filled)

    assert outcome.code == 2
    assert message in outcome.stderr
    assert "internal error" not in outcome.stderr


def test_a_store_inside_the_folder_it_backs_up_is_refused(
    opskit: Invoke, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("hi")

    outcome = opskit("backup", "create", str(site), "--store", str(site / "bk"))

    assert outcome.code == 2
    assert "is inside the source folder" in outcome.stderr


def test_incomplete_backups_are_reported_and_named(
    opskit: Invoke, demo: Demo, record_store: Path
) -> None:
    broken = demo.backup_store / "20200101T000000.000000Z-abcdef"
    broken.mkdir()
    (broken / "database.sqlite.gz").write_bytes(b"partial")

    listed = opskit("backup", "list", "--store", str(demo.backup_store))
    drill = opskit(*drill_args(demo, record_store, "-p", "backup_id", broken.name))

    assert listed.code == 0
    assert f"incomplete {broken.name}" in listed.stderr
    assert drill.code == 1
    (stored,) = RecordStore.open(record_store).find()
    assert "has no manifest.json" in stored.record.reason


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["-p", "restore_jobs", "100"], "parameter restore_jobs: input should be less"),
        (["-p", "sql_checks", "x"], "pass a mapping with -y"),
        (["-y", "{sql_checks: {a: {sql: 'select 1', expected: 1, extra: 2}}}"],
         "needs exactly sql and expected"),
    ],
)  # fmt: skip
def test_drill_options_out_of_shape_are_errors(
    opskit: Invoke, demo: Demo, record_store: Path, params: list[str], message: str
) -> None:
    outcome = opskit(*drill_args(demo, record_store, *params))

    assert outcome.code == 2
    (stored,) = RecordStore.open(record_store).find()
    assert message in stored.record.reason


def test_a_failing_sql_check_says_why_in_the_reason(
    opskit: Invoke, demo: Demo, record_store: Path
) -> None:
    checks = "{sql_checks: {a: {sql: 'select nope from orders', expected: 1}}}"

    outcome = opskit(*drill_args(demo, record_store, "-y", checks))

    assert outcome.code == 1
    (stored,) = RecordStore.open(record_store).find()
    assert "sql:a (query failed: no such column: nope)" in stored.record.reason
