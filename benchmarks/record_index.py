"""Record index: listing and loading 100,000 restore-drill records.

    .venv/bin/python -m benchmarks.record_index [--records 100000] [--store DIR]

Writes restore-drill record folders over the last 365 days (``record.json``
byte for byte as ``RecordStore.save`` writes it, without index entries) into
a local store: a temporary folder, or ``--store`` to keep it for another run.
Then times, each on a fresh ``RecordStore``:

- rebuilding the index from every ``record.json`` (records per second), and
  ``reindex`` again with the index sound;
- ``RecordStore.frame(kind="restore-drill")``, the input of the RTO report
  (target: well under 3 s), with the journal empty and after 200 more records
  were filed through ``RecordStore.save`` (whose time is reported too), and
  the compaction that folds them in;
- ``find(kind="restore-drill", since=<7 days ago>)`` and ``summaries`` of all;
- the old way, before the index: list every ``record.json`` and read each.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opskit.phases import Phase, PhaseStatus  # noqa: E402
from opskit.record_index import INDEX_DIR, RECORD_FILE, RECORD_KEY  # noqa: E402
from opskit.record_model import (  # noqa: E402
    Check,
    CheckStatus,
    Record,
    RecordStatus,
    current_environment,
    parse_record,
)
from opskit.record_store import RecordStore  # noqa: E402
from opskit.targets import compare_targets, get_tier  # noqa: E402

KIND = "restore-drill"
PHASES = ("locate", "download", "verify", "restore", "validate", "cleanup")
TIERS = ("critical", "standard", "non-critical")


def drill(rng: random.Random, started_at: datetime, service: str) -> Record:
    """A restore-drill record shaped like the ones ``run_drill`` files."""
    tier = TIERS[hash(service) % len(TIERS)]
    seconds = [rng.uniform(0.01, 0.5), *(rng.lognormvariate(3, 1) for _ in range(5))]
    rto, rpo = sum(seconds[:5]), rng.uniform(30, 1200)
    targets = compare_targets(get_tier(tier), rto, rpo)
    phases, moment = [], started_at
    for name, took in zip(PHASES, seconds, strict=True):
        end = moment + timedelta(seconds=took)
        phases.append(Phase(name=name, started_at=moment, ended_at=end, seconds=took,
                            status=PhaseStatus.OK))  # fmt: skip
        moment = end
    missed = [t.describe() for t in targets if t.met is False]
    return Record(
        kind=KIND,
        name=service,
        started_by="scheduler@ci via opskit run",
        started_at=started_at,
        ended_at=moment,
        status=RecordStatus.FAILED if missed else RecordStatus.PASSED,
        reason="; ".join(missed),
        parameters={
            "service": service,
            "backup_store": f"s3://backups/{service}",
            "backup_id": "latest",
            "scratch": "",
            "tier": tier,
            "freshness_query": "select max(updated_at) from orders",
            "keep_scratch": False,
            "restore_jobs": 1,
            "sql_checks": "{}",
            "s3_endpoint_url": "",
        },
        phases=phases,
        measurements={
            "rto_seconds": round(rto, 6),
            "rpo_seconds": round(rpo, 6),
            "bytes": rng.randrange(10**6, 10**9),
            "restored_bytes": rng.randrange(10**6, 10**9),
            "rows": rng.randrange(1000, 10**7),
            "download_mb_per_s": round(rng.uniform(20, 400), 3),
        },
        targets=targets,
        checks=[
            Check(name=f"rows:{table}", status=CheckStatus.PASSED, expected=1, actual=1)
            for table in ("customers", "orders", "order_items", "products")
        ],
        details={"scratch_target": "/tmp/scratch.db", "backup": {"components": 1}},
        environment=current_environment(),
    )


def write_records(root: Path, count: int) -> None:
    """File ``count`` records straight into folders, as ``save`` would."""
    rng, now = random.Random(20261203), datetime.now(UTC)
    services = [f"service-{n:02d}" for n in range(50)]
    started = time.perf_counter()
    for n in range(count):
        moment = now - timedelta(days=365 * (count - n) / count, seconds=1)
        record = drill(rng, moment, rng.choice(services))
        record = record.model_copy(update={"digest": record.compute_digest()})
        folder = root / record.folder()
        folder.mkdir(parents=True)
        (folder / RECORD_FILE).write_text(record.model_dump_json(indent=2))
        if n and n % 10_000 == 0:
            print(f"  {n:,} records written ({time.perf_counter() - started:.0f} s)")


def timed(action: Callable[[], Any], runs: int = 1) -> tuple[list[float], Any]:
    """Wall seconds of each run, and the last run's result."""
    seconds, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def load_every_record(root: Path, since: datetime | None = None) -> list[Record]:
    """The old way: list every record.json, read and check the ones wanted."""
    store = RecordStore.open(root)
    found = []
    for info in store.storage.list(f"{KIND}/"):
        if not RECORD_KEY.match(info.key):
            continue
        day = datetime.strptime(info.key.split("/", 1)[1][:10], "%Y/%m/%d")
        if since is not None and day.date() < since.date():
            continue
        record = parse_record(store.storage.read_bytes(info.key), info.key)
        if record.digest == record.compute_digest():
            found.append(record)
    return [r for r in found if since is None or r.started_at >= since]


