"""``opskit fleet run``: every due drill of a drills.yaml in parallel, a
progress bar, a summary table, a JUnit XML file; exit 1 when any drill did
not pass."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from opskit.cli.app import check_writable, cli, err, out, store_option
from opskit.fleet import FleetResult, fleet_record, junit_xml, last_fleet_run, run_fleet
from opskit.phases import utc_now
from opskit.record_store import RecordStore
from opskit.records import RecordStatus
from opskit.schedules import Drill, due_drills, load_schedule
from opskit.targets import format_duration


@cli.group()
def fleet() -> None:
    """Run many drills at once."""


@fleet.command("run")
@click.argument("drills_file", type=click.Path(dir_okay=False))
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Drills run at once, each in its own process.",
)
@click.option("--all", "run_all", is_flag=True, help="Every enabled drill, due or not.")
@click.option(
    "--since",
    type=click.DateTime(),
    help="Due means a scheduled run after this time (UTC); default: the last "
    "fleet run in the store, or every drill when there was none.",
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    default="opskit-fleet.junit.xml",
    show_default=True,
    help="JUnit XML file with one test case per drill.",
)
@click.option(
    "--cell-timeout",
    type=click.IntRange(min=1),
    help="Seconds each notebook cell may run (default: opskit run's).",
)
@store_option
def run_command(
    drills_file: str,
    workers: int,
    run_all: bool,
    since: datetime | None,
    junit: Path,
    cell_timeout: int | None,
    store: str,
) -> None:
    """Run the due drills of DRILLS_FILE and summarise them."""
    schedule = load_schedule(drills_file)
    started = utc_now()
    records = RecordStore.open(store, create=True)
    start = since.replace(tzinfo=UTC) if since else last_fleet_run(records, schedule)
    if run_all or start is None:
        chosen = [drill for drill in schedule.drills if drill.enabled]
        err.print(f"{len(chosen)} drill(s): every enabled drill")
    else:
        chosen = due_drills(schedule, now=started, since=start)
        err.print(f"{len(chosen)} drill(s) due since {start:%Y-%m-%d %H:%M} UTC")

    check_writable(junit, "--junit", " (no drill has run)")
    results = _run_with_progress(chosen, workers, store, cell_timeout)
    location = records.save(fleet_record(schedule, results, started, workers))
    junit.write_text(junit_xml(results, name=Path(drills_file).name), encoding="utf-8")

    _print_summary(results)
    err.print(f"JUnit XML: {junit}; fleet record: {location}")
    out.print(location)
    if any(r.status is RecordStatus.ABORTED for r in results):
        sys.exit(2)
    sys.exit(0 if all(r.status is RecordStatus.PASSED for r in results) else 1)


def _run_with_progress(
    chosen: list[Drill],
    workers: int,
    store: str,
    cell_timeout: int | None,
) -> list[FleetResult]:
    with Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as progress:
        task = progress.add_task("drills", total=len(chosen))

        def done(result: FleetResult) -> None:
            progress.advance(task)
            progress.console.print(f"{result.drill}: {result.status.value}")

        return run_fleet(
            chosen,
            workers=workers,
            record_store=store,
            cell_timeout=cell_timeout,
            on_done=done,
        )


def _print_summary(results: list[FleetResult]) -> None:
    table = Table("drill", "notebook", "status", "time", "reason", "record")
    for result in results:
        table.add_row(
            result.drill,
            result.notebook,
            result.status.value,
            format_duration(result.seconds),
            result.reason[:120],
            result.location,
        )
    err.print(table)
    failed = [r for r in results if r.status is not RecordStatus.PASSED]
    err.print(f"{len(results) - len(failed)} of {len(results)} drills passed")
