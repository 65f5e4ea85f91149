"""``opskit backup`` as a user meets it: create, list, verify and prune."""

from __future__ import annotations

from pathlib import Path

import pytest

from opskit.backups.store import BackupStore
from opskit.demo import Demo
from tests.helpers import Invoke
from tests.servers import PostgresServer, free_port


def test_create_detects_each_engine_and_list_shows_them(
    opskit: Invoke, demo: Demo, tmp_path: Path
) -> None:
    store = str(tmp_path / "b")
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "index.html").write_text("<h1>shop</h1>")

    first = opskit("backup", "create", str(demo.database), "--store", store)
    second = opskit("backup", "create", str(folder), "--store", store)
    listed = opskit("backup", "list", "--store", store)

    assert first[0] == second[0] == listed[0] == 0
    ids = BackupStore.open(store).backup_ids()
    assert [first[1].strip(), second[1].strip()] == ids
    assert "sqlite" in listed[1] and "directory" in listed[1]
    assert "2 backup(s)" in listed[2]


def test_create_streams_a_postgres_dump_into_s3(
    opskit: Invoke, postgres: PostgresServer, pgbench_db: str, s3_bucket: str
) -> None:
    store = f"s3://{s3_bucket}/shop"

    code, stdout, stderr = opskit("backup", "create", pgbench_db, "--store", store)

    assert code == 0, stderr
    manifest = BackupStore.open(store).find(stdout.strip())
    assert manifest.engine == "postgres"
    assert manifest.tables["public.pgbench_accounts"] == 100_000
    assert opskit("backup", "verify", "--store", store)[0] == 0


def test_verify_names_the_damaged_backup_and_exits_1(
    opskit: Invoke, demo: Demo
) -> None:
    store = str(demo.backup_store)
    damaged = demo.backup_store / demo.manifest.backup_id / "database.sqlite.gz"
    opskit("backup", "create", str(demo.database), "--store", store)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))

    code, stdout, stderr = opskit("backup", "verify", "--store", store)

    assert code == 1
    assert f"✗ {demo.manifest.backup_id}:" in stdout
    assert "does not match" in stdout
    assert "1 of 2 backup(s) verified" in stderr


def test_prune_plans_first_and_deletes_only_with_apply(
    opskit: Invoke, demo: Demo
) -> None:
    store = str(demo.backup_store)
    for _ in range(2):
        opskit("backup", "create", str(demo.database), "--store", store)
    newest = BackupStore.open(store).backup_ids()[-1]

    code, plan, summary = opskit("backup", "prune", "--store", store)

    assert code == 0
    assert "newest backup; daily" in plan
    assert "not the newest backup of any period kept" in plan
    assert "keep 1, prune 2; nothing deleted" in summary
    assert len(BackupStore.open(store).backup_ids()) == 3

    code, _, summary = opskit("backup", "prune", "--store", store, "--apply")

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
    opskit: Invoke, demo: Demo, args: list[str], message: str
) -> None:
    code, _, stderr = opskit("backup", *args, "--store", str(demo.backup_store))

    assert code == 2
    assert message in stderr


def test_an_unreachable_source_database_is_named(
    opskit: Invoke, tmp_path: Path
) -> None:
    dsn = f"postgresql://backup:s3cret@127.0.0.1:{free_port()}/orders"

    outcome = opskit("backup", "create", dsn, "--store", str(tmp_path / "b"))

    assert outcome.code == 2
    assert "source: cannot connect to PostgreSQL" in outcome.stderr
    assert "s3cret" not in outcome.stderr
    assert not (tmp_path / "b").exists()
