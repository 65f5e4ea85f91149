"""Fixtures shared by the tests."""

from __future__ import annotations

import logging
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from opskit.cli import main
from opskit.demo import Demo, prepare_demo
from tests.helpers import Invoke, Outcome
from tests.servers import MotoServer, PostgresServer

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_NOTEBOOKS = ROOT / "tests" / "fixtures" / "notebooks"


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    """A fresh demo shop database with one backup of it."""
    return prepare_demo(tmp_path / "demo")


@pytest.fixture
def opskit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Invoke]:
    """Run ``opskit ARGS...`` as the console script does; return its outcome."""
    monkeypatch.setenv("COLUMNS", "1000")  # keep rich from wrapping messages
    package = logging.getLogger("opskit")
    monkeypatch.setattr(package, "handlers", list(package.handlers))
    level = package.level
    sigterm = signal.getsignal(signal.SIGTERM)

    def invoke(*args: str) -> Outcome:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["opskit", *args])
        try:
            main()
        except SystemExit as exc:
            code = exc.code
        else:
            code = 0
        captured = capsys.readouterr()
        return Outcome(int(code or 0), captured.out, captured.err)

    yield invoke
    package.setLevel(level)
    signal.signal(signal.SIGTERM, sigterm)


@pytest.fixture
def record_store(tmp_path: Path) -> Path:
    """An empty record store folder."""
    store = tmp_path / "records"
    store.mkdir()
    return store


@pytest.fixture
def chdir_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run the test from an empty working folder."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One S3-protocol server (moto) for the session, on loopback."""
    server = MotoServer().start(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 (and kernels started by tests) at the test S3 server."""
    monkeypatch.setenv("OPSKIT_S3_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "opskit-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "opskit-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("OPSKIT_S3_MAX_ATTEMPTS", "2")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return s3_server.endpoint


@pytest.fixture
def s3_bucket(s3_env: str) -> str:
    """A new empty bucket on the test S3 server; returns its name."""
    name = f"opskit-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_env).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session, from this machine's binaries."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def pgbench_db(postgres: PostgresServer) -> str:
    """A new database filled by ``pgbench -i``; returns its DSN."""
    name = f"shop_{uuid.uuid4().hex[:10]}"
    postgres.pgbench_init(name)
    return postgres.url(name)
