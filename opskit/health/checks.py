"""The kinds of health check: HTTP, TCP, PostgreSQL, SQLite, a command and a
Python function, each a frozen dataclass validated by pydantic (so a checks
file is checked field by field, and positional arguments work in Python)."""

from __future__ import annotations

import importlib
import math
import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable
from contextlib import closing, suppress
from dataclasses import field
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import psycopg
import requests
from psycopg.conninfo import conninfo_to_dict
from pydantic import ConfigDict, Field, field_validator
from pydantic.dataclasses import dataclass as checked_dataclass

from opskit.health.interface import (
    HealthCheck,
    HealthStatus,
    Outcome,
    os_reason,
    shorten,
)
from opskit.masking import MASK, mask_text

MAX_BODY_BYTES = 1024 * 1024
MAX_SECONDS = 3600.0
"""The longest timeout (and ``degraded_after``) a check may have, in seconds."""
_CONFIG = ConfigDict(extra="forbid")


@checked_dataclass(frozen=True, config=_CONFIG)
class HttpCheck(HealthCheck):
    """A GET of ``url`` that answers one of ``expect_status``, with
    ``body_contains`` in its first MiB, within ``degraded_after`` seconds.

    Requests go straight to the endpoint: proxy variables and ``~/.netrc`` are
    ignored (a proxy would be measured instead), ``REQUESTS_CA_BUNDLE`` is read.
    """

    kind: ClassVar[str] = "http"
    name: str
    url: str
    expect_status: int | list[int] = 200
    body_contains: str = ""
    degraded_after: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeout: float = Field(default=5.0, gt=0, le=MAX_SECONDS)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{value!r} is not an http(s) URL with a host; "
                "write it as https://host/path"
            )
        return value

    def probe(self) -> Outcome:
        """GET the URL and judge status, body and latency."""
        started = time.monotonic()
        try:
            code, body = self._get(started + self.timeout)
        except requests.Timeout:
            return HealthStatus.UNHEALTHY, f"no answer within {self.timeout:g} s"
        except requests.ConnectionError as exc:
            return HealthStatus.UNHEALTHY, f"cannot connect: {os_reason(exc)}"
        elapsed = time.monotonic() - started

        expected = _as_list(self.expect_status)
        if code not in expected:
            wanted = " or ".join(str(e) for e in expected)
            return HealthStatus.UNHEALTHY, f"HTTP {code}, expected {wanted}"
        if self.body_contains and self.body_contains not in body:
            return HealthStatus.UNHEALTHY, f"HTTP {code}, no {self.body_contains!r}"
        if self.degraded_after is not None and elapsed > self.degraded_after:
            slow = f"slower than {self.degraded_after:g} s"
            return HealthStatus.DEGRADED, f"HTTP {code} in {elapsed:.2f} s, {slow}"
        return HealthStatus.HEALTHY, f"HTTP {code} in {elapsed:.3f} s"

    def _get(self, deadline: float) -> tuple[int, str]:
        with requests.Session() as session:
            session.trust_env = False
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or True
            response = session.get(
                self.url, headers=self.headers, timeout=self.timeout, stream=True
            )
            with response:
                chunks, size = [], 0
                for chunk in response.iter_content(65536):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= MAX_BODY_BYTES or time.monotonic() > deadline:
                        break
            body = b"".join(chunks).decode(response.encoding or "utf-8", "replace")
            return response.status_code, body


@checked_dataclass(frozen=True, config=_CONFIG)
class TcpCheck(HealthCheck):
    """A TCP connection to ``host``:``port`` that opens."""

    kind: ClassVar[str] = "tcp"
    name: str
    host: str
    port: int = Field(ge=1, le=65535)
    timeout: float = Field(default=5.0, gt=0, le=MAX_SECONDS)

    def probe(self) -> Outcome:
        """Connect and close at once."""
        target = f"{self.host}:{self.port}"
        try:
            with socket.create_connection((self.host, self.port), self.timeout):
                return HealthStatus.HEALTHY, f"connected to {target}"
        except TimeoutError:
            return HealthStatus.UNHEALTHY, f"no answer within {self.timeout:g} s"
        except OSError as exc:
            return (
                HealthStatus.UNHEALTHY,
                f"cannot connect to {target}: {os_reason(exc)}",
            )


@checked_dataclass(frozen=True, config=_CONFIG)
class PostgresCheck(HealthCheck):
    """``SELECT 1`` on a new connection to ``dsn``; the password never shows
    in the detail or the repr."""

    kind: ClassVar[str] = "postgres"
    name: str
    dsn: str = field(repr=False)
    timeout: float = Field(default=5.0, gt=0, le=MAX_SECONDS)

    def probe(self) -> Outcome:
        """Connect (libpq's ``connect_timeout`` is whole seconds, at least 2)."""
        try:
            password = conninfo_to_dict(self.dsn).get("password")
        except psycopg.Error:
            return HealthStatus.UNHEALTHY, "dsn: not a PostgreSQL connection string"
        wait = max(2, math.ceil(self.timeout))
        try:
            with psycopg.connect(self.dsn, connect_timeout=wait) as connection:
                connection.execute("SELECT 1")
                version = connection.info.server_version
        except psycopg.Error as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            text = mask_text(lines[0] if lines else type(exc).__name__)
            if password:
                text = text.replace(str(password), MASK)
            return HealthStatus.UNHEALTHY, text
        major, minor = divmod(version, 10000)
        return HealthStatus.HEALTHY, f"SELECT 1 answered by PostgreSQL {major}.{minor}"


