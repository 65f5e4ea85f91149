"""The ``opskit`` command: parse, call the library, render.

Exit codes: 0 passed, 1 a target or check missed, 2 bad input or a broken run.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from opskit import __version__
from opskit.errors import OpskitError, ParameterError, suggest
from opskit.notebooks import DEFAULT_CELL_TIMEOUT, RunOutcome, run_notebook
from opskit.notify import NOTIFY_ENV, describe, resolve_url
from opskit.record_store import RecordStore
from opskit.records import CheckStatus, Record, RecordStatus
from opskit.targets import format_duration, load_tiers

EXIT_CODES = {
    RecordStatus.PASSED: 0,
    RecordStatus.FAILED: 1,
    RecordStatus.ERROR: 2,
    RecordStatus.ABORTED: 2,
}

# Markup off: names and messages come from users and must print as they are.
out = Console(highlight=False, markup=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)
if not out.is_terminal:
    out.width = 240  # piped output: keep table rows whole for scripts

store_option = click.option(
    "--record-store",
    "--store",
    "store",
    envvar="OPSKIT_RECORD_STORE",
    default="records",
    show_default=True,
    show_envvar=True,
    help="Record store: a folder or s3://bucket/prefix.",
)


parameter_option = click.option(
    "-p",
    "--parameter",
    "parameters",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="A parameter; numbers and true/false are converted.",
)


timeout_option = click.option(
    "--cell-timeout",
    type=click.IntRange(min=1),
    default=DEFAULT_CELL_TIMEOUT,
    show_default=True,
    help="Seconds each notebook cell may run.",
)


notify_option = click.option(
    "--notify",
    envvar=NOTIFY_ENV,
    show_envvar=True,
    metavar="URL",
    help="Webhook (Slack-compatible) to post to when the run fails or errors. "
    "A secret: shown and recorded masked.",
)


@click.group(
    context_settings={
        "help_option_names": ["-h", "--help"],
        "auto_envvar_prefix": "OPSKIT",
    }
)
@click.version_option(__version__, prog_name="opskit")
@click.option("-v", "--verbose", count=True, help="More log detail (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
def cli(verbose: int, quiet: bool) -> None:
    """Restore drills and runbooks as notebooks that leave dated records."""
    level = (
        logging.WARNING
        if quiet
        else (
            logging.DEBUG
            if verbose > 1
            else logging.INFO
            if verbose
            else logging.WARNING
        )
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    package = logging.getLogger("opskit")
    package.handlers[:] = [handler]
    package.setLevel(level)


@cli.command()
@click.option(
    "--workdir",
    default="opskit-demo",
    show_default=True,
    help="Folder for the demo database and its backups.",
)
@click.option("--tier", default="standard", show_default=True, help="Recovery tier.")
@store_option
@timeout_option
@notify_option
def demo(
    workdir: str, tier: str, store: str, cell_timeout: int, notify: str | None
) -> None:
    """Make a demo shop database, back it up, and run a restore drill on it."""
    from opskit.demo import SERVICE, prepare_demo

    tiers = load_tiers()
    if tier not in tiers:
        raise ParameterError(
            f"--tier {tier!r}: no such tier{suggest(tier, tiers)}; the tiers are "
            f"{', '.join(tiers)} (see opskit tiers)"
        )
    resolve_url(notify)
    if Path(workdir).exists() and not Path(workdir).is_dir():
        raise ParameterError(
            f"--workdir {workdir}: is a file, not a folder; give a folder for the "
            "demo shop"
        )
    RecordStore.open(store, create=True)
    err.print(f"preparing the demo database and a backup in {workdir}/ ...")
    prepared = prepare_demo(workdir)
    err.print(
        f"backup {prepared.manifest.backup_id}: "
        f"{sum(prepared.manifest.tables.values())} rows in "
        f"{len(prepared.manifest.tables)} tables; running restore_drill ..."
    )
    outcome = run_notebook(
        "restore_drill",
        {
            "service": SERVICE,
            "backup_store": str(prepared.backup_store),
            "freshness_query": prepared.freshness_query,
            "tier": tier,
        },
        record_store=store,
        cell_timeout=cell_timeout,
        progress=err.is_terminal,
        notify=notify,
    )
    _finish(outcome)


@cli.command()
@click.argument("notebook")
@parameter_option
@click.option(
    "-r",
    "--raw-parameter",
    "raw_parameters",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="A notebook parameter passed as text, never converted.",
)
@click.option(
    "-y",
    "--yaml",
    "yaml_parameters",
    multiple=True,
    metavar="YAML",
    help='Parameters as a YAML mapping, e.g. \'{sql_checks: {n: {sql: "...", '
    "expected: 1}}}'.",
)
@store_option
@timeout_option
@notify_option
def run(
    notebook: str,
    parameters: tuple[tuple[str, str], ...],
    raw_parameters: tuple[tuple[str, str], ...],
    yaml_parameters: tuple[str, ...],
    store: str,
    cell_timeout: int,
    notify: str | None,
) -> None:
    """Run NOTEBOOK (a name such as restore_drill, or a path) and file its record."""
    values = {name: parse_value(value) for name, value in parameters}
    values |= dict(raw_parameters)
    for text in yaml_parameters:
        values |= parse_yaml_parameters(text)
    if "record_store" in values:
        raise ParameterError(
            "parameter record_store: give it as --record-store instead"
        )
    outcome = run_notebook(
        notebook,
        values,
        record_store=store,
        cell_timeout=cell_timeout,
        progress=err.is_terminal,
        notify=notify,
    )
    _finish(outcome)


@cli.command()
@click.option("--tiers-file", envvar="OPSKIT_TIERS", help="YAML file of extra tiers.")
def tiers(tiers_file: str | None) -> None:
    """Show the recovery tiers and their RTO/RPO targets."""
    table = Table("tier", "RTO", "RPO")
    for tier in load_tiers(tiers_file).values():
        table.add_row(
            tier.name,
            format_duration(tier.rto_seconds),
            format_duration(tier.rpo_seconds),
        )
    out.print(table)


def parse_yaml_parameters(text: str) -> dict[str, Any]:
    """Read a ``-y`` option: a YAML mapping of parameter names to values."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParameterError(f"-y {text!r}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ParameterError(
            f"-y {text!r}: expected a mapping such as '{{tier: critical}}'"
        )
    return {str(name): value for name, value in data.items()}