def report(what: str, seconds: list[float], note: str = "") -> None:
    figure = f"{min(seconds):.2f} s"
    if len(seconds) > 1:
        figure += f" (median {statistics.median(seconds):.2f} s of {len(seconds)})"
    print(f"{what:48s} {figure}{'  ' + note if note else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--store", type=Path, help="keep the store here; reuse it")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = args.store or Path(tempfile.mkdtemp(prefix="opskit-bench-records-"))
    try:
        measure(root, args.records, args.runs)
    finally:
        if args.store is None:
            shutil.rmtree(root, ignore_errors=True)


def measure(root: Path, count: int, runs: int) -> None:
    if not (root / KIND).is_dir():
        print(f"writing {count:,} records into {root} ...")
        root.mkdir(parents=True, exist_ok=True)
        write_records(root, count)
    shutil.rmtree(root / INDEX_DIR, ignore_errors=True)
    week = datetime.now(UTC) - timedelta(days=7)

    seconds, built = timed(lambda: RecordStore.open(root).index.rebuild())
    report("index rebuild from every record.json", seconds,
           f"{built:,} records, {built / seconds[0]:,.0f} records/s")  # fmt: skip
    size = sum(p.stat().st_size for p in (root / INDEX_DIR).glob("index-*"))
    print(f"{'index size':48s} {size / 1e6:.1f} MB")
    seconds, _ = timed(lambda: RecordStore.open(root).index.rebuild())
    report("reindex with the index sound", seconds)

    seconds, frame = timed(lambda: RecordStore.open(root).frame(kind=KIND), runs)
    report("frame(kind=restore-drill), journal empty", seconds,
           f"{len(frame):,} rows, {len(frame.columns)} columns")  # fmt: skip

    store, rng = RecordStore.open(root), random.Random(7)
    saves, _ = timed(lambda: store.save(drill(rng, datetime.now(UTC), "late")), 200)
    print(f"{'RecordStore.save, each of 200':48s} "
          f"{statistics.median(saves) * 1000:.1f} ms median, "
          f"{max(saves) * 1000:.1f} ms slowest")  # fmt: skip
    seconds, frame = timed(lambda: RecordStore.open(root).frame(kind=KIND), runs)
    report("frame(kind=restore-drill), 200 in the journal", seconds,
           f"{len(frame):,} rows")  # fmt: skip
    seconds, _ = timed(lambda: RecordStore.open(root).index.compact())
    report("compaction of those 200 (every 256th save)", seconds)

    recent = lambda: RecordStore.open(root).find(kind=KIND, since=week)  # noqa: E731
    seconds, found = timed(recent, runs)
    report("find(kind, since=7 days ago)", seconds, f"{len(found):,} records")
    seconds, listed = timed(lambda: RecordStore.open(root).summaries(kind=KIND), runs)
    report("summaries(kind), every record", seconds, f"{len(listed):,} entries")

    seconds, old = timed(lambda: load_every_record(root, week))
    report("old way: find(kind, since=7 days ago)", seconds, f"{len(old):,} records")
    seconds, old = timed(lambda: load_every_record(root))
    report("old way: read every record.json", seconds, f"{len(old):,} records")


if __name__ == "__main__":
    main()
