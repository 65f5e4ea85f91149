"""``opskit records``: list, show, verify and reindex records."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.table import Table

from opskit.cli.app import cli, err, out, store_option
from opskit.records import RecordStatus, RecordStore, split_location, verify_folder
from opskit.storage import LocalStorage


@cli.group()
def records() -> None:
    """List, show, verify and reindex records."""


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
    """List records, oldest first, from the store's index (`verify` checks
    a record against its files)."""
    found = RecordStore.open(store).summaries(
        kind=kind,
        name=name,
        status=status,
        since=since.replace(tzinfo=UTC) if since else None,
    )
    table = Table("started (UTC)", "kind", "name", "status", "id", "folder")
    for entry in found:
        table.add_row(
            f"{entry.started_at:%Y-%m-%d %H:%M:%S}",
            entry.kind,
            entry.name,
            entry.status.value,
            entry.id[:8],
            entry.key,
        )
    out.print(table)
    err.print(f"{len(found)} record(s) in {store}")


@records.command("reindex")
@store_option
def reindex_records(store: str) -> None:
    """Rebuild the store's record index from every record.json, e.g. after
    record folders were copied in by hand."""
    started = time.monotonic()
    count = RecordStore.open(store).index.rebuild()
    seconds = time.monotonic() - started
    rate = f", {count / seconds:,.0f} records/s" if seconds > 0 and count else ""
    err.print(f"{count} record(s) indexed in {store} in {seconds:.1f} s{rate}")


@records.command("show")
@click.argument("ref")
@store_option
def show_record(ref: str, store: str) -> None:
    """Print the record.json of REF (a record folder as printed, a folder key
    or an id) as stored."""
    record_store, key = _resolve(ref, store)
    click.echo(record_store.load(key).record.model_dump_json(indent=2))


@records.command("verify")
@click.argument("ref")
@store_option
def verify_record(ref: str, store: str) -> None:
    """Check REF's record.json against its digest and its files against their
    sha256. REF is a record folder (a path or as printed), a folder key or an id.
    Exits 1 when the record cannot be trusted."""
    if split_location(ref) is None and Path(ref).is_dir():
        problems, where = verify_folder(LocalStorage(ref), ""), ref
    else:
        record_store, key = _resolve(ref, store)
        key = record_store.locate(key)
        problems, where = record_store.verify(key), record_store.storage.describe(key)
    for problem in problems:
        out.print(f"✗ {problem}", style="red")
    if problems:
        err.print(f"{where}: {len(problems)} problem(s); the record cannot be trusted")
        sys.exit(1)
    out.print(f"{where}: record.json and every file are as filed")


def _resolve(ref: str, store: str) -> tuple[RecordStore, str]:
    """A printed record folder names its own store; anything else is looked up
    in ``store``."""
    printed = split_location(ref)
    if printed is not None and (printed[0].startswith("s3://") or Path(ref).is_dir()):
        return RecordStore.open(printed[0]), printed[1]
    return RecordStore.open(store), ref
