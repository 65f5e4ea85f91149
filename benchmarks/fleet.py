"""Fleet of drills: 40 restore drills of the embedded demo, run by
``run_fleet`` with 2 workers and then one by one.

    .venv/bin/python -m benchmarks.fleet [--drills 40]

Each drill is a full ``opskit run restore_drill`` (papermill, a kernel, the
drill, the HTML) in its own process, as ``opskit fleet run`` does it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opskit.demo import FRESHNESS_QUERY, prepare_demo  # noqa: E402
from opskit.fleet import run_fleet  # noqa: E402
from opskit.records import RecordStatus  # noqa: E402
from opskit.schedules import load_schedule  # noqa: E402


def drills_file(folder: Path, count: int) -> Path:
    """A drills.yaml with ``count`` drills of one prepared demo shop."""
    shop = prepare_demo(folder / "shop")
    lines = ["drills:"]
    for n in range(count):
        lines += [
            f"  - name: drill-{n:02d}",
            "    notebook: restore_drill",
            f"    parameters: {{service: shop-{n:02d}, "
            f"backup_store: '{shop.backup_store}', "
            f"freshness_query: '{FRESHNESS_QUERY}'}}",
            '    schedule: "@daily"',
            "    tier: standard",
            "    owner: bench",
        ]
    path = folder / "drills.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(path: Path, workers: int, store: Path) -> tuple[float, int]:
    drills = load_schedule(path).drills
    started = time.monotonic()
    results = run_fleet(drills, workers=workers, record_store=store)
    passed = sum(r.status is RecordStatus.PASSED for r in results)
    return time.monotonic() - started, passed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drills", type=int, default=40)
    count = parser.parse_args().drills
    with tempfile.TemporaryDirectory(prefix="opskit-fleet-bench-") as tmp:
        folder = Path(tmp)
        path = drills_file(folder, count)
        for workers in (2, 1):
            wall, passed = timed(path, workers, folder / f"records-{workers}")
            print(
                f"{count} drills, {workers} worker(s): {wall:.1f} s, "
                f"{wall / count:.2f} s per drill, {passed} passed"
            )


if __name__ == "__main__":
    main()
