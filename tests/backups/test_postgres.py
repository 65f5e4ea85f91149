"""The PostgreSQL engine against a real server started from this machine's
binaries: consistent dumps, restores into new scratch databases, refusals."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from opskit.backups.drill import run_drill
from opskit.backups.result import DrillResult
from opskit.backups.store import create_backup
from opskit.records import RecordStatus
from tests.servers import PostgresServer, free_port

pytestmark = pytest.mark.integration

PGBENCH_ROWS = {
    "public.pgbench_accounts": 100_000,
    "public.pgbench_branches": 1,
    "public.pgbench_history": 0,
    "public.pgbench_tellers": 10,
}
FRESHNESS = "select max(updated_at) from orders"


def fingerprint(postgres: PostgresServer, database: str) -> str:
    """A digest of every account row, to prove a database was not touched."""
    return postgres.psql(
        "select md5(string_agg(aid::text || ':' || abalance, ',' order by aid)) "
        "from pgbench_accounts",
        database,
    )


def database_exists(postgres: PostgresServer, name: str) -> bool:
    query = f"select count(*) from pg_database where datname = '{name}'"
    return postgres.psql(query) == "1"


def database_of(dsn: str) -> str:
    return dsn.rsplit("/", 1)[1]


def drill(store: Path | str, scratch: str, **changes: Any) -> DrillResult:
    params: dict[str, Any] = {
        "service": "shop",
        "backup_store": str(store),
        "scratch": scratch,
        "tier": "critical",
    }
    return run_drill(**(params | changes))


def test_a_dump_records_counts_from_its_own_snapshot(
    pgbench_db: str, tmp_path: Path
) -> None:
    manifest = create_backup(pgbench_db, tmp_path / "b", engine="postgres")

    assert manifest.engine == "postgres"
    assert manifest.tables == PGBENCH_ROWS
    assert manifest.engine_info["server_version"].startswith(("15", "16", "17"))
    assert manifest.engine_info["database"] == database_of(pgbench_db)
    assert [c.key for c in manifest.components] == ["database.dump"]


def test_a_dump_taken_while_pgbench_writes_is_consistent(
    postgres: PostgresServer, pgbench_db: str, tmp_path: Path
) -> None:
    load = subprocess.Popen(
        ["pgbench", "-n", "-T", "4", "-c", "2", pgbench_db],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        manifests = [
            create_backup(pgbench_db, tmp_path / "b", engine="postgres")
            for _ in range(3)
        ]
    finally:
        load.wait(timeout=30)

    assert manifests[-1].tables["public.pgbench_history"] > 0
    scratch = postgres.url("")
    for manifest in manifests:
        result = drill(tmp_path / "b", scratch, backup_id=manifest.backup_id)
        assert result.status is RecordStatus.PASSED, result.record.reason


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_drill_restores_into_a_new_database_and_drops_it(
    postgres: PostgresServer, pgbench_db: str, tmp_path: Path, jobs: int
) -> None:
    postgres.psql(
        "create table orders (id int, updated_at timestamptz default now()); "
        "insert into orders (id) values (1), (2)",
        database_of(pgbench_db),
    )
    create_backup(
        pgbench_db, tmp_path / "b", engine="postgres", freshness_query=FRESHNESS
    )
    before = fingerprint(postgres, database_of(pgbench_db))

    result = drill(
        tmp_path / "b",
        postgres.url(f"drill_{jobs}"),
        restore_jobs=jobs,
        freshness_query=FRESHNESS,
        sql_checks={"branches": {"sql": "select count(*) from pgbench_branches",
                                 "expected": 1}},
    )  # fmt: skip

    record = result.record
    assert record.status is RecordStatus.PASSED, record.reason
    assert [c.name for c in record.checks if c.status.value == "passed"] == [
        *[f"rows:{t}" for t in sorted([*PGBENCH_ROWS, "public.orders"])],
        "freshness", "sql:branches",
    ]  # fmt: skip
    streamed = ["locate", "download", "restore", "verify", "validate", "cleanup"]
    downloaded = ["locate", "download", "verify", "restore", "validate", "cleanup"]
    assert [p.name for p in record.phases] == (streamed if jobs == 1 else downloaded)
    assert record.measurements["restored_bytes"] > 1_000_000
    assert not database_exists(postgres, f"drill_{jobs}")
    assert fingerprint(postgres, database_of(pgbench_db)) == before


def test_keep_scratch_leaves_the_restored_database(
    postgres: PostgresServer, pgbench_db: str, tmp_path: Path
) -> None:
    create_backup(pgbench_db, tmp_path / "b", engine="postgres")

    result = drill(tmp_path / "b", postgres.url("kept_copy"), keep_scratch=True)

    assert result.status is RecordStatus.PASSED, result.record.reason
    rows = postgres.psql("select count(*) from pgbench_accounts", "kept_copy")
    assert rows == "100000"
    postgres.psql('drop database "kept_copy"')


def test_a_scratch_that_is_the_source_is_refused(
    postgres: PostgresServer, pgbench_db: str, tmp_path: Path
) -> None:
    create_backup(pgbench_db, tmp_path / "b", engine="postgres")
    database = database_of(pgbench_db)
    before = fingerprint(postgres, database)

    same = drill(tmp_path / "b", pgbench_db)
    alias_dsn = f"postgresql://postgres@localhost:{postgres.port}/{database}"
    alias = drill(tmp_path / "b", alias_dsn)

    for result in (same, alias):
        assert result.status is RecordStatus.ERROR
        assert "is the source of this backup" in result.record.reason
    assert fingerprint(postgres, database) == before


def test_an_existing_scratch_database_is_never_touched(
    postgres: PostgresServer, pgbench_db: str, tmp_path: Path
) -> None:
    create_backup(pgbench_db, tmp_path / "b", engine="postgres")
    postgres.psql('create database "busy"')
    postgres.psql("create table keep (x int); insert into keep values (42)", "busy")

    result = drill(tmp_path / "b", postgres.url("busy"))

    assert result.status is RecordStatus.ERROR
    assert "database 'busy' already exists" in result.record.reason
    assert postgres.psql("select x from keep", "busy") == "42"
    postgres.psql('drop database "busy"')


def test_a_role_that_cannot_create_databases_is_named(
    postgres: PostgresServer, pgbench_db: str, tmp_path: Path
) -> None:
    create_backup(pgbench_db, tmp_path / "b", engine="postgres")
    postgres.psql("do $$ begin create role reader login nocreatedb; "
                  "exception when duplicate_object then null; end $$")  # fmt: skip

    result = drill(tmp_path / "b", postgres.url("scratch_denied", user="reader"))

    assert result.status is RecordStatus.ERROR
    assert "role 'reader' may not create databases" in result.record.reason


def test_an_unreachable_server_is_an_error(pgbench_db: str, tmp_path: Path) -> None:
    create_backup(pgbench_db, tmp_path / "b", engine="postgres")

    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    result = drill(tmp_path / "b", nobody)

    assert result.status is RecordStatus.ERROR
    assert result.record.reason.startswith("scratch: cannot connect to PostgreSQL")


def test_a_dump_that_pg_restore_rejects_fails_the_drill(
    postgres: PostgresServer, pgbench_db: str, tmp_path: Path
) -> None:
    manifest = create_backup(pgbench_db, tmp_path / "b", engine="postgres")
    folder = tmp_path / "b" / manifest.backup_id
    dump = folder / "database.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = b"\xff" * 4096
    dump.write_bytes(bytes(data))
    # Corrupt before hashing: the manifest agrees with the damaged bytes.
    document = json.loads((folder / "manifest.json").read_text())
    document["components"][0]["sha256"] = hashlib.sha256(data).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(document))

    result = drill(tmp_path / "b", postgres.url("rejected"))

    assert result.status is RecordStatus.FAILED
    assert "pg_restore rejected the dump" in result.record.reason
    assert not database_exists(postgres, "rejected")


def test_passwords_never_reach_the_manifest_or_record(
    postgres: PostgresServer, pgbench_db: str, tmp_path: Path
) -> None:
    with_password = pgbench_db.replace("postgres@", "postgres:hunter2@")
    manifest = create_backup(with_password, tmp_path / "b", engine="postgres")

    result = drill(tmp_path / "b", postgres.url("masked").replace("@", ":hunter2@"))

    assert result.status is RecordStatus.PASSED, result.record.reason
    assert "hunter2" not in manifest.model_dump_json()
    assert "hunter2" not in result.record.model_dump_json()


def test_a_drill_streams_a_dump_from_s3(
    postgres: PostgresServer, pgbench_db: str, s3_bucket: str
) -> None:
    store = f"s3://{s3_bucket}/shop"
    create_backup(pgbench_db, store, engine="postgres")

    result = drill(store, postgres.url("from_s3"))

    assert result.status is RecordStatus.PASSED, result.record.reason
    assert result.record.measurements["bytes"] > 100_000
