"""The ``opskit`` command as a user meets it: exit codes, messages and records.

Commands run in-process through ``opskit.cli.main`` (the console-script entry
point, which turns opskit errors into exit codes) with ``sys.argv`` patched, so
each test sees the real exit code, stdout and stderr; one case also runs the
installed ``opskit`` script in a subprocess. Drills run ``restore_drill``
against a fresh demo database and backup; each drill checks that the source
database is byte-for-byte unchanged and that exactly one record was filed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from opskit.backups.drill import run_drill
from opskit.demo import Demo
from opskit.records import Record, RecordStatus, RecordStore
from tests.helpers import Invoke, Outcome, sha256_of

OPSKIT_SCRIPT = Path(sys.executable).with_name("opskit")


@dataclass(frozen=True)
class Drill:
    """An ``opskit run restore_drill`` command and the one record it filed."""

    outcome: Outcome
    record: Record
    folder: Path


RunDrill = Callable[..., Drill]


@pytest.fixture
def backup(demo: Demo) -> Path:
    """The folder of the demo's backup: manifest.json and database.sqlite.gz."""
    return demo.backup_store / demo.manifest.backup_id


@pytest.fixture
def drill(opskit: Invoke, demo: Demo, record_store: Path, tmp_path: Path) -> RunDrill:
    """Run restore_drill on the demo backup, with parameters overridden by
    keyword; ``{database}`` and ``{tmp}`` in a value are filled in."""

    def run(**overrides: str) -> Drill:
        params = {
            "service": "demo",
            "backup_store": str(demo.backup_store),
            "freshness_query": demo.freshness_query,
            **overrides,
        }
        args = ["run", "restore_drill", "--record-store", str(record_store)]
        for name, value in params.items():
            filled = value.format(database=demo.database, tmp=tmp_path)
            args += ["-p", name, filled]
        before = sha256_of(demo.database)
        outcome = opskit(*args)
        assert sha256_of(demo.database) == before, "the drill changed the source"
        found = RecordStore.open(record_store).find()
        assert len(found) == 1, outcome.stderr
        return Drill(outcome, found[0].record, record_store / found[0].key)

    return run


@pytest.mark.slow
def test_passing_drill_files_a_record_that_verifies_until_changed(
    drill: RunDrill, opskit: Invoke, record_store: Path
) -> None:
    result = drill()

    assert result.outcome.code == 0, result.outcome.stderr
    assert result.record.status is RecordStatus.PASSED
    assert result.record.reason == ""
    assert "PASSED" in result.outcome.stderr
    assert result.outcome.stdout.strip().splitlines()[-1] == str(result.folder)
    files = {p.name for p in result.folder.iterdir()}
    assert files == {"record.json", "notebook.ipynb", "report.html"}

    by_folder = opskit("records", "verify", str(result.folder))
    assert by_folder.code == 0, by_folder.stdout
    assert "record.json and every file are as filed" in by_folder.stdout
    by_id = opskit(
        "records", "verify", result.record.id, "--record-store", str(record_store)
    )
    assert by_id.code == 0, by_id.stdout

    report = result.folder / "report.html"
    data = bytearray(report.read_bytes())
    data[len(data) // 2] ^= 0x01
    report.write_bytes(bytes(data))

    tampered = opskit("records", "verify", str(result.folder))
    assert tampered.code == 1
    assert "report.html: sha256 differs" in tampered.stdout
    assert "cannot be trusted" in tampered.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("backup_store", "{tmp}/nowhere", "backup_store: {tmp}/nowhere does not exist"),
        ("backup_id", "nope", "backup_id: 'nope' is not in"),
        ("scratch", "{database}", "scratch: {database} is the source database"),
        ("tier", "critcal", "tier: unknown tier 'critcal' (did you mean 'critical'"),
        ("keep_scratch", "maybe", "keep_scratch: input should be a valid boolean"),
        ("tier", "5", "parameter tier: input should be a valid string, got 5 (int)"),
    ],
    ids=[
        "no-store",
        "no-backup-id",
        "scratch-is-source",
        "unknown-tier",
        "keep-scratch-not-bool",
        "tier-not-str",
    ],
)
def test_bad_drill_input_exits_2_with_an_error_record_naming_it(
    drill: RunDrill, demo: Demo, tmp_path: Path, name: str, value: str, expected: str
) -> None:
    result = drill(**{name: value})

    expected = expected.format(database=demo.database, tmp=tmp_path)
    assert result.outcome.code == 2, result.outcome.stderr
    assert result.record.status is RecordStatus.ERROR
    assert expected in result.record.reason
    assert expected in result.outcome.stderr
    assert "ERROR" in result.outcome.stderr


