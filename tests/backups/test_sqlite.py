"""The SQLite engine: consistent online backups, restores and validation."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest

from opskit.backups.drill import run_drill
from opskit.backups.engine import RestoreOptions, parse_data_time
from opskit.backups.sqlite import SqliteEngine
from opskit.backups.store import BackupStore, create_backup
from opskit.demo import FRESHNESS_QUERY, Demo, create_demo_database
from opskit.errors import InputError, UnsafeTargetError
from opskit.records import CheckStatus
from tests.helpers import sha256_of


def restore(demo: Demo, tmp_path: Path) -> str:
    store = BackupStore.open(demo.backup_store)
    manifest = store.find()
    downloads = store.download(manifest, tmp_path)
    options = RestoreOptions(scratch=str(tmp_path / "scratch"))
    target = SqliteEngine().plan_target(manifest, options)
    files = {k: d.path for k, d in downloads.items()}
    SqliteEngine().restore(manifest, files, target, options)
    return target


def test_the_manifest_holds_row_counts_and_newest_data(demo: Demo) -> None:
    manifest = demo.manifest

    assert manifest.engine == "sqlite"
    assert manifest.source == str(demo.database)
    assert manifest.tables == {
        "customers": 400,
        "order_items": 6255,
        "orders": 2500,
        "products": 60,
    }
    assert manifest.newest_data_at is not None
    assert manifest.newest_data_at <= manifest.taken_at
    assert [c.key for c in manifest.components] == ["database.sqlite.gz"]
    assert manifest.engine_info["compression"] == "gzip"


def test_a_restored_copy_passes_every_check(demo: Demo, tmp_path: Path) -> None:
    target = restore(demo, tmp_path)

    options = RestoreOptions(freshness_query=FRESHNESS_QUERY)
    validation = SqliteEngine().validate(demo.manifest, target, options)

    assert [c.status for c in validation.checks] == [CheckStatus.PASSED] * 6
    assert validation.newest_data_at == demo.manifest.newest_data_at
    assert validation.restored_bytes == Path(target).stat().st_size


def test_missing_rows_fail_their_check(demo: Demo, tmp_path: Path) -> None:
    target = restore(demo, tmp_path)
    with closing(sqlite3.connect(target)) as db, db:
        db.execute("delete from orders where id > 2490")

    validation = SqliteEngine().validate(demo.manifest, target, RestoreOptions())
    checks = {c.name: c for c in validation.checks}

    assert checks["rows:orders"].status is CheckStatus.FAILED
    assert (checks["rows:orders"].expected, checks["rows:orders"].actual) == (
        2500,
        2490,
    )
    assert checks["rows:customers"].status is CheckStatus.PASSED


def test_a_backup_of_a_live_database_is_consistent(tmp_path: Path) -> None:
    source = tmp_path / "live.sqlite"
    create_demo_database(source, customers=50, orders=200)
    stop = threading.Event()

    def app_writes() -> None:
        with closing(sqlite3.connect(source, timeout=30)) as db:
            n = 100_000
            while not stop.is_set():
                with db:
                    db.execute(
                        "insert into orders values (?, 1, 'paid', 100, ?, ?)",
                        (n, "2026-01-01T00:00:00", "2026-01-01T00:00:00"),
                    )
                    db.execute("insert into order_items values (?, ?, 1, 1)", (n, n))
                n += 1

    writer = threading.Thread(target=app_writes)
    writer.start()
    try:
        manifests = [create_backup(str(source), tmp_path / "b") for _ in range(3)]
    finally:
        stop.set()
        writer.join()

    for manifest in manifests:
        added_orders = manifest.tables["orders"] - 200
        with closing(sqlite3.connect(source)) as db:
            items_before = db.execute(
                "select count(*) from order_items where id < 100000"
            ).fetchone()[0]
        assert manifest.tables["order_items"] - items_before == added_orders


def test_a_target_equal_to_the_source_is_refused(demo: Demo) -> None:
    before = sha256_of(demo.database)

    with pytest.raises(UnsafeTargetError, match="is the source database"):
        SqliteEngine().plan_target(demo.manifest, RestoreOptions(str(demo.database)))
    assert sha256_of(demo.database) == before


def test_an_existing_target_is_never_overwritten(demo: Demo, tmp_path: Path) -> None:
    existing = tmp_path / "copy.sqlite"
    existing.write_bytes(b"keep me")

    with pytest.raises(UnsafeTargetError, match="already exists"):
        SqliteEngine().plan_target(demo.manifest, RestoreOptions(str(existing)))
    assert existing.read_bytes() == b"keep me"


def test_a_source_that_is_not_sqlite_is_named(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database " * 100)

    with pytest.raises(InputError, match=r"notes.txt: not a SQLite database"):
        create_backup(str(text), tmp_path / "b")
    with pytest.raises(InputError, match=r"absent.db: no such SQLite database"):
        create_backup(str(tmp_path / "absent.db"), tmp_path / "b")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("select max(nope) from orders", "failed: no such column"),
        ("select null", "returned no value"),
        ("select 'yesterday'", "must return one timestamp"),
    ],
)
def test_a_bad_freshness_query_is_named(
    tmp_path: Path, query: str, message: str
) -> None:
    source = tmp_path / "app.sqlite"
    create_demo_database(source, customers=5, orders=5)

    with pytest.raises(InputError, match=f"freshness_query: .*{message}"):
        create_backup(str(source), tmp_path / "b", freshness_query=query)


@pytest.mark.parametrize(
    "value", ["2026-12-03T09:30:00", "2026-12-03 09:30:00", "2026-12-03T09:30:00+00:00"]
)
def test_freshness_values_are_read_as_utc(value: str) -> None:
    moment = parse_data_time(value, "q")

    assert moment.isoformat() == "2026-12-03T09:30:00+00:00"
    assert parse_data_time(moment.timestamp(), "q") == moment


def test_sql_checks_compare_with_expected_values(demo: Demo, tmp_path: Path) -> None:
    target = restore(demo, tmp_path)
    options = RestoreOptions(
        sql_checks={
            "products priced": {"sql": "select count(*) from products", "expected": 60},
            "no free orders": {
                "sql": "select count(*) = 0 from orders where total_cents <= 0",
                "expected": 1,
            },
            "wrong on purpose": {
                "sql": "select count(*) from customers",
                "expected": 7,
            },
            "broken sql": {"sql": "select nope from nowhere", "expected": 1},
        }
    )

    checks = SqliteEngine().validate(demo.manifest, target, options).checks

    by_name = {c.name: c for c in checks if c.name.startswith("sql:")}
    assert by_name["sql:products priced"].status is CheckStatus.PASSED
    assert by_name["sql:no free orders"].status is CheckStatus.PASSED
    assert (
        by_name["sql:wrong on purpose"].status,
        by_name["sql:wrong on purpose"].actual,
    ) == (
        CheckStatus.FAILED,
        400,
    )
    assert "no such table: nowhere" in by_name["sql:broken sql"].detail


def test_a_renamed_component_is_refused(demo: Demo, tmp_path: Path) -> None:
    folder = demo.backup_store / demo.manifest.backup_id
    (folder / "database.sqlite.gz").rename(folder / "db.gz")
    document = json.loads((folder / "manifest.json").read_text())
    document["components"][0]["key"] = "db.gz"
    (folder / "manifest.json").write_text(json.dumps(document))

    result = run_drill(service="shop", backup_store=str(demo.backup_store))

    assert result.status.value == "failed"
    assert "no component 'database.sqlite.gz'" in result.record.reason
