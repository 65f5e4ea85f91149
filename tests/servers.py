"""Real servers for tests, started from this machine's programs on loopback and
stopped by their process id."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: object, what: str, timeout: float = 30.0) -> None:
    """Poll ``check()`` until it is true, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {timeout} s")


@dataclass
class MotoServer:
    """moto's S3-protocol server in its own process on a free loopback port."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log: Path) -> MotoServer:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1"]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, "-p", str(self.port)], stdout=out, stderr=out
            )
        wait_for(self._answers, f"moto server on port {self.port}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)

    def _answers(self) -> bool:
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1) as reply:
            return bool(reply.status == 200)


def postgres_bindir() -> Path:
    """The folder holding initdb and postgres (not on PATH on Debian)."""
    try:
        found = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (Path(found) / "initdb").exists():
            return Path(found)
    except (OSError, subprocess.CalledProcessError):
        pass
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server programs not found; install the postgresql package"
        )
    return candidates[-1].parent


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on a free loopback port.

    As root, initdb and the server run as the unprivileged ``postgres`` user,
    because PostgreSQL refuses to run as root; the data folder belongs to it.
    """

    port: int = field(default_factory=free_port)
    folder: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="opskit-pg-"))
    )
    process: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresServer:
        bindir = postgres_bindir()
        data, sockets = self.folder / "data", self.folder / "sockets"
        sockets.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            shutil.chown(sockets, "postgres", "postgres")
        self._run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                   "-A", "trust", "-E", "UTF8", "--no-sync"])  # fmt: skip
        server = [str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1",
                  "-p", str(self.port), "-k", str(sockets), "-c", "fsync=off",
                  "-c", "full_page_writes=off"]  # fmt: skip
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                self._as_postgres(server), stdout=log, stderr=log
            )
        wait_for(self._answers, f"PostgreSQL on port {self.port}")
        return self

    def stop(self) -> None:
        """Fast shutdown of the postmaster by its process id, then remove the data."""
        pid_file = self.folder / "data" / "postmaster.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
        if self.process is not None:
            self.process.wait(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with psql and return its unaligned output."""
        command = ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]
        done = subprocess.run(
            [*command, self.url(database)], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def pgbench_init(self, database: str, scale: int = 1) -> None:
        """Create ``database`` and fill it with pgbench's tables."""
        self.psql(f'create database "{database}"')
        subprocess.run(
            ["pgbench", "-i", "-q", "-s", str(scale), self.url(database)],
            capture_output=True, check=True,
        )  # fmt: skip

    def _as_postgres(self, command: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *command]
        return command

    def _run(self, command: list[str]) -> None:
        subprocess.run(self._as_postgres(command), capture_output=True, check=True)

    def _answers(self) -> bool:
        done = subprocess.run(
            ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True,
        )
        return done.returncode == 0
