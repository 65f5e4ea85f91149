"""``opskit schedule``: check a drills file and export it for a scheduler."""

from __future__ import annotations

import pwd
import shutil
from pathlib import Path

import click
from rich.table import Table

from opskit.cli.app import cli, err, out
from opskit.schedule_formats import DEFAULT_IMAGE, FORMATS, install_hint
from opskit.schedules import export, load_schedule, next_runs

drills_argument = click.argument(
    "drills_file",
    metavar="DRILLS_FILE",
    default="drills.yaml",
    type=click.Path(dir_okay=False, path_type=Path),
)


@cli.group()
def schedule() -> None:
    """Check drills.yaml and export it for cron, systemd, Kubernetes or Airflow."""


@schedule.command("validate")
@drills_argument
@click.option(
    "--runs",
    type=click.IntRange(min=1, max=20),
    default=3,
    show_default=True,
    help="How many next run times to show per drill.",
)
def validate_command(drills_file: Path, runs: int) -> None:
    """Validate DRILLS_FILE (default drills.yaml) and show each drill's next runs."""
    loaded = load_schedule(drills_file)
    table = Table("name", "notebook", "schedule", "timezone", "tier", "owner", "next")
    for drill in loaded.drills:
        upcoming = (
            ", ".join(f"{when:%Y-%m-%d %H:%M %Z}" for when in next_runs(drill, runs))
            if drill.enabled
            else "disabled"
        )
        table.add_row(
            drill.name,
            Path(drill.notebook).stem,
            drill.schedule,
            drill.timezone,
            drill.tier,
            drill.owner,
            upcoming,
        )
    out.print(table)
    err.print(f"{drills_file}: valid, {len(loaded.drills)} drills")


@schedule.command("export")
@drills_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    required=True,
    help="The scheduler to write files for.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the files (created if missing).",
)
@click.option(
    "--opskit",
    "opskit_command",
    metavar="PATH",
    help="The opskit program the files call  [default: this one, by absolute "
    "path; opskit inside the Kubernetes image]",
)
@click.option(
    "--record-store",
    "record_store",
    envvar="OPSKIT_RECORD_STORE",
    default="records",
    show_default=True,
    show_envvar=True,
    help="Record store of drills that name none; a folder is made absolute.",
)
@click.option(
    "--image",
    default=DEFAULT_IMAGE,
    show_default=True,
    help="Kubernetes: the container image with opskit installed.",
)
@click.option(
    "--user",
    help="cron and systemd: the user the drills run as  [default: you]",
)
def export_command(
    drills_file: Path,
    fmt: str,
    out_dir: Path,
    opskit_command: str | None,
    record_store: str,
    image: str,
    user: str | None,
) -> None:
    """Write DRILLS_FILE's drills as files FORMAT's scheduler installs as they are."""
    loaded = load_schedule(drills_file)
    written = export(
        loaded,
        fmt,
        out_dir,
        opskit_command=opskit_command,
        record_store=record_store,
        image=image,
        user=user,
    )
    for path in written:
        out.print(str(path))
    for warning in _unknown_here(fmt, opskit_command, user):
        err.print(f"warning: {warning}", style="yellow")
    err.print(f"{len(written)} files for {fmt}; install them with:")
    err.print(f"  {install_hint(fmt, out_dir, written)}")


def _unknown_here(fmt: str, opskit_command: str | None, user: str | None) -> list[str]:
    """What the files name that this machine does not have: worth a word, not
    a refusal, as the files may be meant for another machine."""
    if fmt in ("kubernetes", "airflow"):
        return []
    found = []
    if opskit_command and not shutil.which(opskit_command):
        found.append(
            f"--opskit {opskit_command}: no such program here; the drills will "
            "fail unless the machine that runs them has it"
        )
    if user:
        try:
            pwd.getpwnam(user)
        except KeyError:
            found.append(f"--user {user}: no such user here")
    return found
