"""``opskit runbook``: list, check and run YAML runbooks from a terminal,
with a prompt before each step that changes things."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table

from opskit.cli.app import (
    EXIT_CODES,
    cli,
    err,
    out,
    parameter_option,
    store_option,
)
from opskit.records import TimelineEntry, started_by
from opskit.runbooks import (
    POLICIES,
    Confirm,
    Decision,
    RunbookRun,
    Step,
    load_runbook,
    policy,
    shipped_runbooks,
)


@cli.group()
def runbook() -> None:
    """List, check and run YAML runbooks."""


@runbook.command("list")
def list_command() -> None:
    """List the runbooks that come with opskit."""
    table = Table("name", "title", "steps")
    for name in shipped_runbooks():
        loaded = load_runbook(name).runbook
        table.add_row(name, loaded.title, str(len(loaded.steps)))
    out.print(table)


@runbook.command("check")
@click.argument("name")
@parameter_option
def check_command(name: str, parameters: tuple[tuple[str, str], ...]) -> None:
    """Validate runbook NAME (or file) and show what each step would do."""
    run = RunbookRun(load_runbook(name), _values(parameters), dry_run=True)
    table = Table("#", "step", "confirm", "critical", "timeout", "action")
    for number, state in enumerate(run.steps, start=1):
        step = state.step
        table.add_row(
            str(number),
            step.name,
            "yes" if step.needs_confirmation else "no",
            "yes" if step.critical else "no",
            f"{step.timeout:g} s",
            run.preview(step),
        )
    out.print(table)
    err.print(f"{run.loaded.source}: valid, {len(run.steps)} steps")


@runbook.command("run")
@click.argument("name", required=False)
@parameter_option
@click.option("--dry-run", is_flag=True, help="Show each step; change nothing.")
@click.option(
    "--policy",
    "policy_name",
    type=click.Choice(["prompt", *POLICIES]),
    default="prompt",
    show_default=True,
    help="Who decides steps that need confirmation; prompt needs a terminal.",
)
@click.option("-y", "--yes", is_flag=True, help="Same as --policy approve.")
@click.option("--force", is_flag=True, help="Run even if the steady state fails.")
@click.option(
    "--rollback-on-failure",
    is_flag=True,
    help="Undo completed steps in reverse order when a critical step fails.",
)
@click.option(
    "--resume",
    metavar="RECORD",
    help="Continue the stopped run of this record from its first unfinished step.",
)
@store_option
def run_command(
    name: str | None,
    parameters: tuple[tuple[str, str], ...],
    dry_run: bool,
    policy_name: str,
    yes: bool,
    force: bool,
    rollback_on_failure: bool,
    resume: str | None,
    store: str,
) -> None:
    """Run runbook NAME (or file), or --resume a stopped run."""
    options: dict[str, Any] = {
        "confirm": _confirm("approve" if yes else policy_name),
        "dry_run": dry_run,
        "force": force,
        "on_entry": _show,
    }
    if resume:
        run = RunbookRun.resume(
            resume, store=store, parameters=_values(parameters), runbook=name, **options
        )
    elif name:
        run = RunbookRun(
            load_runbook(name), _values(parameters), store=store, **options
        )
    else:
        raise click.UsageError("name a runbook, or give --resume RECORD")

    result = run.run(rollback_on_failure=rollback_on_failure)
    run_location = result.location
    if result.record.reason:
        err.print(f"{result.status.value}: {result.record.reason}")
    out.print(run_location)
    sys.exit(EXIT_CODES[result.status])


def _confirm(name: str) -> Confirm:
    if name != "prompt":
        return policy(name)
    if not sys.stdin.isatty():
        return policy("fail", why="there is no terminal to ask")
    person = started_by()

    def ask(step: Step, preview: str) -> Decision:
        answer = click.confirm(
            f"Run step {step.name!r}: {preview}?", default=False, err=True
        )
        return Decision(answer, f"{person} (terminal)")

    return ask


def _show(entry: TimelineEntry) -> None:
    err.print(f"{entry.at:%H:%M:%S} {entry.text}")
    if entry.output.strip() and entry.outcome != "dry-run":
        for line in entry.output.strip().splitlines()[-5:]:
            err.print(f"    {line}")


def _values(parameters: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """Parameters as given: the runbook's declared types convert them."""
    return dict(parameters)
