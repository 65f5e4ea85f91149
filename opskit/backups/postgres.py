"""The PostgreSQL engine: ``pg_dump -Fc`` streamed into the store, restored
with ``pg_restore`` into a newly created scratch database.

Row counts, the server's clock and the freshness query are read inside the
very snapshot pg_dump copies (``--snapshot``), so the manifest describes
exactly what the dump holds. Passwords travel in PGPASSWORD, never on a
command line.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from opskit.backups.engine import (
    BackupOutput,
    BackupRequest,
    ComponentSink,
    Engine,
    RestoreOptions,
    Validation,
    freshness_check,
    read_freshness,
    register_engine,
    require_components,
    row_count_checks,
    sql_checks,
)
from opskit.backups.manifest import Manifest
from opskit.errors import (
    InputError,
    OpskitError,
    ParameterError,
    RestoreFailed,
    UnreachableError,
    UnsafeTargetError,
)
from opskit.records import mask_text

logger = logging.getLogger(__name__)

COMPONENT = "database.dump"
MAINTENANCE_DB = "postgres"
_CHUNK = 1024 * 1024
_TABLES = """
    select n.nspname, c.relname from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p') and not c.relispartition
      and n.nspname not in ('pg_catalog', 'information_schema')
      and n.nspname not like 'pg_toast%'
    order by 1, 2
"""


@register_engine
class PostgresEngine(Engine):
    """Backs up and restores one PostgreSQL database."""

    name = "postgres"

    def __init__(self) -> None:
        self._created: tuple[str, str] | None = None

    def backup(
        self, request: BackupRequest, sink: ComponentSink, workdir: Path
    ) -> BackupOutput:
        """Dump the source inside one snapshot and stream the dump to ``sink``."""
        with _connect(request.source, "source") as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            snapshot = _scalar(conn, "select pg_export_snapshot()")
            taken_at = _scalar(conn, "select now()")
            tables = _count_rows(conn)
            newest = _freshness(conn, request.freshness_query)
            info = _server_info(conn)
            level = 6 if request.compression is None else request.compression
            component = _dump(request.source, str(snapshot), level, sink, workdir)
            conn.rollback()

        info |= {"format": "custom", "compression": level}
        return BackupOutput(
            components=[component],
            source=mask_text(request.source),
            tables=tables,
            newest_data_at=newest,
            taken_at=taken_at if isinstance(taken_at, datetime) else None,
            engine_info=info,
        )

    def plan_target(self, manifest: Manifest, options: RestoreOptions) -> str:
        """Create the scratch database named by the ``scratch`` DSN (or
        ``opskit_drill_<backup>`` when it names none) and return its DSN."""
        if not options.scratch:
            raise ParameterError(
                "parameter scratch: a PostgreSQL drill needs the DSN of a server to "
                "restore into, e.g. postgresql://user@scratch-host:5432/; the "
                "database it names is created fresh"
            )
        params = _conninfo(options.scratch, "scratch")
        database = params.get("dbname") or _scratch_name(manifest)
        maintenance = make_conninfo(**(params | {"dbname": MAINTENANCE_DB}))
        with _connect(maintenance, "scratch") as conn:
            conn.autocommit = True
            _refuse_source(manifest, conn, database)
            _create_database(conn, database)
        self._created = (maintenance, database)
        return make_conninfo(**(params | {"dbname": database}))

    def restore(
        self,
        manifest: Manifest,
        files: dict[str, Path],
        target: str,
        options: RestoreOptions,
    ) -> None:
        """Run ``pg_restore -j N`` on the downloaded dump."""
        require_components(manifest, COMPONENT)
        command = [*_restore_command(target), "--jobs", str(options.jobs)]
        _run_restore([*command, str(files[COMPONENT])], target, stdin=None)

    def can_stream(self, manifest: Manifest, options: RestoreOptions) -> bool:
        """pg_restore reads a dump from its input only with one job."""
        return options.jobs == 1 and len(manifest.components) == 1

    def restore_stream(
        self, manifest: Manifest, stream: BinaryIO, target: str, options: RestoreOptions
    ) -> None:
        """Feed the dump to ``pg_restore`` as it downloads."""
        require_components(manifest, COMPONENT)
        _run_restore(_restore_command(target), target, stdin=stream)

    def validate(
        self, manifest: Manifest, target: str, options: RestoreOptions
    ) -> Validation:
        """Compare row counts, run the freshness query and the SQL checks."""
        with _connect(target, "scratch") as conn:
            conn.autocommit = True
            checks = row_count_checks(manifest.tables, _count_rows(conn))
            newest = _freshness(conn, options.freshness_query)
            if newest is not None:
                checks.append(freshness_check(manifest, newest))
            checks += sql_checks(options.sql_checks, lambda text: _scalar(conn, text))
            size = _scalar(conn, "select pg_database_size(current_database())")
        return Validation(
            checks=checks, newest_data_at=newest, restored_bytes=int(size)
        )

    def discard(self, target: str) -> None:
        """Drop the scratch database this drill created, and nothing else."""
        if self._created is None:
            return
        maintenance, database = self._created
        with _connect(maintenance, "scratch") as conn:
            conn.autocommit = True
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(
                    sql.Identifier(database)
                )
            )
        self._created = None
        logger.info("dropped scratch database %s", database)


def find_program(name: str) -> str:
    """Locate a PostgreSQL client program: PATH, then Debian's versioned folders."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if candidates:
        return str(candidates[-1])
    raise InputError(
        f"{name}: not found; install the PostgreSQL client programs "
        "(Debian: apt-get install postgresql-client)"
    )