def _flip_byte(backup: Path) -> None:
    path = backup / "database.sqlite.gz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(backup: Path) -> None:
    path = backup / "database.sqlite.gz"
    path.write_bytes(path.read_bytes()[:-100])


def _edit_manifest(field: str, value: str) -> Callable[[Path], None]:
    def edit(backup: Path) -> None:
        path = backup / "manifest.json"
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if field == "key":
            manifest["components"][0]["key"] = value
        else:
            manifest[field] = value
        path.write_text(json.dumps(manifest), encoding="utf-8")

    return edit


def _newer_copy_of_manifest(backup: Path) -> None:
    """A newer backup folder whose manifest is a copy of the older one's, so it
    names the older backup; its own component is garbage."""
    newer = backup.parent / "29990101T000000Z-aaaaaa"
    newer.mkdir()
    (newer / "database.sqlite.gz").write_bytes(b"garbage")
    shutil.copyfile(backup / "manifest.json", newer / "manifest.json")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_flip_byte, "database.sqlite.gz: sha256"),
        (_truncate, "the backup is truncated"),
        (_edit_manifest("key", "../x"), "field components.0.key: key '../x'"),
        (_edit_manifest("key", "/etc/passwd"), "components.0.key: key '/etc/passwd'"),
        (_edit_manifest("backup_id", "../x"), "backup_id"),
        (_newer_copy_of_manifest, "backup_id"),
    ],
    ids=[
        "flipped-byte",
        "truncated",
        "dotdot-key",
        "absolute-key",
        "dotdot-backup-id",
        "backup-id-mismatch",
    ],
)
def test_damaged_backup_is_refused_and_the_drill_fails(
    drill: RunDrill, backup: Path, damage: Callable[[Path], None], expected: str
) -> None:
    damage(backup)

    result = drill()

    assert result.outcome.code == 1, result.outcome.stderr
    assert result.record.status is RecordStatus.FAILED
    assert expected in result.record.reason
    assert expected in result.outcome.stderr
    assert not any(p.name == "restore" for p in result.record.phases)


@pytest.mark.slow
def test_missed_target_of_a_tier_from_opskit_tiers_fails_the_drill(
    drill: RunDrill, opskit: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiers = tmp_path / "tiers.yaml"
    tiers.write_text("instant: {rto: 0.000001, rpo: 0.000001}\n", encoding="utf-8")
    monkeypatch.setenv("OPSKIT_TIERS", str(tiers))
    assert "instant" in opskit("tiers").stdout

    result = drill(tier="instant")

    assert result.outcome.code == 1, result.outcome.stderr
    assert result.record.status is RecordStatus.FAILED
    assert "RTO" in result.record.reason
    assert "MISSED" in result.record.reason
    assert [t.met for t in result.record.targets] == [False, False]
    assert all(c.status.value == "passed" for c in result.record.checks)


def test_unknown_parameter_is_refused_with_a_suggestion_before_running(
    opskit: Invoke, record_store: Path
) -> None:
    args = ["run", "restore_drill", "-p", "teir", "critical"]
    args += ["--record-store", str(record_store / "new")]

    outcome = opskit(*args)
    script = subprocess.run(
        [OPSKIT_SCRIPT, *args], capture_output=True, text=True, check=False
    )

    seen = [(outcome.code, outcome.stderr), (script.returncode, script.stderr)]
    for code, stderr in seen:
        assert code == 2
        assert "opskit: error: parameter teir" in stderr
        assert "did you mean 'tier'" in stderr
        assert "Traceback" not in stderr
    assert list(record_store.iterdir()) == []


def test_records_list_shows_records_and_filters_by_status(
    opskit: Invoke, demo: Demo, backup: Path, record_store: Path
) -> None:
    where = {"backup_store": str(demo.backup_store), "service": "demo"}
    passed = run_drill(**where)
    _flip_byte(backup)
    failed = run_drill(**where)
    assert (passed.status, failed.status) == (RecordStatus.PASSED, RecordStatus.FAILED)
    keys = [
        Path(r.file(record_store)).relative_to(record_store).as_posix()
        for r in (passed, failed)
    ]

    listed = opskit("records", "list", "--record-store", str(record_store))
    assert listed.code == 0
    assert all(key in listed.stdout for key in keys)
    assert "2 record(s)" in listed.stderr

    only_failed = opskit(
        "records", "list", "--status", "failed", "--record-store", str(record_store)
    )
    assert only_failed.code == 0
    assert keys[1] in only_failed.stdout
    assert keys[0] not in only_failed.stdout
    assert "1 record(s)" in only_failed.stderr

    bad = opskit("records", "list", "--status", "bogus")
    assert bad.code == 2
    assert "--status" in bad.stderr


def test_backup_create_prints_the_new_backup_id(
    opskit: Invoke, demo: Demo, tmp_path: Path
) -> None:
    store = tmp_path / "more-backups"
    before = sha256_of(demo.database)

    outcome = opskit("backup", "create", str(demo.database), "--store", str(store))

    assert outcome.code == 0, outcome.stderr
    assert sha256_of(demo.database) == before
    backup_id = outcome.stdout.strip()
    assert re.fullmatch(r"\d{8}T\d{6}(\.\d{6})?Z-[0-9a-f]{6}", backup_id)
    assert (store / backup_id / "manifest.json").is_file()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"plain text, not SQLite\n" * 10, "not a SQLite", id="text"),
        pytest.param(None, "no such SQLite database file", id="missing"),
    ],
)
def test_backup_create_of_a_non_sqlite_source_exits_2_naming_it(
    opskit: Invoke, tmp_path: Path, content: bytes | None, expected: str
) -> None:
    source = tmp_path / "notes.txt"
    if content is not None:
        source.write_bytes(content)

    outcome = opskit(
        "backup", "create", str(source), "--store", str(tmp_path / "backups")
    )

    assert outcome.code == 2
    assert str(source) in outcome.stderr
    assert expected in outcome.stderr
    assert outcome.stdout == ""


