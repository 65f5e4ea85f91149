"""``opskit incident``: open, note, status, tick, close, list and show
incidents from a terminal, on the same saved state the notebook uses."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import click
from rich.table import Table

from opskit.cli.app import check_writable, cli, err, out, store_option
from opskit.errors import InputError, ParameterError
from opskit.incident import SEVERITY_MEANINGS, Incident, IncidentStatus, list_incidents
from opskit.masking import mask_text
from opskit.record_store import RecordStore

by_option = click.option(
    "--by", default="", help="Who is acting; default: $OPSKIT_STARTED_BY or user@host."
)


@cli.group()
def incident() -> None:
    """Work on an incident outside Jupyter (the notebook sees the same state)."""


@incident.command("open")
@click.argument("service")
@click.option(
    "--severity",
    default="SEV3",
    show_default=True,
    help="; ".join(
        f"{s.value}: {m.split(';')[0]}" for s, m in SEVERITY_MEANINGS.items()
    ),
)
@click.option("--commander", default="", help="The incident commander.")
@click.option("--title", default="", help="One line; default: '<service> incident'.")
@click.option(
    "--began-at",
    default="",
    help="When impact began, for time to detect: 2026-12-04T05:40Z, or 25m "
    "(before now).",
)
@store_option
@by_option
def open_command(
    service: str,
    severity: str,
    commander: str,
    title: str,
    began_at: str,
    store: str,
    by: str,
) -> None:
    """Open an incident for SERVICE and print its id."""
    opened = Incident.open(
        service,
        severity,
        commander=commander,
        title=title,
        began_at=began_at,
        store=store,
        by=by,
    )
    err.print(f"opened {opened.severity.value} for {opened.service}")
    out.print(opened.id)


@incident.command("note")
@click.argument("incident_id")
@click.argument("text")
@store_option
@by_option
def note_command(incident_id: str, text: str, store: str, by: str) -> None:
    """Add TEXT to the incident's timeline."""
    Incident.reopen(incident_id, store).note(text, by=by)
    err.print(f"{incident_id}: note added")


@incident.command("status")
@click.argument("incident_id")
@click.argument(
    "new_status",
    required=False,
    type=click.Choice([s.value for s in IncidentStatus]),
)
@click.option("--note", default="", help="Why the status changed.")
@click.option("--severity", default="", help="Change the severity, e.g. SEV1.")
@click.option("--commander", default="", help="Hand over to another commander.")
@click.option("--ack", is_flag=True, help="Acknowledge the incident.")
@click.option(
    "--update",
    type=click.Choice(["internal", "public"]),
    default="internal",
    show_default=True,
    help="Which status-update text to print.",
)
@store_option
@by_option
def status_command(
    incident_id: str,
    new_status: str | None,
    note: str,
    severity: str,
    commander: str,
    ack: bool,
    update: str,
    store: str,
    by: str,
) -> None:
    """Change the status (or severity, commander) and print a status update."""
    current = Incident.reopen(incident_id, store)
    if ack:
        current.acknowledge(by)
    if severity:
        current.set_severity(severity, by)
    if commander:
        current.set_commander(commander, by)
    if new_status:
        current.set_status(new_status, note, by)
    elif note:
        raise ParameterError("--note: give a new status with it, or use `note`")
    out.print(current.status_update(update))


@incident.command("tick")
@click.argument("incident_id")
@click.argument("items", nargs=-1, required=True)
@click.option("--undo", is_flag=True, help="Mark the items not done again.")
@store_option
@by_option
def tick_command(
    incident_id: str, items: tuple[str, ...], undo: bool, store: str, by: str
) -> None:
    """Mark checklist ITEMS (ids such as immediate-1) done."""
    current = Incident.reopen(incident_id, store)
    unique = list(dict.fromkeys(items))
    for item in unique:
        current.tick(item, not undo, by)
    err.print(f"{incident_id}: {len(unique)} item(s) {'reopened' if undo else 'done'}")


@incident.command("close")
@click.argument("incident_id")
@click.option("--summary", required=True, help="What happened, in a sentence.")
@click.option("--impact", default="", help="Who was affected, how, for how long.")
@click.option(
    "--factor", "factors", multiple=True, help="A contributing factor; repeat."
)
@click.option(
    "--action",
    "actions",
    multiple=True,
    metavar="TEXT::OWNER[::DUE]",
    help="An action item with its owner (and due date); repeat.",
)
@click.option(
    "--review-out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the review draft (Markdown) to this file.",
)
@store_option
@by_option
def close_command(
    incident_id: str,
    summary: str,
    impact: str,
    factors: tuple[str, ...],
    actions: tuple[str, ...],
    review_out: Path | None,
    store: str,
    by: str,
) -> None:
    """Resolve and close the incident: file its record and review draft."""
    items = [_action_item(text) for text in actions]
    if review_out is not None:
        check_writable(review_out, "--review-out", " (the incident is still open)")
    closure = Incident.reopen(incident_id, store).close(
        summary, impact, factors, items, by=by, store=store
    )
    if review_out is not None:
        try:
            review_out.write_text(closure.review, encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"--review-out {review_out}: cannot be written ({exc.strerror}); "
                f"the incident is closed and its record, with review.md, is at "
                f"{closure.location}"
            ) from exc
        err.print(f"review draft written to {review_out}")
    err.print(f"{incident_id}: closed; record filed")
    out.print(closure.location)


@incident.command("list")
@store_option
def list_command(store: str) -> None:
    """List incidents, newest first."""
    RecordStore.open(store)  # a store that is not there is named, not empty
    table = Table("id", "service", "severity", "status", "commander", "opened (UTC)")
    rows = list_incidents(store)
    for row in rows:
        table.add_row(
            row["id"],
            row["service"],
            row["severity"],
            "closed" if row["closed"] else row["status"],
            row["commander"],
            f"{row['opened_at']:%Y-%m-%d %H:%M}" if row["opened_at"] else "-",
        )
    out.print(table)
    err.print(f"{len(rows)} incident(s) in {store}")


@incident.command("show")
@click.argument("incident_id")
@store_option
def show_command(incident_id: str, store: str) -> None:
    """Show the incident's checklist and timeline."""
    current = Incident.reopen(incident_id, store)
    out.print(current.status_update("internal"))
    checklist = Table("id", "item", "due (UTC)", "done")
    for item in current.checklist:
        done = (
            f"by {item.done_by}"
            if item.done_at
            else ("OVERDUE" if item.overdue() else "")
        )
        checklist.add_row(item.id, item.text, f"{item.due_at:%Y-%m-%d %H:%M}", done)
    out.print(checklist)
    timeline = Table("time (UTC)", "who", "what")
    for entry in current.timeline:
        timeline.add_row(f"{entry.at:%H:%M:%S}", entry.author, entry.text)
    out.print(timeline)


def _action_item(text: str) -> dict[str, str]:
    parts = [part.strip() for part in text.split("::")]
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise ParameterError(
            f"--action {mask_text(text)!r}: write TEXT::OWNER or TEXT::OWNER::DUE"
        )
    due = parts[2] if len(parts) > 2 else ""
    if due and not _is_iso_date(due):
        raise ParameterError(
            f"--action {mask_text(text)!r}: due {mask_text(due)!r} is not a date; "
            "write it as YYYY-MM-DD, e.g. TEXT::OWNER::2026-12-17"
        )
    return {"text": parts[0], "owner": parts[1], "due": due}


def _is_iso_date(text: str) -> bool:
    """``YYYY-MM-DD`` and a real day (2026-02-30 is not)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
