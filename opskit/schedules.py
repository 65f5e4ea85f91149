"""Drill schedules: a ``drills.yaml`` says which notebook runs when, with what
parameters, at which tier and for whom. This module validates it (errors name
file, line and field), tells when each drill runs next and which are due, and
exports it for cron, systemd, Kubernetes or Airflow::

    defaults: {owner: platform-team, timezone: Europe/Berlin}
    drills:
      - name: restore-orders
        notebook: restore_drill
        parameters: {service: orders, backup_store: "s3://backups/orders"}
        schedule: "30 2 * * *"
        tier: critical
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from croniter import croniter
from pydantic import ValidationError

from opskit.drill_model import Drill, Schedule, ScheduleError, declared_names
from opskit.errors import InputError
from opskit.notebooks import find_notebook
from opskit.phases import utc_now
from opskit.records import resolve_store_location
from opskit.schedule_formats import FORMATS, ExportOptions, Job, write
from opskit.targets import load_tiers
from opskit.yamlfile import Location, explain, read_yaml, where

__all__ = [
    "Drill",
    "Schedule",
    "ScheduleError",
    "default_opskit_command",
    "drill_command",
    "due_drills",
    "export",
    "load_schedule",
    "next_runs",
]

logger = logging.getLogger(__name__)


def load_schedule(path: str | Path) -> Schedule:
    """Read and validate a drills file; raise ``ScheduleError`` naming the
    file, line and field of the first problem and what to do about it."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScheduleError(
            f"{source}: cannot be read ({exc}); check the path"
        ) from exc
    data, lines = read_yaml(text, str(source), ScheduleError)
    drills, defaults = _sections(data, lines, str(source))

    merged = [_merge(defaults, drill) for drill in drills]
    context = {"folder": source.absolute().parent, "tiers": load_tiers()}
    try:
        return Schedule.model_validate(
            {"drills": merged, "source": str(source)}, context=context
        )
    except ValidationError as exc:
        message = explain(
            exc,
            data,
            lines,
            str(source),
            kind="drill",
            relocate=lambda at: _relocate(at, drills, defaults),
        )
        raise ScheduleError(message) from exc


def next_runs(
    drill: Drill, count: int = 3, after: datetime | None = None
) -> list[datetime]:
    """The drill's next ``count`` run times after ``after`` (default now), in
    its time zone; a naive ``after`` is taken as UTC."""
    zone = ZoneInfo(drill.timezone)
    start = _aware(after or utc_now()).astimezone(zone)
    times = croniter(drill.cron, start)
    return [times.get_next(datetime) for _ in range(count)]


def due_drills(
    schedule: Schedule, *, now: datetime | None = None, since: datetime | None = None
) -> list[Drill]:
    """The enabled drills with a run time in (``since``, ``now``].

    ``since`` defaults to one minute before ``now``, cron's resolution, so a
    caller that asks every minute sees each run once. Naive times are UTC.
    """
    end = _aware(now or utc_now())
    start = _aware(since) if since is not None else end - timedelta(minutes=1)
    return [
        drill
        for drill in schedule.drills
        if drill.enabled and next_runs(drill, 1, start)[0] <= end
    ]


def drill_command(
    drill: Drill, *, opskit_command: str = "opskit", record_store: str
) -> list[str]:
    """The argument list that runs ``drill`` with ``opskit run``.

    Text goes as ``-r`` (never converted), numbers, booleans and null as
    ``-p``, lists, mappings and text with control characters as one ``-y``
    JSON mapping (JSON is YAML); the drill's tier is passed when the notebook
    takes one. ``record_store`` serves drills that name none.
    """
    parameters = dict(drill.parameters)
    if "tier" in declared_names(find_notebook(drill.notebook)):
        parameters.setdefault("tier", drill.tier)

    argv = [opskit_command, "run", drill.notebook]
    structured: dict[str, Any] = {}
    for name, value in parameters.items():
        if isinstance(value, str) and value.isprintable():
            argv += ["-r", name, value]
        elif value is None or isinstance(value, int | float):
            argv += ["-p", name, json.dumps(value) if value is not None else "none"]
        else:
            structured[name] = value
    if structured:
        argv += ["-y", _as_yaml(drill, structured)]
    return [*argv, "--record-store", drill.record_store or record_store]


def _as_yaml(drill: Drill, parameters: dict[str, Any]) -> str:
    """One-line JSON that ``opskit run -y`` reads back (with YAML) unchanged."""
    text = json.dumps(parameters, ensure_ascii=False)
    if yaml.safe_load(text) != parameters:
        raise InputError(
            f"drill {drill.name}: parameters {', '.join(parameters)} do not survive "
            "a command line as YAML; use plain text, numbers, lists and mappings"
        )
    return text


