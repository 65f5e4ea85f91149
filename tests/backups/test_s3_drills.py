"""Drills from an S3-protocol server on loopback, including the server going
away in the middle of a download."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import boto3
import pytest

from opskit.backups.drill import run_drill
from opskit.backups.store import create_backup
from opskit.demo import Demo
from opskit.records import RecordStatus
from tests.servers import MotoServer

pytestmark = pytest.mark.integration


def test_a_sqlite_drill_from_s3_passes(demo: Demo, s3_bucket: str) -> None:
    store = f"s3://{s3_bucket}/shop"
    create_backup(str(demo.database), store, freshness_query=demo.freshness_query)

    result = run_drill(service="shop", backup_store=store, tier="critical")

    assert result.status is RecordStatus.PASSED, result.record.reason
    assert result.record.details["backup"]["engine"] == "sqlite"


def test_a_missing_object_fails_the_drill(
    demo: Demo, s3_bucket: str, s3_env: str
) -> None:
    store = f"s3://{s3_bucket}/shop"
    manifest = create_backup(str(demo.database), store)
    key = f"shop/{manifest.backup_id}/database.sqlite.gz"
    boto3.client("s3", endpoint_url=s3_env).delete_object(Bucket=s3_bucket, Key=key)

    result = run_drill(service="shop", backup_store=store)

    assert result.status is RecordStatus.FAILED
    assert f"s3://{s3_bucket}/{key}: component named in the manifest is missing" in (
        result.record.reason
    )


def test_a_replaced_object_fails_its_checksum(
    demo: Demo, s3_bucket: str, s3_env: str
) -> None:
    store = f"s3://{s3_bucket}/shop"
    manifest = create_backup(str(demo.database), store)
    key = f"shop/{manifest.backup_id}/database.sqlite.gz"
    client = boto3.client("s3", endpoint_url=s3_env)
    body = bytearray(client.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    body[100] ^= 0xFF
    client.put_object(Bucket=s3_bucket, Key=key, Body=bytes(body))

    result = run_drill(service="shop", backup_store=store)

    assert result.status is RecordStatus.FAILED
    assert "sha256" in result.record.reason and "does not match" in result.record.reason


def test_the_server_stopping_mid_download_is_an_error_after_retries(
    tmp_path: Path, s3_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = MotoServer().start(tmp_path / "moto.log")
    try:
        monkeypatch.setenv("OPSKIT_S3_ENDPOINT_URL", server.endpoint)
        boto3.client("s3", endpoint_url=server.endpoint).create_bucket(Bucket="big")
        files = tmp_path / "files"
        files.mkdir()
        (files / "blob.bin").write_bytes(os.urandom(96 * 1024 * 1024))
        create_backup(str(files), "s3://big/files", engine="directory", compression=0)
        work = tmp_path / "work"
        work.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(work))

        stopper = threading.Thread(
            target=stop_when_download_starts, args=(server, work)
        )
        stopper.start()
        result = run_drill(service="files", backup_store="s3://big/files")
        stopper.join()
    finally:
        server.stop()

    assert result.status is RecordStatus.ERROR
    assert "s3://big/files/" in result.record.reason
    assert "after retries" in result.record.reason
    download = next(p for p in result.record.phases if p.name == "download")
    assert download.status.value == "error"


def stop_when_download_starts(server: MotoServer, work: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partial = [p for p in work.glob("opskit-drill-*/c0") if p.stat().st_size > 0]
        if partial:
            break
        time.sleep(0.005)
    server.stop()
