"""The SQLite engine: online backups with SQLite's backup API, gzip-compressed.

The source is opened read-only, and the copy is consistent even while the
application writes, because the backup API copies a single snapshot.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import sqlite3
import tempfile
import zlib
from contextlib import closing
from datetime import datetime
from pathlib import Path

from opskit.backups.engine import (
    BackupOutput,
    BackupRequest,
    ComponentSink,
    Engine,
    RestoreOptions,
    Validation,
    first_missing_folder,
    freshness_check,
    read_freshness,
    register_engine,
    require_components,
    row_count_checks,
    sql_checks,
)
from opskit.backups.manifest import Manifest
from opskit.errors import InputError, RestoreFailed, StorageError, UnsafeTargetError
from opskit.records import Check, CheckStatus

logger = logging.getLogger(__name__)

COMPONENT = "database.sqlite.gz"
_SUFFIXES = (".db", ".sqlite", ".sqlite3")


@register_engine
class SqliteEngine(Engine):
    """Backs up and restores one SQLite database file."""

    name = "sqlite"

    def __init__(self) -> None:
        self._made_scratch: Path | None = None

    def backup(
        self, request: BackupRequest, sink: ComponentSink, workdir: Path
    ) -> BackupOutput:
        """Copy the source with the backup API, count rows, compress the copy."""
        path = Path(request.source).expanduser().resolve()
        copy = workdir / "database.sqlite"
        with (
            closing(_connect_readonly(path, "source")) as src,
            closing(sqlite3.connect(copy)) as dst,
        ):
            src.backup(dst)

        with closing(_connect_readonly(copy, "backup copy")) as db:
            tables = _count_rows(db)
            if not tables:
                raise InputError(
                    f"source {path}: the database holds no tables; check that this "
                    "is the application's database file"
                )
            query = request.freshness_query
            newest = _freshness(db, query) if query else None
            version = db.execute("select sqlite_version()").fetchone()[0]

        packed = workdir / COMPONENT
        level = 6 if request.compression is None else request.compression
        with (
            copy.open("rb") as raw,
            gzip.open(packed, "wb", compresslevel=level) as out,
        ):
            shutil.copyfileobj(raw, out, 1024 * 1024)
        copy.unlink()
        return BackupOutput(
            components=[sink.put_file(COMPONENT, packed)],
            source=str(path),
            tables=tables,
            newest_data_at=newest,
            engine_info={"sqlite_version": version, "compression": "gzip"},
        )

    def plan_target(self, manifest: Manifest, options: RestoreOptions) -> str:
        """Restore to ``scratch`` if it names a ``.db``/``.sqlite`` file, else to
        ``<scratch>/<backup_id>.sqlite``; an empty scratch is a new temporary
        folder. Never the source, never an existing file."""
        if options.scratch:
            scratch = Path(options.scratch).expanduser().resolve()
        else:
            scratch = self._made_scratch = Path(
                tempfile.mkdtemp(prefix="opskit-scratch-")
            )
        target = (
            scratch
            if scratch.suffix in _SUFFIXES
            else scratch / f"{manifest.backup_id}.sqlite"
        )

        _refuse_unsafe(scratch, target, Path(manifest.source))
        if self._made_scratch is None:
            self._made_scratch = first_missing_folder(target.parent)
        return str(target)

    def restore(
        self,
        manifest: Manifest,
        files: dict[str, Path],
        target: str,
        options: RestoreOptions,
    ) -> None:
        """Decompress the backup into ``target``, a new file."""
        require_components(manifest, COMPONENT)
        path = Path(target)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with gzip.open(files[COMPONENT], "rb") as packed, path.open("xb") as out:
                shutil.copyfileobj(packed, out, 1024 * 1024)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            path.unlink(missing_ok=True)
            raise RestoreFailed(
                f"{COMPONENT}: cannot decompress ({exc}); the backup is damaged"
            ) from exc
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise StorageError(
                f"scratch: cannot write {path} ({exc.strerror}); free some space or "
                "choose another scratch location"
            ) from exc

    def validate(
        self, manifest: Manifest, target: str, options: RestoreOptions
    ) -> Validation:
        """Check integrity, compare row counts, run freshness and SQL checks."""
        try:
            db = _connect_readonly(Path(target), "restored copy")
        except InputError as exc:
            unreadable = Check(
                name="integrity_check",
                status=CheckStatus.FAILED,
                expected="ok",
                actual="not a SQLite database",
                detail=str(exc),
            )
            return Validation(checks=[unreadable])
        with closing(db):
            checks = [_integrity(db)]
            intact = checks[0].status is CheckStatus.PASSED
            checks += row_count_checks(
                manifest.tables, _count_rows(db) if intact else {}
            )
            newest = None
            if options.freshness_query:
                newest = _freshness(db, options.freshness_query)
                checks.append(freshness_check(manifest, newest))
            checks += sql_checks(options.sql_checks, lambda sql: _first(db, sql))
        return Validation(
            checks=checks,
            newest_data_at=newest,
            restored_bytes=Path(target).stat().st_size,
        )

    def discard(self, target: str) -> None:
        """Delete the restored file, its journals, and the folders the drill made."""
        for suffix in ("", "-wal", "-shm", "-journal") if target else ():
            Path(target + suffix).unlink(missing_ok=True)
        if self._made_scratch is not None:
            shutil.rmtree(self._made_scratch, ignore_errors=True)


def _refuse_unsafe(scratch: Path, target: Path, source: Path) -> None:
    """Refuse the source, the files SQLite keeps beside it, and existing files."""
    beside = {
        source.with_name(source.name + end) for end in ("-journal", "-wal", "-shm")
    }
    if target == source or (
        source.exists() and target.exists() and target.samefile(source)
    ):
        raise UnsafeTargetError(
            f"scratch: {target} is the source database of this backup; "
            "choose a scratch location elsewhere"
        )
    if scratch in beside or target in beside:
        raise UnsafeTargetError(
            f"scratch: {scratch} is a name SQLite uses beside the source database; "
            "choose a scratch location elsewhere"
        )
    if scratch.exists() and not scratch.is_dir() and scratch != target:
        raise UnsafeTargetError(
            f"scratch: {scratch} is a file, not a folder; give a folder or a new "
            ".sqlite file name"
        )
    if target.exists():
        raise UnsafeTargetError(
            f"scratch: {target} already exists and a drill never overwrites a "
            "file; choose an empty scratch location"
        )


def _connect_readonly(path: Path, what: str) -> sqlite3.Connection:
    if not path.is_file():
        raise InputError(f"{what} {path}: no such SQLite database file; check the path")
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InputError(f"{what} {path}: cannot be opened ({exc})") from exc
    try:
        db.execute("select count(*) from sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        db.close()
        reason = (
            "cannot be read"
            if "unable to open" in str(exc)
            else "not a SQLite database"
        )
        raise InputError(f"{what} {path}: {reason} ({exc})") from exc
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


def _first(db: sqlite3.Connection, sql: str) -> object:
    row = db.execute(sql).fetchone()
    return row[0] if row else None


def _freshness(db: sqlite3.Connection, query: str) -> datetime:
    return read_freshness(query, lambda sql: _first(db, sql), sqlite3.Error)


def _integrity(db: sqlite3.Connection) -> Check:
    try:
        result = ", ".join(row[0] for row in db.execute("PRAGMA integrity_check"))
    except sqlite3.DatabaseError as exc:
        result = str(exc)
    status = CheckStatus.PASSED if result == "ok" else CheckStatus.FAILED
    return Check(name="integrity_check", status=status, expected="ok", actual=result)
