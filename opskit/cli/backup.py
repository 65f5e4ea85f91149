"""``opskit backup``: create, list, verify and prune backups."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from opskit.backups.engine import engine_names
from opskit.backups.retention import RetentionPolicy, plan_retention
from opskit.backups.store import BackupStore, create_backup
from opskit.cli.app import cli as root
from opskit.cli.app import err, out
from opskit.errors import OpskitError
from opskit.phases import utc_now
from opskit.targets import format_duration

backup_store_option = click.option(
    "--store",
    "store",
    envvar="OPSKIT_BACKUP_STORE",
    show_envvar=True,
    required=True,
    help="Backup store: a folder or s3://bucket/prefix.",
)


@root.group()
def backup() -> None:
    """Create, list, verify and prune backups.

    S3 stores use boto3's credentials; set OPSKIT_S3_ENDPOINT_URL for an
    S3-compatible server.
    """


@backup.command("create")
@click.argument("source")
@backup_store_option
@click.option(
    "--engine",
    type=click.Choice(["auto", *engine_names()]),
    default="auto",
    show_default=True,
    help="auto: postgres for a DSN, directory for a folder, else sqlite.",
)
@click.option(
    "--freshness-query",
    default="",
    help="SQL returning the newest data time, stored in the manifest.",
)
@click.option("--exclude", multiple=True, help="Folder backups: a glob to leave out.")
@click.option(
    "--compression", type=click.IntRange(0, 9), help="Compression level, 0 for none."
)
def create_command(
    source: str,
    store: str,
    engine: str,
    freshness_query: str,
    exclude: tuple[str, ...],
    compression: int | None,
) -> None:
    """Back up SOURCE (a SQLite file, a PostgreSQL DSN or a folder) into a store."""
    chosen = detect_engine(source) if engine == "auto" else engine
    with err.status(f"backing up with the {chosen} engine ..."):
        manifest = create_backup(
            source,
            store,
            engine=chosen,
            freshness_query=freshness_query,
            exclude=exclude,
            compression=compression,
        )
    out.print(manifest.backup_id)
    holds = (
        f"{manifest.engine_info.get('files', 0):,} files"
        if manifest.engine == "directory"
        else f"{sum(manifest.tables.values()):,} rows"
    )
    err.print(
        f"{manifest.engine} backup of {manifest.source}: {manifest.size:,} bytes in "
        f"{len(manifest.components)} component(s), {holds}"
    )


@backup.command("list")
@backup_store_option
def list_command(store: str) -> None:
    """List the backups in a store, oldest first, with age, size and engine."""
    backups = BackupStore.open(store)
    manifests, problems = backups.manifests()
    now = utc_now()
    table = Table("backup id", "taken (UTC)", "age", "engine", "bytes", "source")
    for m in manifests:
        age = format_duration((now - m.taken_at).total_seconds())
        table.add_row(
            m.backup_id,
            f"{m.taken_at:%Y-%m-%d %H:%M:%S}",
            age,
            m.engine,
            f"{m.size:,}",
            m.source,
        )
    out.print(table)
    for problem in problems:
        err.print(f"unreadable {problem.backup_id}: {problem.reason}", style="red")
    _warn_incomplete(backups)
    err.print(f"{len(manifests)} backup(s) in {store}")


@backup.command("verify")
@click.argument("backup_ids", nargs=-1)
@backup_store_option
def verify_command(backup_ids: tuple[str, ...], store: str) -> None:
    """Download BACKUP_IDS (default: every backup) and check their sha256 and
    sizes against the manifests, without restoring. Exits 1 on any problem."""
    backups = BackupStore.open(store)
    known = backups.backup_ids()
    for unknown in set(backup_ids) - set(known):
        backups.find(unknown)  # raises NotFoundError naming it and close matches
    ids = list(backup_ids) or known
    failures = 0
    for backup_id in ids:
        try:
            with err.status(f"verifying {backup_id} ..."):
                backups.check(backups.find(backup_id))
        except OpskitError as exc:
            failures += 1
            out.print(f"✗ {backup_id}: {exc}", style="red")
        else:
            out.print(f"✓ {backup_id}")
    _warn_incomplete(backups)
    err.print(f"{len(ids) - failures} of {len(ids)} backup(s) verified in {store}")
    if failures:
        sys.exit(1)


@backup.command("prune")
@backup_store_option
@click.option("--daily", type=int, default=30, show_default=True, help="Days to keep.")
@click.option("--weekly", type=int, default=12, show_default=True, help="ISO weeks.")
@click.option("--monthly", type=int, default=12, show_default=True, help="Months.")
@click.option("--yearly", type=int, default=0, show_default=True, help="Years.")
@click.option(
    "--timezone", default="UTC", show_default=True, help="Zone that periods follow."
)
@click.option(
    "--apply", is_flag=True, help="Delete the pruned backups (default: plan)."
)
def prune_command(
    store: str,
    daily: int,
    weekly: int,
    monthly: int,
    yearly: int,
    timezone: str,
    apply: bool,
) -> None:
    """Show which backups a retention policy keeps and why; delete with --apply."""
    policy = RetentionPolicy(daily, weekly, monthly, yearly, timezone)
    backups = BackupStore.open(store)
    manifests = {m.backup_id: m for m in backups.manifests()[0]}
    plan = plan_retention(
        [(m.backup_id, m.taken_at) for m in manifests.values()], policy
    )

    table = Table("backup id", "taken (UTC)", "decision", "why")
    for d in plan.decisions:
        verdict = "keep" if d.keep else "prune"
        table.add_row(
            d.backup_id, f"{d.taken_at:%Y-%m-%d %H:%M}", verdict, "; ".join(d.reasons)
        )
    out.print(table)

    _warn_incomplete(backups)
    if not apply:
        err.print(
            f"plan: keep {len(plan.kept)}, prune {len(plan.pruned)}; "
            "nothing deleted (run again with --apply to delete)"
        )
        return
    for decision in plan.pruned:
        backups.delete(manifests[decision.backup_id])
    err.print(f"kept {len(plan.kept)}, deleted {len(plan.pruned)} backup(s)")


def _warn_incomplete(backups: BackupStore) -> None:
    for backup_id in backups.incomplete_ids():
        err.print(
            f"incomplete {backup_id}: components without manifest.json (still being "
            "written, or broken off); never drilled or pruned, remove it by hand",
            style="yellow",
        )


def detect_engine(source: str) -> str:
    """Guess the engine from SOURCE: a DSN, a folder, or a SQLite file."""
    if source.startswith(("postgresql://", "postgres://")) or "dbname=" in source:
        return "postgres"
    if Path(source).expanduser().is_dir():
        return "directory"
    return "sqlite"
