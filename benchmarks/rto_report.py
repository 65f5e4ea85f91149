"""RTO report over 100,000 restore-drill records, read through the index.

    .venv/bin/python -m benchmarks.rto_report [--records 100000] [--store DIR]

Writes the records as ``benchmarks.record_index`` does (50 services over the
last 365 days; reuse a store it kept with ``--store``), builds the index once,
then times ``rto_report`` over the whole year and over the last 30 days, each
on a fresh process state for the store (the figures and the HTML page are
part of the time).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record_index import write_records  # noqa: E402
from opskit.record_store import RecordStore  # noqa: E402
from opskit.reports import rto_report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--store", type=Path)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opskit-report-bench-") as tmp:
        root = options.store or Path(tmp) / "records"
        if not root.exists():
            print(f"writing {options.records:,} records into {root} ...")
            write_records(root, options.records)
        started = time.perf_counter()
        RecordStore.open(root).index.rebuild()
        print(f"index rebuilt in {time.perf_counter() - started:.1f} s")

        for days in (365, 30):
            seconds = []
            for _ in range(3):
                started = time.perf_counter()
                report = rto_report(root, window_days=days)
                seconds.append(time.perf_counter() - started)
            print(
                f"rto_report over {days} days: {len(report.drills):,} drills of "
                f"{len(report.summary)} services in {min(seconds):.2f} s "
                f"(best of 3; all: {', '.join(f'{s:.2f}' for s in seconds)})"
            )


if __name__ == "__main__":
    main()