@contextmanager
def _connect(dsn: str, role: str) -> Iterator[psycopg.Connection[Any]]:
    """Connect, translating failures into errors that name ``role``'s server."""
    try:
        conn = psycopg.connect(dsn, connect_timeout=10)
    except psycopg.ProgrammingError as exc:
        raise ParameterError(
            f"{role}: {mask_text(dsn)!r} is not a PostgreSQL DSN ({exc}); write "
            "postgresql://user@host:5432/database"
        ) from exc
    except psycopg.OperationalError as exc:
        where = mask_text(dsn)
        raise UnreachableError(
            f"{role}: cannot connect to PostgreSQL ({where}): "
            f"{str(exc).strip().splitlines()[-1]}; check the server is running "
            "and the DSN, user and password"
        ) from exc
    try:
        yield conn
    finally:
        conn.close()


def _conninfo(dsn: str, role: str) -> dict[str, Any]:
    try:
        return dict(conninfo_to_dict(dsn))
    except psycopg.ProgrammingError as exc:
        raise ParameterError(
            f"{role}: {mask_text(dsn)!r} is not a DSN ({exc})"
        ) from exc


def _scalar(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query.encode()).fetchone()
    return row[0] if row else None


def _count_rows(conn: psycopg.Connection[Any]) -> dict[str, int]:
    counts = {}
    for schema, table in conn.execute(_TABLES).fetchall():
        name = sql.Identifier(schema, table)
        row = conn.execute(sql.SQL("select count(*) from {}").format(name)).fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts


def _freshness(conn: psycopg.Connection[Any], query: str) -> datetime | None:
    if not query:
        return None
    return read_freshness(query, lambda sql: _scalar(conn, sql), psycopg.Error)


def _server_info(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    info = conn.info
    return {
        "server_version": str(_scalar(conn, "show server_version")),
        "database": info.dbname,
        "host": info.host,
        "port": info.port,
        "system_identifier": _system_identifier(conn),
    }


def _system_identifier(conn: psycopg.Connection[Any]) -> str | None:
    """The cluster's unique id, when this role may read it."""
    try:
        with conn.transaction():
            value = _scalar(conn, "select system_identifier from pg_control_system()")
    except psycopg.Error:
        return None
    return str(value)


def _password_env(dsn: str) -> tuple[str, dict[str, str]]:
    """Split the password out of ``dsn`` into the environment of a child."""
    params = _conninfo(dsn, "dsn")
    env = dict(os.environ)
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**params), env