@pytest.mark.slow
def test_a_raw_parameter_stays_text(
    opskit: Invoke, demo: Demo, record_store: Path
) -> None:
    done = opskit(
        "run", "restore_drill", "--record-store", str(record_store),
        "-r", "service", "2024", "-p", "backup_store", str(demo.backup_store),
    )  # fmt: skip

    assert done.code == 0, done.stderr
    (stored,) = RecordStore.open(record_store).find()
    assert stored.record.name == "2024"
    assert stored.record.parameters["service"] == "2024"


@pytest.mark.slow
def test_yaml_parameters_carry_sql_checks(
    opskit: Invoke, demo: Demo, record_store: Path
) -> None:
    checks = (
        '{sql_checks: {orders: {sql: "select count(*) from orders", expected: 2500}}}'
    )

    done = opskit(
        "run", "restore_drill", "--record-store", str(record_store),
        "-p", "service", "shop", "-p", "backup_store", str(demo.backup_store),
        "-y", checks,
    )  # fmt: skip

    assert done.code == 0, done.stderr
    (stored,) = RecordStore.open(record_store).find()
    check = next(c for c in stored.record.checks if c.name == "sql:orders")
    assert (check.status.value, check.actual) == ("passed", 2500)


def test_yaml_parameters_that_are_not_a_mapping_are_refused(opskit: Invoke) -> None:
    done = opskit("run", "restore_drill", "-y", "[1, 2]")

    assert done.code == 2
    assert "expected a mapping" in done.stderr


def test_records_on_s3_verify_by_the_location_opskit_prints(
    opskit: Invoke, demo: Demo, s3_bucket: str, s3_env: str
) -> None:
    store = f"s3://{s3_bucket}/records"
    location = run_drill(service="shop", backup_store=str(demo.backup_store)).file(
        store
    )
    key = location.removeprefix(f"s3://{s3_bucket}/") + "/record.json"

    trusted = opskit("records", "verify", location)
    client = boto3.client("s3", endpoint_url=s3_env)
    body = json.loads(client.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    body["status"] = "failed"
    client.put_object(Bucket=s3_bucket, Key=key, Body=json.dumps(body).encode())
    edited = opskit("records", "verify", location)

    assert trusted.code == 0, trusted.stderr
    assert edited.code == 1
    assert "changed since it was filed" in edited.stdout


@pytest.mark.slow
def test_the_run_summary_counts_checklist_items_not_done_apart_from_passed(
    opskit: Invoke, record_store: Path, tmp_path: Path
) -> None:
    outcome = opskit(
        "run", "incident_response", "--record-store", str(record_store),
        "-p", "service", "demo", "-p", "demo_workdir", str(tmp_path / "shop"),
        "-p", "refresh_seconds", "0", "-r", "runbook", "",
        "-y", "{actions: ['tick: immediate-1']}",
        "-p", "close", "true", "-p", "summary", "The disk filled up",
    )  # fmt: skip

    assert outcome.code == 0, outcome.stderr
    assert "1 passed, 0 failed, 11 not done of 12" in outcome.stderr
    assert "12 of 12 passed" not in outcome.stderr
