"""``opskit backup`` as a user meets it: create, list, verify and prune."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from opskit.backups.store import BackupStore
from opskit.cli import main
from opskit.demo import Demo
from tests.servers import PostgresServer

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """Run ``opskit ARGS...`` in process; return exit code, stdout and stderr."""
    monkeypatch.setenv("COLUMNS", "300")

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["opskit", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def test_create_detects_each_engine_and_list_shows_them(
    run: Run, demo: Demo, tmp_path: Path
) -> None:
    store = str(tmp_path / "b")
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "index.html").write_text("<h1>shop</h1>")

    first = run("backup", "create", str(demo.database), "--store", store)
    second = run("backup", "create", str(folder), "--store", store)
    listed = run("backup", "list", "--store", store)

    assert first[0] == second[0] == listed[0] == 0
    ids = BackupStore.open(store).backup_ids()
    assert [first[1].strip(), second[1].strip()] == ids
    assert "sqlite" in listed[1] and "directory" in listed[1]
    assert "2 backup(s)" in listed[2]


def test_create_streams_a_postgres_dump_into_s3(
    run: Run, postgres: PostgresServer, pgbench_db: str, s3_bucket: str
) -> None:
    store = f"s3://{s3_bucket}/shop"

    code, stdout, stderr = run("backup", "create", pgbench_db, "--store", store)

    assert code == 0, stderr
    manifest = BackupStore.open(store).find(stdout.strip())
    assert manifest.engine == "postgres"
    assert manifest.tables["public.pgbench_accounts"] == 100_000
    assert run("backup", "verify", "--store", store)[0] == 0


def test_verify_names_the_damaged_backup_and_exits_1(run: Run, demo: Demo) -> None:
    store = str(demo.backup_store)
    damaged = demo.backup_store / demo.manifest.backup_id / "database.sqlite.gz"
    run("backup", "create", str(demo.database), "--store", store)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))

    code, stdout, stderr = run("backup", "verify", "--store", store)

    assert code == 1
    assert f"✗ {demo.manifest.backup_id}:" in stdout
    assert "does not match" in stdout
    assert "1 of 2 backup(s) verified" in stderr


def test_prune_plans_first_and_deletes_only_with_apply(run: Run, demo: Demo) -> None:
    store = str(demo.backup_store)
    for _ in range(2):
        run("backup", "create", str(demo.database), "--store", store)
    newest = BackupStore.open(store).backup_ids()[-1]

    code, plan, summary = run("backup", "prune", "--store", store)

    assert code == 0
    assert "newest backup; daily" in plan
    assert "not the newest backup of any period kept" in plan
    assert "keep 1, prune 2; nothing deleted" in summary
    assert len(BackupStore.open(store).backup_ids()) == 3

    code, _, summary = run("backup", "prune", "--store", store, "--apply")

    assert code == 0
    assert "deleted 2 backup(s)" in summary
    assert BackupStore.open(store).backup_ids() == [newest]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["prune", "--timezone", "Mars/Base"], "timezone: unknown time zone"),
        (["prune", "--daily", "-1"], "daily: must be 0 or more"),
        (["verify", "20200101T000000.000000Z-000000"], "backup_id: '2020"),
    ],
)
def test_bad_input_exits_2_naming_it(
    run: Run, demo: Demo, args: list[str], message: str
) -> None:
    code, _, stderr = run("backup", *args, "--store", str(demo.backup_store))

    assert code == 2
    assert message in stderr
