"""Running a fleet of drills: every due drill of a ``drills.yaml`` in
parallel worker processes, each through ``opskit run`` (so each files its own
record, notebook and HTML), then one summary and a JUnit XML file with one
test case per drill for CI systems.

>>> results = run_fleet(load_schedule("drills.yaml"), workers=4)
>>> [r.status for r in results]
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree

from opskit.errors import OpskitError, ParameterError
from opskit.phases import utc_now
from opskit.record_store import RecordStore, resolve_store_location
from opskit.records import (
    Check,
    CheckStatus,
    Record,
    RecordStatus,
    current_environment,
    started_by,
)
from opskit.schedules import Drill, Schedule, drill_command

logger = logging.getLogger(__name__)

KIND = "fleet"
OUTPUT_TAIL = 2000


@dataclass(frozen=True)
class FleetResult:
    """How one drill of the fleet ended, and where its record is."""

    drill: str
    notebook: str
    status: RecordStatus
    seconds: float
    location: str = ""
    reason: str = ""


def run_fleet(
    drills: Sequence[Drill],
    *,
    workers: int = 2,
    record_store: str | Path | None = None,
    cell_timeout: int | None = None,
    on_done: Callable[[FleetResult], None] | None = None,
) -> list[FleetResult]:
    """Run ``drills`` with at most ``workers`` at once; results in the order
    given. A drill that cannot even start is an ``error`` result, never an
    exception, so one broken drill never stops the others; Ctrl-C or SIGTERM
    stops the running drills (each files an aborted record) and the rest are
    returned as aborted."""
    if workers < 1:
        raise ParameterError(f"workers: {workers} is not a count; give 1 or more")
    store = resolve_store_location(record_store)
    stopping = threading.Event()
    running: dict[int, subprocess.Popen[str]] = {}
    lock = threading.Lock()

    def one(drill: Drill) -> FleetResult:
        result = _run_one(drill, store, cell_timeout, stopping, running, lock)
        if on_done is not None:
            on_done(result)
        return result

    pool = ThreadPoolExecutor(max_workers=workers)
    futures = [pool.submit(one, drill) for drill in drills]
    try:
        for future in futures:
            future.result()
    except KeyboardInterrupt:
        logger.warning("fleet run interrupted; stopping the running drills")
        stopping.set()
        with lock:
            for process in running.values():
                process.send_signal(signal.SIGTERM)
    pool.shutdown(wait=True)
    return [
        future.result()
        if future.done() and not future.cancelled() and future.exception() is None
        else FleetResult(
            drill.name,
            drill.notebook,
            RecordStatus.ABORTED,
            0.0,
            reason="not finished: the fleet run was interrupted",
        )
        for drill, future in zip(drills, futures, strict=True)
    ]


def command_for(drill: Drill, store: str, cell_timeout: int | None = None) -> list[str]:
    """The ``opskit run`` command line of one drill, run by this Python."""
    argv = drill_command(drill, opskit_command="opskit", record_store=store)
    command = [sys.executable, "-m", "opskit", *argv[1:]]
    if cell_timeout:
        command += ["--cell-timeout", str(cell_timeout)]
    return command


def junit_xml(results: Sequence[FleetResult], name: str = "opskit fleet") -> str:
    """A JUnit XML report: one test case per drill; failed drills are
    failures, broken ones errors."""
    suite = ElementTree.Element(
        "testsuite",
        name=name,
        tests=str(len(results)),
        failures=str(sum(r.status is RecordStatus.FAILED for r in results)),
        errors=str(
            sum(r.status in (RecordStatus.ERROR, RecordStatus.ABORTED) for r in results)
        ),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for result in results:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=f"opskit.{result.notebook}",
            name=result.drill,
            time=f"{result.seconds:.3f}",
        )
        if result.status is not RecordStatus.PASSED:
            tag = "failure" if result.status is RecordStatus.FAILED else "error"
            problem = ElementTree.SubElement(case, tag, message=result.reason[:500])
            problem.text = result.reason
        if result.location:
            ElementTree.SubElement(case, "system-out").text = result.location
    ElementTree.indent(suite)
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _environment(drill: Drill) -> dict[str, str]:
    """The drill's process environment: who started it, and its webhook (kept
    off the command line, where other users of the host could read it)."""
    env = {**os.environ, "OPSKIT_STARTED_BY": f"opskit fleet: {drill.name}"}
    if drill.notify:
        env["OPSKIT_NOTIFY_URL"] = drill.notify
    return env


def _run_one(
    drill: Drill,
    store: str,
    cell_timeout: int | None,
    stopping: threading.Event,
    running: dict[int, subprocess.Popen[str]],
    lock: threading.Lock,
) -> FleetResult:
    started = time.monotonic()
    if stopping.is_set():
        return FleetResult(
            drill.name,
            drill.notebook,
            RecordStatus.ABORTED,
            0.0,
            reason="not started: the fleet run was interrupted",
        )
    try:
        command = command_for(drill, store, cell_timeout)
    except OpskitError as exc:
        return FleetResult(
            drill.name, drill.notebook, RecordStatus.ERROR, 0.0, reason=str(exc)
        )
    logger.info("drill %s: %s", drill.name, " ".join(command[3:5]))
    try:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=_environment(drill),
        )
    except OSError as exc:
        return FleetResult(
            drill.name,
            drill.notebook,
            RecordStatus.ERROR,
            0.0,
            reason=f"cannot start opskit: {exc}",
        )
    with lock:
        running[process.pid] = process
    try:
        out, errors = process.communicate()
    finally:
        with lock:
            running.pop(process.pid, None)
    seconds = time.monotonic() - started

    location = out.strip().splitlines()[-1] if out.strip() else ""
    if not location:
        reason = errors.strip()[-OUTPUT_TAIL:] or f"exit status {process.returncode}"
        return FleetResult(
            drill.name, drill.notebook, RecordStatus.ERROR, seconds, reason=reason
        )
    record = RecordStore.open(drill.record_store or store).load(location).record
    return FleetResult(
        drill.name, drill.notebook, record.status, seconds, location, record.reason
    )


def fleet_record(
    schedule: Schedule,
    results: Sequence[FleetResult],
    started_at: datetime,
    workers: int,
) -> Record:
    """The fleet run as a record of kind ``fleet``: one check per drill. The
    next fleet run counts drills as due from its start."""
    failed = [r for r in results if r.status is not RecordStatus.PASSED]
    return Record(
        kind=KIND,
        name=Path(schedule.source).stem,
        started_by=started_by(),
        started_at=started_at,
        ended_at=utc_now(),
        status=RecordStatus.FAILED if failed else RecordStatus.PASSED,
        reason=f"{len(failed)} of {len(results)} drills did not pass: "
        + ", ".join(f"{r.drill} ({r.status.value})" for r in failed)
        if failed
        else "",
        parameters={"drills_file": schedule.source, "workers": workers},
        measurements={
            "drills": len(results),
            "passed": len(results) - len(failed),
            "drill_seconds": round(sum(r.seconds for r in results), 3),
        },
        checks=[
            Check(
                name=r.drill,
                status=CheckStatus.PASSED
                if r.status is RecordStatus.PASSED
                else CheckStatus.FAILED,
                expected="passed",
                actual=r.status.value,
                detail=r.location or r.reason[:300],
            )
            for r in results
        ],
        environment=current_environment(),
    )


def last_fleet_run(store: RecordStore, schedule: Schedule) -> datetime | None:
    """When the last fleet run of this drills file started, if any."""
    name = Path(schedule.source).stem
    runs = store.find(kind=KIND, name=name)
    return runs[-1].record.started_at if runs else None