@checked_dataclass(frozen=True, config=_CONFIG)
class SqliteCheck(HealthCheck):
    """A read-only query of the SQLite file at ``path``; a missing file is
    unhealthy and is never created."""

    kind: ClassVar[str] = "sqlite"
    name: str
    path: Path
    timeout: float = Field(default=5.0, gt=0, le=MAX_SECONDS)

    def probe(self) -> Outcome:
        """Open with ``mode=ro`` and count the tables (which reads the header)."""
        if not self.path.is_file():
            return HealthStatus.UNHEALTHY, f"{self.path}: no such file"
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            with closing(sqlite3.connect(uri, uri=True, timeout=self.timeout)) as db:
                query = "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                tables = db.execute(query).fetchone()[0]
        except sqlite3.Error as exc:
            return HealthStatus.UNHEALTHY, f"{self.path}: {exc}"
        return HealthStatus.HEALTHY, f"read-only SELECT answered; {tables} tables"


@checked_dataclass(frozen=True, config=_CONFIG)
class CommandCheck(HealthCheck):
    """A program run from an argument list (never a shell string) that exits
    with ``expect_exit``; its process group is killed at the timeout."""

    kind: ClassVar[str] = "command"
    name: str
    command: list[str] = Field(min_length=1)
    expect_exit: int = 0
    timeout: float = Field(default=5.0, gt=0, le=MAX_SECONDS)

    def probe(self) -> Outcome:
        """Run the command; the detail ends with the last line it printed."""
        try:
            process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            return HealthStatus.UNHEALTHY, f"cannot start {self.command[0]}: {exc}"
        with process:
            try:
                output, _ = process.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                return HealthStatus.UNHEALTHY, f"killed after {self.timeout:g} s"

        lines = output.decode(errors="replace").strip().splitlines()
        said = f": {shorten(lines[-1])}" if lines else ""
        if process.returncode != self.expect_exit:
            wanted = f", expected {self.expect_exit}"
            return HealthStatus.UNHEALTHY, f"exit {process.returncode}{wanted}{said}"
        return HealthStatus.HEALTHY, f"exit {process.returncode}{said}"


@checked_dataclass(frozen=True, config=_CONFIG)
class CallableCheck(HealthCheck):
    """A Python function, or its dotted path (``pkg.mod:func`` or
    ``pkg.mod.func``, imported when the check is made), that returns a bool,
    a ``HealthStatus`` or ``(status, detail)``; raising is unhealthy.

    A function that never returns is abandoned by ``run_checks`` at its
    timeout but keeps its thread; ``run()`` alone waits for it.
    """

    kind: ClassVar[str] = "python"
    name: str
    target: str | Callable[[], object]
    timeout: float = Field(default=5.0, gt=0, le=MAX_SECONDS)

    @field_validator("target")
    @classmethod
    def _import(cls, value: str | Callable[[], object]) -> Callable[[], object]:
        return _resolve(value) if isinstance(value, str) else value

    def probe(self) -> Outcome:
        """Call the function and read its answer."""
        target = _resolve(self.target) if isinstance(self.target, str) else self.target
        answer = target()
        if isinstance(answer, tuple) and len(answer) == 2:
            status = _as_status(answer[0])
            if status is not None:
                return status, str(answer[1])
        status = _as_status(answer)
        if status is None:
            return HealthStatus.UNHEALTHY, (
                f"returned {shorten(repr(answer))}; "
                "return a bool, a HealthStatus or (status, detail)"
            )
        return status, f"returned {answer if isinstance(answer, bool) else status}"


KINDS: dict[str, type[HealthCheck]] = {
    kind.kind: kind
    for kind in (
        HttpCheck,
        TcpCheck,
        PostgresCheck,
        SqliteCheck,
        CommandCheck,
        CallableCheck,
    )
}


def _resolve(target: str) -> Callable[[], object]:
    """Import ``pkg.mod:func`` or ``pkg.mod.func``."""
    module, _, attribute = (
        target.rpartition(":") if ":" in target else target.rpartition(".")
    )
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(
            f"cannot import {target!r} ({exc}); write 'package.module:function'"
        ) from exc
    if not callable(found):
        raise ValueError(f"{target!r} is not callable")
    return found  # type: ignore[no-any-return]


def _as_status(value: object) -> HealthStatus | None:
    if isinstance(value, bool):
        return HealthStatus.HEALTHY if value else HealthStatus.UNHEALTHY
    if isinstance(value, str) and value in {s.value for s in HealthStatus}:
        return HealthStatus(value)
    return None


def _as_list(expected: int | list[int]) -> list[int]:
    return [expected] if isinstance(expected, int) else expected