def _dump(
    dsn: str, snapshot: str, level: int, sink: ComponentSink, workdir: Path
) -> Any:
    safe_dsn, env = _password_env(dsn)
    command = [
        find_program("pg_dump"),
        "--format=custom",
        f"--compress={level}",
        f"--snapshot={snapshot}",
        "--no-password",
        f"--dbname={safe_dsn}",
    ]
    errors = workdir / "pg_dump.err"
    with errors.open("wb") as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, env=env)
        assert process.stdout is not None
        try:
            with process.stdout as dump:
                component = sink.put_stream(COMPONENT, cast(BinaryIO, dump))
        except BaseException:
            process.kill()
            process.wait()
            raise
        code = process.wait()
    if code != 0:
        message = errors.read_text(errors="replace").strip().splitlines()[-1:]
        raise OpskitError(
            f"pg_dump of {mask_text(dsn)} failed (exit {code}): "
            f"{' '.join(message) or 'no message'}"
        )
    return component


def _restore_command(target: str) -> list[str]:
    safe_dsn, _ = _password_env(target)
    return [
        find_program("pg_restore"),
        "--exit-on-error",
        "--no-owner",
        "--no-privileges",
        "--no-password",
        f"--dbname={safe_dsn}",
    ]


def _run_restore(command: list[str], target: str, stdin: BinaryIO | None) -> None:
    _, env = _password_env(target)
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if stdin is not None else None,
            stderr=err,
            env=env,
        )
        if stdin is not None:
            _feed(process, stdin)
        code = process.wait()
        err.seek(0)
        message = err.read().decode(errors="replace").strip()
    if code != 0:
        last = message.splitlines()[-1] if message else "no message"
        raise RestoreFailed(
            f"pg_restore rejected the dump (exit {code}): {last}; the backup "
            "cannot be restored as it is"
        )


def _feed(process: subprocess.Popen[bytes], stream: BinaryIO) -> None:
    """Copy ``stream`` into pg_restore; if it stops early, drain the rest so
    the whole backup is still hashed and read."""
    assert process.stdin is not None
    _widen_pipe(process.stdin.fileno())
    try:
        while chunk := stream.read(_CHUNK):
            process.stdin.write(chunk)
    except BrokenPipeError:
        while stream.read(_CHUNK):
            pass
    finally:
        with suppress(BrokenPipeError):
            process.stdin.close()


def _widen_pipe(fd: int) -> None:
    """Give the pipe into pg_restore a 1 MiB buffer where Linux allows it, so
    the restore reads in large steps instead of 64 KiB ones."""
    with suppress(AttributeError, OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _CHUNK)


def _scratch_name(manifest: Manifest) -> str:
    stamp = manifest.backup_id.split("-")[-1]
    return f"opskit_drill_{manifest.backup_id[:15].lower()}_{stamp}"


def _addresses(host: str | None, port: int) -> set[str]:
    if not host or host.startswith("/"):
        return {f"unix:{host or ''}"}
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, port)}
    except OSError:
        return {host}


def _refuse_source(
    manifest: Manifest, conn: psycopg.Connection[Any], database: str
) -> None:
    """Refuse a scratch database that is the backup's source database."""
    source = manifest.engine_info
    if database != source.get("database"):
        return
    same_cluster = source.get("system_identifier") is not None and (
        _system_identifier(conn) == source.get("system_identifier")
    )
    port = int(conn.info.port)
    same_address = port == int(source.get("port") or 0) and bool(
        _addresses(conn.info.host, port) & _addresses(source.get("host"), port)
    )
    if same_cluster or same_address:
        raise UnsafeTargetError(
            f"scratch: database {database!r} on {conn.info.host}:{port} is the "
            "source of this backup; name another database in the scratch DSN"
        )


def _create_database(conn: psycopg.Connection[Any], database: str) -> None:
    exists = conn.execute(
        "select 1 from pg_database where datname = %s", (database,)
    ).fetchone()
    if exists:
        raise UnsafeTargetError(
            f"scratch: database {database!r} already exists on "
            f"{conn.info.host}:{conn.info.port}; a drill restores only into a new "
            "database, so drop it or name another"
        )
    try:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise InputError(
            f"scratch: role {conn.info.user!r} may not create databases on "
            f"{conn.info.host}:{conn.info.port}; grant it CREATEDB or use a role "
            "that has it"
        ) from exc
