"""Files that schedule drills, one writer per scheduler, each installed as it
is written (the install step is in every file's header and in ``INSTALL``).

- ``cron``: one ``/etc/cron.d`` file (a user field after the time), the
  drills grouped under ``CRON_TZ=`` lines, which cronie honours.
- ``systemd``: a ``.service`` and a ``.timer`` per drill.
- ``kubernetes``: a batch/v1 CronJob manifest per drill.
- ``airflow``: one DAG file, a DAG per drill with one task running it.

A disabled drill can still be run by hand but is never scheduled: its cron
line is commented out, it gets no timer, its CronJob is suspended and its DAG
has no schedule. Secrets (``OPSKIT_NOTIFY_URL``, S3 credentials) never go into
these files: systemd units read ``/etc/opskit/drills.env`` when it exists, pods
the Secret ``opskit-drills``, and Airflow tasks their worker's environment.
"""

from __future__ import annotations

import getpass
import logging
import pprint
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from opskit import __version__
from opskit.cron import to_oncalendar
from opskit.errors import InputError

logger = logging.getLogger(__name__)

CRON_FILE = "opskit-drills"
AIRFLOW_FILE = "opskit_drills.py"
DEFAULT_IMAGE = f"opskit:{__version__}"
ENV_FILE = "/etc/opskit/drills.env"  # systemd: OPSKIT_NOTIFY_URL, AWS_* and such
SECRET = "opskit-drills"  # Kubernetes: the same, as a Secret

_INSTALL_HERE = {
    "cron": "sudo install -o root -m 644 opskit-drills /etc/cron.d/",
    "kubernetes": "kubectl apply -f <this file or its folder>",
    "airflow": "copy this file into Airflow's dags_folder",
}
INSTALL = {
    "cron": "sudo install -o root -m 644 {out}/opskit-drills /etc/cron.d/",
    "systemd": "sudo cp {out}/*.service {out}/*.timer /etc/systemd/system/ && "
    "sudo systemctl daemon-reload && sudo systemctl enable --now {timers}",
    "kubernetes": "kubectl apply -f {out}",
    "airflow": 'cp {out}/opskit_drills.py "$(airflow config get-value core '
    'dags_folder)"',
}


@dataclass(frozen=True)
class Job:
    """One drill as a scheduler sees it: when, and the command to run."""

    name: str
    cron: str
    timezone: str
    argv: list[str]
    notebook: str
    record_store: str
    description: str
    enabled: bool
    owner: str
    tier: str


@dataclass(frozen=True)
class ExportOptions:
    """What the writers need beyond the jobs: the drills file they came from,
    the container image (Kubernetes) and the user (cron, systemd)."""

    source: str
    image: str | None = None
    user: str | None = None


Writer = Callable[[list[Job], Path, ExportOptions], list[Path]]


