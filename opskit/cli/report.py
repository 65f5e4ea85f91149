"""``opskit report rto``: the RTO/RPO report from the records, as an HTML
page and a record; exit 1 when a target was missed, a drill is overdue or a
backup is stale."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.table import Table

from opskit.cli.app import EXIT_CODES, cli, err, out, store_option
from opskit.errors import ParameterError
from opskit.reports import periods_from_schedule, rto_report
from opskit.targets import format_duration


@cli.group()
def report() -> None:
    """Reports built from records."""


@report.command("rto")
@store_option
@click.option("--since", type=click.DateTime(), help="First day (UTC) of the window.")
@click.option(
    "--until", type=click.DateTime(), help="End (UTC) of the window; default now."
)
@click.option(
    "--window-days",
    type=click.FloatRange(min=0, min_open=True),
    default=30,
    show_default=True,
    help="Window length when --since is not given.",
)
@click.option("--service", "services", multiple=True, help="Only this service; repeat.")
@click.option(
    "--schedule",
    type=click.Path(dir_okay=False),
    help="drills.yaml: each drill's schedule sets when it is overdue.",
)
@click.option(
    "--period-days",
    type=click.FloatRange(min=0, min_open=True),
    default=7,
    show_default=True,
    help="Drill period for services the schedule does not name.",
)
@click.option(
    "--backup-store",
    "backup_stores",
    multiple=True,
    metavar="SERVICE=STORE",
    help="A service's backup store, to find stale backups; repeat.",
)
@click.option(
    "--out",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the HTML page here.",
)
def rto_command(
    store: str,
    since: datetime | None,
    until: datetime | None,
    window_days: float,
    services: tuple[str, ...],
    schedule: str | None,
    period_days: float,
    backup_stores: tuple[str, ...],
    output: Path | None,
) -> None:
    """RTO/RPO per service and tier over a window, against the tiers' targets."""
    built = rto_report(
        store,
        since=since.replace(tzinfo=UTC) if since else None,
        until=until.replace(tzinfo=UTC) if until else None,
        services=services,
        window_days=window_days,
        drill_periods=periods_from_schedule(schedule) if schedule else None,
        default_period=timedelta(days=period_days),
        backup_stores=dict(_pair(text) for text in backup_stores),
    )
    if output is not None:
        built.write_html(output)
        err.print(f"report written to {output}")
    location = built.file(store)

    table = Table(
        "service",
        "tier",
        "drills",
        "latest RTO",
        "p50 RTO",
        "p90 RTO",
        "worst RTO",
        "target",
        "missed",
        "trend",
    )
    for row in built.summary.itertuples():
        table.add_row(
            str(row.service),
            str(row.tier),
            str(row.drills),
            _shown(row.latest_rto_seconds),
            _shown(row.p50_rto_seconds),
            _shown(row.p90_rto_seconds),
            _shown(row.worst_rto_seconds),
            _shown(row.rto_target_seconds),
            str(row.missed),
            str(row.rto_trend),
        )
    err.print(table)
    for what, problems in (("overdue", built.overdue), ("stale", built.stale)):
        for row in problems.itertuples():
            err.print(f"{what}: {row.service}: {row.detail}")
    err.print(built.summary_text())
    out.print(location)
    sys.exit(EXIT_CODES[built.status])


def _pair(text: str) -> tuple[str, str]:
    service, _, location = text.partition("=")
    if not service or not location:
        raise ParameterError(f"--backup-store {text!r}: write SERVICE=STORE")
    return service, location


def _shown(value: object) -> str:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "-"
    return "-" if seconds != seconds else format_duration(seconds)