def parse_value(text: str) -> Any:
    """Read a ``-p`` value as papermill does: booleans, None, numbers, else text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _finish(outcome: RunOutcome) -> None:
    _print_summary(outcome.record, outcome.location)
    out.print(outcome.location)
    sys.exit(EXIT_CODES[outcome.record.status])


def _print_summary(record: Record, location: str) -> None:
    table = Table(
        title=f"{record.kind} · {record.name} · {record.status.value.upper()}",
        show_header=True,
    )
    table.add_column("item")
    table.add_column("value", overflow="fold")
    for phase in record.phases:
        table.add_row(
            f"phase {phase.name}",
            f"{format_duration(phase.seconds)} ({phase.status.value})",
        )
    for target in record.targets:
        table.add_row(target.name.upper(), target.describe())
    if record.checks:
        table.add_row("checks", _count_checks(record))
    if record.reason:
        table.add_row("reason", record.reason)
    for noted in record.details.get("notifications", []):
        table.add_row("alert", describe(noted))
    table.add_row("record", location)
    err.print(table)


def _count_checks(record: Record) -> str:
    """``1 passed, 0 failed, 11 not done of 12``: skipped is not passed."""
    counts = Counter(check.status for check in record.checks)
    return (
        f"{counts[CheckStatus.PASSED]} passed, {counts[CheckStatus.FAILED]} failed, "
        f"{counts[CheckStatus.SKIPPED]} not done of {len(record.checks)}"
    )


def main() -> None:
    """Entry point: run the CLI and turn opskit errors into exit codes.

    SIGTERM is handled like Ctrl-C, so a stopped run still files its record.
    """
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("opskit: interrupted")
        sys.exit(2)
    except OpskitError as exc:
        err.print(f"opskit: error: {exc}")
        sys.exit(exc.exit_code)
    except Exception as exc:
        logging.getLogger(__name__).debug("internal error", exc_info=True)
        err.print(
            f"opskit: internal error: {type(exc).__name__}: {exc}; run again with "
            "-vv to see where, and report it"
        )
        sys.exit(2)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def check_writable(path: Path, option: str, note: str = "") -> None:
    """Refuse an output file that cannot be written before any work starts:
    open it for appending, and remove it again if it was not there. ``note``
    ends the message (what has not happened yet)."""
    existed = path.exists()
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ParameterError(
            f"{option} {path}: cannot be written ({exc.strerror}); choose another "
            f"file{note}"
        ) from exc
    if not existed:
        path.unlink()
