"""``opskit review``: a security review with a grade, a record and an exit
code a CI gate can use (1 when a finding meets --fail-on)."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from opskit.cli.app import EXIT_CODES, cli, err, out, store_option
from opskit.errors import InputError
from opskit.records import Finding, RecordStatus, Severity
from opskit.security import formats
from opskit.security.envvars import CLIENT_PREFIXES
from opskit.security.review import MAX_CONNECTIONS, run_review


@cli.command()
@click.option(
    "--url",
    "urls",
    multiple=True,
    help="A URL whose headers, CSP, cookies and CORS are reviewed; repeat as needed.",
)
@click.option(
    "--env-file",
    "env_files",
    multiple=True,
    help="A .env file to check for client-exposed secrets.",
)
@click.option(
    "--process-env",
    is_flag=True,
    help="Also check this process's environment for client-exposed secrets.",
)
@click.option(
    "--build",
    default="",
    help="A built front-end folder to scan for secrets ('demo' writes a sample).",
)
@click.option(
    "--audit", "audits", multiple=True, help="npm audit, pip-audit or osv-scanner JSON."
)
@click.option("--lockfile", default="", help="package-lock.json to check offline.")
@click.option("--advisories", default="", help="OSV advisory file for --lockfile.")
@click.option(
    "--jwt",
    "tokens",
    multiple=True,
    envvar="OPSKIT_REVIEW_JWT",
    help="A JSON Web Token to check (or $OPSKIT_REVIEW_JWT).",
)
@click.option("--suppressions", default="", help="Suppression file (YAML).")
@click.option("--allowlist", default="", help="Fingerprints of accepted secret hits.")
@click.option(
    "--client-prefix",
    "prefixes",
    multiple=True,
    help="Client-exposed env prefixes (default VITE_, REACT_APP_, NEXT_PUBLIC_).",
)
@click.option(
    "--fail-on",
    type=click.Choice([s.value for s in Severity], case_sensitive=False),
    default="high",
    show_default=True,
    help="Lowest severity that fails.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "sarif", "junit"]),
    default="table",
    show_default=True,
    help="What goes to stdout (or --output).",
)
@click.option(
    "--output", type=click.Path(dir_okay=False), help="Write the report here."
)
@click.option(
    "--timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds per HTTP request.",
)
@click.option(
    "--connections",
    type=click.IntRange(1, MAX_CONNECTIONS),
    default=MAX_CONNECTIONS,
    show_default=True,
    help="Requests in flight at once; lower it for servers with a small backlog.",
)
@click.option(
    "--name", default="", help="Name of the record (default: the first host)."
)
@store_option
def review(
    urls: tuple[str, ...],
    env_files: tuple[str, ...],
    process_env: bool,
    build: str,
    audits: tuple[str, ...],
    lockfile: str,
    advisories: str,
    tokens: tuple[str, ...],
    suppressions: str,
    allowlist: str,
    prefixes: tuple[str, ...],
    fail_on: str,
    fmt: str,
    output: str | None,
    timeout: float,
    connections: int,
    name: str,
    store: str,
) -> None:
    """Review a site, a build, env files, audits and tokens; grade the findings."""
    result = run_review(
        name=name,
        urls=urls,
        env_files=env_files,
        process_env=process_env,
        build=build,
        audits=audits,
        lockfile=lockfile,
        advisories=advisories,
        tokens=tokens,
        suppressions=suppressions,
        allowlist=allowlist,
        fail_on=fail_on.lower(),
        timeout=timeout,
        connections=connections,
        client_prefixes=prefixes or CLIENT_PREFIXES,
    )
    location = result.file(store)

    broke = result.record.reason if result.status is RecordStatus.ERROR else ""
    writers: dict[str, Callable[[], str]] = {
        "json": lambda: formats.to_json(result.findings, result.grade, broke),
        "sarif": lambda: formats.to_sarif(result.findings, broke),
        "junit": lambda: formats.to_junit(
            result.findings, Severity(fail_on.lower()), broke
        ),
        "table": lambda: _table_text(result.findings) + "\n" + result.summary(),
    }
    report = writers[fmt]
    if output:
        try:
            Path(output).write_text(report() + "\n", encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"--output {output}: cannot write the report ({exc.strerror}); the "
                f"review itself is filed at {location}"
            ) from exc
    elif fmt == "table":
        out.print(_table(result.findings))
    else:
        click.echo(report())
    for unused in result.record.details.get("unused_suppressions", []):
        err.print(f"unused suppression: {unused} matched no finding", style="yellow")
    err.print(result.summary())
    err.print(f"record: {location}")
    sys.exit(EXIT_CODES[result.status])


def _table_text(findings: list[Finding]) -> str:
    """The findings table as plain text, for --output."""
    text = io.StringIO()
    Console(file=text, width=200, highlight=False, markup=False).print(_table(findings))
    return text.getvalue().rstrip()


def _table(findings: list[Finding]) -> Table:
    table = Table("severity", "check", "id", "title", "where", "evidence", "suppressed")
    for f in sorted(findings, key=lambda f: (-f.severity.rank, f.check, f.id)):
        table.add_row(
            f.severity.value,
            f.check,
            f.id,
            f.title,
            f.location,
            f.evidence,
            f.suppressed,
        )
    return table