def write(
    fmt: str, jobs: list[Job], out_dir: Path, options: ExportOptions
) -> list[Path]:
    """Write ``jobs`` in format ``fmt`` into ``out_dir``; return the files.

    Raises ``InputError`` when the folder cannot be written or the user is
    not a valid user name."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        return FORMATS[fmt](jobs, out_dir, options)
    except OSError as exc:
        raise InputError(
            f"out {out_dir}: cannot write the {fmt} files ({exc.strerror}); "
            "choose another folder"
        ) from exc


def install_hint(fmt: str, out_dir: Path, written: list[Path]) -> str:
    """The shell command that installs the ``written`` export from ``out_dir``."""
    timers = " ".join(path.name for path in written if path.suffix == ".timer")
    return INSTALL[fmt].format(out=shlex.quote(str(out_dir)), timers=timers)


def write_cron(jobs: list[Job], out_dir: Path, options: ExportOptions) -> list[Path]:
    """One ``/etc/cron.d`` file; cron runs the line through ``/bin/sh``, so
    arguments are shell-quoted and ``%`` (a line break to cron) escaped."""
    user = _user(options)
    lines = [
        *_header("cron", options.source, _INSTALL_HERE["cron"]),
        "# Format: /etc/cron.d (five time fields, then the user). Times are in",
        "# the zone of the CRON_TZ line above them, which cronie honours;",
        "# Debian's cron ignores CRON_TZ and uses the system time zone.",
        "SHELL=/bin/sh",
    ]
    _warn_about_zones(jobs)
    zone = None
    for job in jobs:
        if job.timezone != zone:
            zone = job.timezone
            lines += ["", f"CRON_TZ={zone}"]
        command = shlex.join(job.argv).replace("%", "\\%")
        line = f"{job.cron} {user} {command}"
        lines += [f"# {job.name}: {job.description}"]
        lines += [line if job.enabled else f"# disabled: {line}"]
    path = out_dir / CRON_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [path]


def write_systemd(jobs: list[Job], out_dir: Path, options: ExportOptions) -> list[Path]:
    """A oneshot ``.service`` per drill (its environment from ``ENV_FILE`` when
    that exists) and, for enabled drills, a ``.timer`` with
    ``Persistent=true`` (a run missed while the machine was off happens at
    the next boot)."""
    user = _user(options)
    written = []
    for job in jobs:
        unit = _unit(job)
        service = out_dir / f"{unit}.service"
        service.write_text(_service(job, user, options.source), encoding="utf-8")
        written.append(service)
        if job.enabled:
            timer = out_dir / f"{unit}.timer"
            timer.write_text(_timer(job, options.source), encoding="utf-8")
            written.append(timer)
    return written


def write_kubernetes(
    jobs: list[Job], out_dir: Path, options: ExportOptions
) -> list[Path]:
    """A batch/v1 CronJob per drill: no overlapping runs, no retries, the
    drill's time zone; the pod reads extra environment (S3 credentials,
    ``OPSKIT_*``) from the Secret ``opskit-drills`` when it exists."""
    written = []
    for job in jobs:
        _warn_about_pod_paths(job)
        path = out_dir / f"{_unit(job)}.yaml"
        text = yaml.safe_dump(_cronjob(job, options), sort_keys=False, width=1000)
        path.write_text(
            "\n".join(
                _header("kubernetes", options.source, _INSTALL_HERE["kubernetes"])
            )
            + "\n"
            + text,
            encoding="utf-8",
        )
        written.append(path)
    return written


def write_airflow(jobs: list[Job], out_dir: Path, options: ExportOptions) -> list[Path]:
    """One DAG file. Airflow schedules DAGs, not tasks, so each drill is a DAG
    of its own (its schedule, time zone and owner) with one BashOperator task
    that runs ``opskit run``, which executes the notebook through papermill."""
    table = pprint.pformat([_dag_entry(job) for job in jobs], sort_dicts=False)
    header = "\n".join(_header("airflow", options.source, _INSTALL_HERE["airflow"]))
    text = _AIRFLOW_TEMPLATE.format(header=header, drills=table)
    path = out_dir / AIRFLOW_FILE
    path.write_text(text, encoding="utf-8")
    compile(text, str(path), "exec")
    return [path]


def systemd_quote(argument: str) -> str:
    """Quote one ``ExecStart=`` argument: double quotes with C escapes when
    needed, ``%%`` for a percent sign and ``$$`` for a dollar sign."""
    if re.fullmatch(r"[A-Za-z0-9_@+=:,./-]+", argument):
        return argument
    escaped = (
        argument.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\t", "\\t")
        .replace("%", "%%")
        .replace("$", "$$")
    )
    return f'"{escaped}"'


def _user(options: ExportOptions) -> str:
    user = options.user or getpass.getuser()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", user):
        raise InputError(
            f"user {user!r}: not a user name cron and systemd accept; give a "
            "login name such as drills"
        )
    return user


def _warn_about_zones(jobs: list[Job]) -> None:
    """Debian's cron ignores CRON_TZ: say so when it would shift a drill."""
    here = datetime.now().astimezone()
    for job in jobs:
        there = here.astimezone(ZoneInfo(job.timezone))
        if there.utcoffset() != here.utcoffset():
            logger.warning(
                "cron: drill %s runs at %s in %s through CRON_TZ, which cronie "
                "honours; Debian's cron ignores it and would use this machine's "
                "zone (%s): there, use --format systemd",
                job.name,
                job.cron,
                job.timezone,
                here.tzname(),
            )


def _warn_about_pod_paths(job: Job) -> None:
    """A pod sees its image's files, not this machine's."""
    if "://" not in job.record_store:
        logger.warning(
            "kubernetes: drill %s files records in the folder %s, which is gone "
            "with the pod; give the drill an s3:// record_store",
            job.name,
            job.record_store,
        )
    if job.notebook.endswith(".ipynb"):
        logger.warning(
            "kubernetes: drill %s runs the notebook %s, which the image %s",
            job.name,
            job.notebook,
            "must hold at that path",
        )


def _systemd_install(job: Job) -> str:
    files = f"{_unit(job)}.service" + (f" {_unit(job)}.timer" if job.enabled else "")
    enable = (
        f" && sudo systemctl enable --now {_unit(job)}.timer" if job.enabled else ""
    )
    return (
        f"sudo cp {files} /etc/systemd/system/ && sudo systemctl daemon-reload" + enable
    )


def _unit(job: Job) -> str:
    return f"opskit-drill-{job.name}"


