"""Restore drill of a pgbench database from an S3-protocol server, against the
bare pipeline run by hand one step after another.

    .venv/bin/python -m benchmarks.restore_drill --scale 10 --scale 105

For each scale: fill a database with ``pgbench -i``, back it up uncompressed
(``-Z0``, so the bytes on the wire are real) into moto's S3 server on
loopback, then time
  - the bare pipeline: boto3 download, ``sha256sum``, ``createdb``,
    ``pg_restore -j 1``, one after another;
  - opskit's drill (``run_drill``) in a fresh process, with its peak RSS;
  - opskit's download plus verify alone, beside ``cp`` of the same file.
Results are printed as a table and written to benchmarks/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opskit.backups.store import BackupStore, create_backup  # noqa: E402
from tests.servers import MotoServer, PostgresServer  # noqa: E402

BUCKET = "bench"
# Peak memory is read from VmHWM: ru_maxrss also counts the parent's memory
# that a child inherits up to exec, which would inflate the figure.
CHILD = """
import json, sys, time
from opskit.backups.drill import run_drill
started = time.monotonic()
result = run_drill(service="bench", backup_store=sys.argv[1], scratch=sys.argv[2],
                   tier="critical", restore_jobs=int(sys.argv[3]))
print(json.dumps({
    "seconds": time.monotonic() - started,
    "status": result.status.value,
    "reason": result.record.reason,
    "peak_rss_mb": int([line.split()[1] for line in open("/proc/self/status")
                        if line.startswith("VmHWM")][0]) / 1024,
    "phases": {p.name: p.seconds for p in result.record.phases},
}))
"""


def timed(command: list[str], **kwargs: Any) -> float:
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, **kwargs)
    return time.monotonic() - started


def bare_pipeline(
    pg: PostgresServer, key: str, work: Path, endpoint: str
) -> dict[str, float]:
    """Download (both ways boto3 offers), sha256sum, createdb + pg_restore, cp."""
    dump = work / "dump"
    client = boto3.client("s3", endpoint_url=endpoint)
    started = time.monotonic()
    client.download_file(
        BUCKET, key, str(dump), Config=TransferConfig(max_concurrency=4)
    )
    ranged = time.monotonic() - started
    dump.unlink()
    started = time.monotonic()
    with dump.open("wb") as out:
        shutil.copyfileobj(
            client.get_object(Bucket=BUCKET, Key=key)["Body"], out, 1 << 20
        )
    single = time.monotonic() - started
    hashing = timed(["sha256sum", str(dump)])
    pg.psql('create database "bare_restore"')
    restore = timed(
        ["pg_restore", "--no-owner", "-j", "1", "-d", pg.url("bare_restore"), str(dump)]
    )
    pg.psql('drop database "bare_restore"')
    copy = timed(["cp", str(dump), str(work / "copy")])
    size = dump.stat().st_size
    for path in (dump, work / "copy"):
        path.unlink()
    download = min(ranged, single)
    return {
        "download_ranged": ranged,
        "download_single": single,
        "sha256sum": hashing,
        "pg_restore": restore,
        "total": download + hashing + restore,
        "cp_mb_per_s": size / 1e6 / copy,
    }


def opskit_drill(store: str, scratch: str, jobs: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, store, scratch, str(jobs)],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def download_verify(store: str, work: Path) -> float:
    backups = BackupStore.open(store)
    manifest = backups.find()
    started = time.monotonic()
    backups.verify(manifest, backups.download(manifest, work))
    seconds = time.monotonic() - started
    for path in work.iterdir():
        path.unlink()
    return manifest.size / 1e6 / seconds


def measure(
    pg: PostgresServer, endpoint: str, scale: int, work: Path
) -> dict[str, Any]:
    database = f"bench_{scale}"
    pg.pgbench_init(database, scale=scale)
    store = f"s3://{BUCKET}/scale{scale}"
    manifest = create_backup(pg.url(database), store, engine="postgres", compression=0)
    key = f"scale{scale}/{manifest.backup_id}/database.dump"

    bare = bare_pipeline(pg, key, work, endpoint)
    drill = opskit_drill(store, pg.url(f"drill_{scale}"), jobs=1)
    throughput = download_verify(store, work)
    pg.psql(f'drop database "{database}"')
    return {
        "scale": scale,
        "dump_mb": manifest.size / 1e6,
        "bare": bare,
        "drill": drill,
        "ratio": drill["seconds"] / bare["total"],
        "download_verify_mb_per_s": throughput,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, action="append", help="pgbench scale")
    scales = parser.parse_args().scale or [10, 105]

    with tempfile.TemporaryDirectory(prefix="opskit-bench-") as tmp:
        work = Path(tmp)
        moto = MotoServer().start(work / "moto.log")
        pg = PostgresServer().start()
        try:
            os.environ.update(
                {
                    "OPSKIT_S3_ENDPOINT_URL": moto.endpoint,
                    "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "bench",
                    "AWS_DEFAULT_REGION": "us-east-1",
                }
            )
            boto3.client("s3", endpoint_url=moto.endpoint).create_bucket(Bucket=BUCKET)
            results = [measure(pg, moto.endpoint, scale, work) for scale in scales]
        finally:
            pg.stop()
            moto.stop()

    (ROOT / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2))
    print(
        f"{'scale':>5} {'dump MB':>8} {'bare s':>7} {'drill s':>8} {'ratio':>6} "
        f"{'peak MB':>8} {'dl+verify MB/s':>15} {'cp MB/s':>8}"
    )
    for r in results:
        print(
            f"{r['scale']:>5} {r['dump_mb']:>8.0f} {r['bare']['total']:>7.1f} "
            f"{r['drill']['seconds']:>8.1f} {r['ratio']:>6.2f} "
            f"{r['drill']['peak_rss_mb']:>8.0f} {r['download_verify_mb_per_s']:>15.1f} "
            f"{r['bare']['cp_mb_per_s']:>8.0f}"
        )


if __name__ == "__main__":
    main()
