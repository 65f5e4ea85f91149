"""The SQLite engine: online backups with SQLite's backup API, gzip-compressed.

The source is opened read-only, and the copy is consistent even while the
application writes, because the backup API copies a single snapshot.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

from opskit.backups.engine import (
    BackupOutput,
    Engine,
    Validation,
    parse_data_time,
    register_engine,
)
from opskit.backups.manifest import Manifest
from opskit.errors import InputError, UnsafeTargetError
from opskit.records import Check, CheckStatus

logger = logging.getLogger(__name__)

COMPONENT = "database.sqlite.gz"


@register_engine
class SqliteEngine(Engine):
    """Backs up and restores one SQLite database file."""

    name = "sqlite"

    def backup(
        self, source: str, workdir: Path, freshness_query: str = ""
    ) -> BackupOutput:
        """Copy ``source`` with the backup API, count rows and compress the copy."""
        path = Path(source).expanduser().resolve()
        copy = workdir / "database.sqlite"
        with (
            closing(_connect_readonly(path, "source")) as src,
            closing(sqlite3.connect(copy)) as dst,
        ):
            src.backup(dst)

        with closing(_connect_readonly(copy, "backup copy")) as db:
            tables = _count_rows(db)
            newest = _freshness(db, freshness_query) if freshness_query else None
            version = db.execute("select sqlite_version()").fetchone()[0]

        packed = workdir / COMPONENT
        with copy.open("rb") as raw, gzip.open(packed, "wb", compresslevel=6) as out:
            shutil.copyfileobj(raw, out, 1024 * 1024)
        copy.unlink()
        logger.info(
            "sqlite backup of %s: %d tables, %d rows",
            path,
            len(tables),
            sum(tables.values()),
        )
        return BackupOutput(
            files={COMPONENT: packed},
            source=str(path),
            tables=tables,
            newest_data_at=newest,
            engine_info={"sqlite_version": version, "compression": "gzip"},
        )

    def plan_target(self, manifest: Manifest, scratch: Path) -> str:
        """Restore to ``scratch`` itself if it names a ``.db``/``.sqlite`` file,
        else to ``<scratch>/<backup_id>.sqlite``; never to the source."""
        target = (
            scratch
            if scratch.suffix in (".db", ".sqlite", ".sqlite3")
            else scratch / f"{manifest.backup_id}.sqlite"
        )
        target = target.expanduser().resolve()
        source = Path(manifest.source)
        if target == source or (
            source.exists() and target.exists() and target.samefile(source)
        ):
            raise UnsafeTargetError(
                f"scratch: {target} is the source database of this backup; "
                "choose a scratch location elsewhere"
            )
        if target.exists():
            raise UnsafeTargetError(
                f"scratch: {target} already exists and a drill never overwrites a "
                "file; choose an empty scratch location"
            )
        return str(target)

    def restore(self, manifest: Manifest, files: dict[str, Path], target: str) -> None:
        """Decompress the backup into ``target``, a new file."""
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with gzip.open(files[COMPONENT], "rb") as packed, path.open("xb") as out:
                shutil.copyfileobj(packed, out, 1024 * 1024)
        except (OSError, EOFError) as exc:
            path.unlink(missing_ok=True)
            raise InputError(
                f"{COMPONENT}: cannot decompress ({exc}); the backup is damaged"
            ) from exc

    def validate(
        self, manifest: Manifest, target: str, freshness_query: str = ""
    ) -> Validation:
        """Check integrity, compare row counts and run the freshness query."""
        with closing(_connect_readonly(Path(target), "restored copy")) as db:
            checks = [_integrity(db)]
            counts = _count_rows(db) if checks[0].status is CheckStatus.PASSED else {}
            checks += [
                _row_check(table, rows, counts.get(table))
                for table, rows in sorted(manifest.tables.items())
            ]
            newest = None
            if freshness_query:
                newest = _freshness(db, freshness_query)
                checks.append(_freshness_check(manifest, newest))
        return Validation(
            checks=checks,
            newest_data_at=newest,
            restored_bytes=Path(target).stat().st_size,
        )

    def discard(self, target: str) -> None:
        """Delete the restored file and its journal files."""
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(target + suffix).unlink(missing_ok=True)


def _connect_readonly(path: Path, what: str) -> sqlite3.Connection:
    if not path.is_file():
        raise InputError(f"{what} {path}: no such SQLite database file; check the path")
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        db.execute("select count(*) from sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        db.close()
        raise InputError(f"{what} {path}: not a SQLite database ({exc})") from exc
    return db


def _count_rows(db: sqlite3.Connection) -> dict[str, int]:
    names = [
        row[0]
        for row in db.execute(
            "select name from sqlite_master where type = 'table' "
            "and name not like 'sqlite_%' order by name"
        )
    ]
    return {
        name: db.execute(f'select count(*) from "{name}"').fetchone()[0]
        for name in names
    }


def _freshness(db: sqlite3.Connection, query: str) -> datetime:
    try:
        row = db.execute(query).fetchone()
    except sqlite3.Error as exc:
        raise InputError(
            f"freshness_query: {query!r} failed: {exc}; fix the SQL"
        ) from exc
    if not row or row[0] is None:
        raise InputError(
            f"freshness_query: {query!r} returned no value; "
            "it must return the newest data time"
        )
    return parse_data_time(row[0], query)


def _integrity(db: sqlite3.Connection) -> Check:
    try:
        result = ", ".join(row[0] for row in db.execute("PRAGMA integrity_check"))
    except sqlite3.DatabaseError as exc:
        result = str(exc)
    status = CheckStatus.PASSED if result == "ok" else CheckStatus.FAILED
    return Check(name="integrity_check", status=status, expected="ok", actual=result)


def _row_check(table: str, expected: int, actual: int | None) -> Check:
    status = CheckStatus.PASSED if actual == expected else CheckStatus.FAILED
    detail = "" if actual is not None else "table missing from the restored copy"
    return Check(
        name=f"rows:{table}",
        status=status,
        expected=expected,
        actual=actual,
        detail=detail,
    )


def _freshness_check(manifest: Manifest, newest: datetime) -> Check:
    found = newest.isoformat()
    if manifest.newest_data_at is None:
        return Check(
            name="freshness",
            status=CheckStatus.PASSED,
            actual=found,
            detail="no freshness time in the manifest to compare with",
        )
    expected = manifest.newest_data_at.isoformat()
    status = (
        CheckStatus.PASSED if newest == manifest.newest_data_at else CheckStatus.FAILED
    )
    return Check(name="freshness", status=status, expected=expected, actual=found)