def _header(fmt: str, source: str, install: str) -> list[str]:
    return [
        f"# opskit drills from {source}, written by "
        f"`opskit schedule export --format {fmt}`.",
        "# Export again after changing the drills file rather than editing this one.",
        f"# Install: {install}",
    ]


def _service(job: Job, user: str, source: str) -> str:
    exec_start = " ".join(systemd_quote(arg) for arg in job.argv)
    note = "" if job.enabled else "# Disabled: no timer; start it by hand.\n"
    return (
        "\n".join(_header("systemd", source, _systemd_install(job)))
        + f"\n{note}[Unit]\nDescription=opskit drill {job.name} ({job.description})\n"
        "Wants=network-online.target\nAfter=network-online.target\n\n"
        "[Service]\nType=oneshot\n"
        f"User={user}\nWorkingDirectory=~\nEnvironmentFile=-{ENV_FILE}\n"
        f"ExecStart={exec_start}\n"
    )


def _timer(job: Job, source: str) -> str:
    calendar = "".join(
        f"OnCalendar={value}\n" for value in to_oncalendar(job.cron, job.timezone)
    )
    return (
        "\n".join(_header("systemd", source, _systemd_install(job)))
        + f"\n# cron: {job.cron} ({job.timezone})\n"
        f"[Unit]\nDescription=Schedule of opskit drill {job.name}\n\n"
        f"[Timer]\n{calendar}Persistent=true\nUnit={_unit(job)}.service\n\n"
        "[Install]\nWantedBy=timers.target\n"
    )


def _cronjob(job: Job, options: ExportOptions) -> dict[str, object]:
    labels = {
        "app.kubernetes.io/name": "opskit",
        "app.kubernetes.io/component": "drill",
        "opskit/drill": job.name,
    }
    annotations = {"opskit/owner": job.owner, "opskit/tier": job.tier}
    container = {
        "name": "drill",
        "image": options.image or DEFAULT_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": job.argv,
        "envFrom": [{"secretRef": {"name": SECRET, "optional": True}}],
    }
    pod = {"restartPolicy": "Never", "containers": [container]}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": _unit(job), "labels": labels, "annotations": annotations},
        "spec": {
            "schedule": job.cron,
            "timeZone": job.timezone,
            "concurrencyPolicy": "Forbid",
            "suspend": not job.enabled,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "backoffLimit": 0,
                    "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
                },
            },
        },
    }


def _dag_entry(job: Job) -> dict[str, object]:
    command = shlex.join(job.argv)
    if re.search(r"\{[{%#]", command):
        # BashOperator renders its command with Jinja: keep ours literal.
        command = "{% raw %}" + command + "{% endraw %}"
    elif command.endswith((".sh", ".bash")):
        command += " "  # else BashOperator reads it as a template file
    return {
        "dag_id": f"opskit-{job.name}",
        "task_id": job.name,
        "description": f"opskit drill {job.name}: {job.description}",
        "cron": job.cron if job.enabled else None,
        "timezone": job.timezone,
        "owner": job.owner,
        "tier": job.tier,
        "bash_command": command,
    }


_AIRFLOW_TEMPLATE = '''{header}
"""opskit drills for Airflow: one DAG per drill, each with one task.

Airflow schedules DAGs, not tasks, so every drill keeps its own schedule, time
zone, owner and history. The task runs `opskit run`, which executes the
notebook through papermill and files the executed notebook, its HTML and the
record; it fails when the drill misses a target (exit 1) or breaks (exit 2).
"""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
try:
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2 without the standard provider
    from airflow.operators.bash import BashOperator
try:
    from airflow.sdk import CronTriggerTimetable
except ImportError:  # Airflow before 3.1
    from airflow.timetables.trigger import CronTriggerTimetable

DRILLS = {drills}

for drill in DRILLS:
    with DAG(
        dag_id=drill["dag_id"],
        description=drill["description"],
        schedule=(
            CronTriggerTimetable(drill["cron"], timezone=drill["timezone"])
            if drill["cron"]
            else None
        ),
        start_date=pendulum.datetime(2024, 1, 1, tz=drill["timezone"]),
        catchup=False,
        max_active_runs=1,
        tags=["opskit", "tier:" + drill["tier"]],
        default_args={{"owner": drill["owner"], "retries": 0}},
    ) as dag:
        BashOperator(task_id=drill["task_id"], bash_command=drill["bash_command"])
    globals()[drill["dag_id"]] = dag
'''


FORMATS: dict[str, Writer] = {
    "cron": write_cron,
    "systemd": write_systemd,
    "kubernetes": write_kubernetes,
    "airflow": write_airflow,
}