def default_opskit_command() -> str:
    """The absolute path of the ``opskit`` program running now, so exported
    files call the same installation from cron or systemd."""
    running = Path(sys.argv[0])
    if running.name == "opskit" and running.is_file():
        return str(running.absolute())
    beside = Path(sys.executable).parent / "opskit"
    if beside.is_file():
        return str(beside)
    raise InputError(
        "opskit: cannot find the opskit program beside this Python; give its "
        "absolute path with --opskit"
    )


def export(
    schedule: Schedule,
    fmt: str,
    out_dir: Path,
    *,
    opskit_command: str | None = None,
    record_store: str | None = None,
    image: str | None = None,
    user: str | None = None,
) -> list[Path]:
    """Write ``schedule`` for the scheduler ``fmt`` into ``out_dir`` and
    return the files written (see ``opskit.schedule_formats``).

    Drills call ``opskit_command`` (default: this opskit, by absolute path;
    ``opskit`` inside a Kubernetes ``image``) and file records in their
    ``record_store``, else in ``record_store`` (default $OPSKIT_RECORD_STORE
    or ``records``, made absolute). ``user`` runs cron and systemd jobs
    (default: whoever exports).
    """
    if fmt not in FORMATS:
        raise InputError(
            f"format {fmt!r}: not an export format; choose one of {', '.join(FORMATS)}"
        )
    command = opskit_command or (
        "opskit" if fmt == "kubernetes" else default_opskit_command()
    )
    store = _absolute_store(record_store)
    jobs = [
        Job(
            name=drill.name,
            cron=drill.cron,
            timezone=drill.timezone,
            argv=drill_command(drill, opskit_command=command, record_store=store),
            notebook=drill.notebook,
            record_store=drill.record_store or store,
            description=f"{Path(drill.notebook).stem}, tier {drill.tier}, "
            f"owner {drill.owner}",
            enabled=drill.enabled,
            owner=drill.owner,
            tier=drill.tier,
        )
        for drill in schedule.drills
    ]
    for drill in schedule.drills:
        if drill.notify:
            logger.warning(
                "drill %s: its notify URL is left out of the %s files, which "
                "others can read; give scheduled runs OPSKIT_NOTIFY_URL through "
                "their environment instead",
                drill.name,
                fmt,
            )
    source = Path(schedule.source)
    options = ExportOptions(
        source=str(source.absolute()) if source.is_file() else schedule.source,
        image=image,
        user=user,
    )
    written = write(fmt, jobs, Path(out_dir), options)
    logger.info("wrote %d %s files to %s", len(written), fmt, out_dir)
    return written


def _absolute_store(location: str | None) -> str:
    store = resolve_store_location(location)
    return store if "://" in store else str(Path(store).expanduser().absolute())


def _sections(
    data: Any, lines: dict[Location, int], source: str
) -> tuple[list[Any], dict[str, Any]]:
    """The raw drills list and defaults mapping, or a ``ScheduleError``."""
    if not isinstance(data, dict) or "drills" not in data:
        raise ScheduleError(
            f"{source}: a drills file is a mapping with a drills list (and "
            "optional defaults); see examples/drills.yaml"
        )
    for key in data:
        if key not in ("drills", "defaults"):
            raise ScheduleError(
                f"{where((str(key),), lines, source)}: {key}: not a drills-file "
                "section; write drills and, optionally, defaults"
            )
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict) or "name" in defaults:
        raise ScheduleError(
            f"{where(('defaults',), lines, source)}: defaults: a mapping of drill "
            "fields other than name"
        )
    drills = data["drills"]
    if not isinstance(drills, list) or not all(isinstance(d, dict) for d in drills):
        raise ScheduleError(
            f"{where(('drills',), lines, source)}: drills: a list of mappings, "
            "one per drill"
        )
    return drills, defaults


def _merge(defaults: dict[str, Any], drill: dict[str, Any]) -> dict[str, Any]:
    merged = {**defaults, **drill}
    if isinstance(defaults.get("parameters"), dict) and isinstance(
        drill.get("parameters", {}), dict
    ):
        merged["parameters"] = {**defaults["parameters"], **drill.get("parameters", {})}
    return merged


def _relocate(
    location: Location, drills: list[dict[str, Any]], defaults: dict[str, Any]
) -> Location:
    """Point an error in a drill at the defaults when the value came from there."""
    if len(location) < 3 or location[0] != "drills" or not isinstance(location[1], int):
        return location
    key = location[2]
    if key in drills[location[1]] or key not in defaults:
        return location
    return ("defaults", *location[2:])


def _aware(moment: datetime) -> datetime:
    return (
        moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo("UTC"))
    )
