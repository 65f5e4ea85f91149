"""``opskit records``: list, show and verify records."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.table import Table

from opskit.cli.app import cli, err, out, store_option
from opskit.records import RecordStatus, RecordStore, verify_folder
from opskit.storage import LocalStorage


@cli.group()
def records() -> None:
    """List, show and verify records."""


@records.command("list")
@store_option
@click.option("--kind", help="Only records of this kind, e.g. restore-drill.")
@click.option("--name", help="Only records with this name (the service).")
@click.option(
    "--status",
    type=click.Choice([s.value for s in RecordStatus]),
    help="Only records with this status.",
)
@click.option(
    "--since", type=click.DateTime(), help="Only records started since (UTC)."
)
def list_records(
    store: str,
    kind: str | None,
    name: str | None,
    status: str | None,
    since: datetime | None,
) -> None:
    """List records, oldest first."""
    found = RecordStore.open(store).find(
        kind=kind,
        name=name,
        status=status,
        since=since.replace(tzinfo=UTC) if since else None,
    )
    table = Table("started (UTC)", "kind", "name", "status", "id", "folder")
    for item in found:
        r = item.record
        table.add_row(
            f"{r.started_at:%Y-%m-%d %H:%M:%S}",
            r.kind,
            r.name,
            r.status.value,
            r.id[:8],
            item.key,
        )
    out.print(table)
    err.print(f"{len(found)} record(s) in {store}")


@records.command("show")
@click.argument("ref")
@store_option
def show_record(ref: str, store: str) -> None:
    """Print the record.json of REF (folder key or id) as stored."""
    item = RecordStore.open(store).load(ref)
    click.echo(item.record.model_dump_json(indent=2))


@records.command("verify")
@click.argument("ref")
@store_option
def verify_record(ref: str, store: str) -> None:
    """Check that REF's files still match the sha256 in its record.json.

    REF is a record folder path, a folder key in the store, or an id.
    """
    if Path(ref).is_dir():
        problems, where = verify_folder(LocalStorage(ref), ""), ref
    else:
        record_store = RecordStore.open(store)
        key = record_store.load(ref).key
        problems, where = record_store.verify(key), record_store.storage.describe(key)
    for problem in problems:
        out.print(f"✗ {problem}", style="red")
    if problems:
        err.print(f"{where}: {len(problems)} problem(s); the record cannot be trusted")
        sys.exit(1)
    out.print(f"{where}: every file matches record.json")
