"""The restore drill: find a backup, fetch and verify it, restore it into a
scratch target, validate the copy, and judge RTO and RPO against a tier.

``run_drill`` never raises for an expected outcome: a refused backup, a failed
check or bad input all come back as a result whose record says why.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opskit.backups.engine import (
    Engine,
    RestoreOptions,
    Validation,
    check_sql_checks,
    get_engine,
)
from opskit.backups.manifest import Manifest
from opskit.backups.result import DrillResult
from opskit.backups.store import LATEST, BackupStore, verify_component
from opskit.errors import CheckFailed, OpskitError, ParameterError, first_problem
from opskit.phases import PhaseTimer, utc_now
from opskit.records import (
    CheckStatus,
    Record,
    RecordStatus,
    current_environment,
    mask_parameters,
    mask_text,
    started_by,
)
from opskit.storage.interface import HashingReader
from opskit.targets import Tier, compare_targets, get_tier

logger = logging.getLogger(__name__)

KIND = "restore-drill"
DEMO_STORE = "demo"
# Newest data this far after the drill start is taken as clock skew (RPO 0).
CLOCK_SKEW_SECONDS = 60.0


class DrillParameters(BaseModel):
    """The parameters of a drill, checked strictly: ``tier=5`` is refused."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    service: str = Field(min_length=1)
    backup_store: str = Field(min_length=1)
    backup_id: str = LATEST
    scratch: str = ""
    tier: str = "standard"
    freshness_query: str = ""
    keep_scratch: bool = False
    restore_jobs: int = Field(default=1, ge=1, le=64)
    sql_checks: dict[str, Any] = {}
    s3_endpoint_url: str = ""


@dataclass
class _Outcome:
    manifest: Manifest | None = None
    tier: Tier | None = None
    target: str = ""
    validation: Validation | None = None
    measurements: dict[str, Any] = field(default_factory=dict)


def run_drill(
    *,
    service: Any,
    backup_store: Any,
    backup_id: Any = LATEST,
    scratch: Any = "",
    tier: Any = "standard",
    freshness_query: Any = "",
    keep_scratch: Any = False,
    restore_jobs: Any = 1,
    sql_checks: Any = None,
    s3_endpoint_url: Any = "",
) -> DrillResult:
    """Run one restore drill and return its result, whatever the outcome.

    >>> result = run_drill(service="orders", backup_store="backups", tier="critical")
    >>> result.file("records")
    """
    raw = {
        "service": service,
        "backup_store": backup_store,
        "backup_id": backup_id,
        "scratch": scratch,
        "tier": tier,
        "freshness_query": freshness_query,
        "keep_scratch": keep_scratch,
        "restore_jobs": restore_jobs,
        "sql_checks": {} if sql_checks is None else sql_checks,
        "s3_endpoint_url": s3_endpoint_url,
    }
    timer, outcome = PhaseTimer(), _Outcome()
    logger.info("restore drill of %s started", service)

    demo_folder = None
    try:
        params = parse_drill_parameters(raw)
        params, demo_folder = _resolve_demo(params)
        timer = PhaseTimer()  # the drill starts once its inputs are ready
        _drill(params, timer, outcome)
        status, reason = _judge(outcome)
    except CheckFailed as exc:
        status, reason = RecordStatus.FAILED, str(exc)
    except OpskitError as exc:
        status, reason = RecordStatus.ERROR, str(exc)
    except KeyboardInterrupt:
        status, reason = RecordStatus.ABORTED, "interrupted before it finished"
    except Exception as exc:
        logger.exception("restore drill of %s broke", service)
        status, reason = RecordStatus.ERROR, f"unexpected {type(exc).__name__}: {exc}"
    finally:
        if demo_folder is not None:
            shutil.rmtree(demo_folder, ignore_errors=True)

    record = _record(raw, timer, outcome, status, reason)
    logger.info(
        "restore drill of %s %s in %.2f s", service, status.value, timer.elapsed()
    )
    return DrillResult(record=record, manifest=outcome.manifest)


def parse_drill_parameters(raw: dict[str, Any]) -> DrillParameters:
    """Check drill parameters; a wrong one is a ``ParameterError`` that names it."""
    try:
        return DrillParameters.model_validate(raw)
    except ValidationError as exc:
        name, message = first_problem(exc)
        value = raw.get(name)
        advice = "pass it as in the notebook's parameters cell"
        if name == "sql_checks" and isinstance(value, str):
            advice = "with opskit run, pass a mapping with -y '{sql_checks: {...}}'"
        elif isinstance(value, int | float) and "string" in message:
            advice = "for text that looks like a number, use opskit run -r NAME VALUE"
        raise ParameterError(
            f"parameter {name}: {message.lower()}, got {value!r} "
            f"({type(value).__name__}); {advice}"
        ) from exc


def _resolve_demo(params: DrillParameters) -> tuple[DrillParameters, Path | None]:
    """Swap the ``demo`` backup store for a freshly made demo in a temporary
    folder, which the caller removes after the drill."""
    if params.backup_store != DEMO_STORE:
        return params, None
    if params.service != DEMO_STORE:
        raise ParameterError(
            f"backup_store: 'demo' drills the embedded sample database, not "
            f"{params.service!r}; pass backup_store as the folder or s3:// location "
            "that holds this service's backups"
        )
    from opskit.demo import prepare_demo

    folder = Path(tempfile.mkdtemp(prefix="opskit-demo-"))
    demo = prepare_demo(folder)
    resolved = params.model_copy(
        update={
            "backup_store": str(demo.backup_store),
            "freshness_query": params.freshness_query or demo.freshness_query,
        }
    )
    return resolved, folder


def _drill(params: DrillParameters, timer: PhaseTimer, outcome: _Outcome) -> None:
    outcome.tier = get_tier(params.tier)
    options = RestoreOptions(
        scratch=params.scratch,
        jobs=params.restore_jobs,
        freshness_query=params.freshness_query,
        sql_checks=check_sql_checks(params.sql_checks),
    )

    with timer.phase("locate"):
        store = BackupStore.open(
            params.backup_store, endpoint_url=params.s3_endpoint_url
        )
        manifest = outcome.manifest = store.find(params.backup_id)
    engine = get_engine(manifest.engine)
    try:
        outcome.target = engine.plan_target(manifest, options)
        if engine.can_stream(manifest, options):
            _stream_restore(store, engine, manifest, options, timer, outcome.target)
        else:
            _download_then_restore(
                store, engine, manifest, options, timer, outcome.target
            )
        with timer.phase("validate"):
            outcome.validation = engine.validate(manifest, outcome.target, options)
        _measure(outcome, timer, downloads_bytes=manifest.size)
    finally:
        _clean(params, timer, engine, outcome)


def _download_then_restore(
    store: BackupStore,
    engine: Engine,
    manifest: Manifest,
    options: RestoreOptions,
    timer: PhaseTimer,
    target: str,
) -> None:
    with tempfile.TemporaryDirectory(prefix="opskit-drill-") as work:
        with timer.phase("download"):
            downloads = store.download(manifest, Path(work))
        with timer.phase("verify"):
            store.verify(manifest, downloads)
        with timer.phase("restore"):
            files = {key: d.path for key, d in downloads.items()}
            engine.restore(manifest, files, target, options)


def _stream_restore(
    store: BackupStore,
    engine: Engine,
    manifest: Manifest,
    options: RestoreOptions,
    timer: PhaseTimer,
    target: str,
) -> None:
    """Restore while downloading; the hash is checked when the stream ends, and
    a mismatch fails the drill (the scratch copy is discarded in cleanup)."""
    component = manifest.components[0]
    with timer.phase("restore"), store.open_component(manifest, component) as body:
        reader = HashingReader(body)
        engine.restore_stream(manifest, cast(BinaryIO, reader), target, options)
    restore = timer.phases[-1]
    timer.add(
        "download",
        started_at=restore.started_at,
        seconds=reader.seconds_to_end or restore.seconds,
        detail="streamed into the restore",
        before="restore",
    )
    with timer.phase("verify"):
        where = store.storage.describe(manifest.backup_id)
        verify_component(where, component, reader.written())


def _measure(outcome: _Outcome, timer: PhaseTimer, downloads_bytes: int) -> None:
    assert outcome.manifest is not None and outcome.validation is not None
    validated_at = timer.ended_at("validate")
    newest = (
        outcome.validation.newest_data_at
        or outcome.manifest.newest_data_at
        or outcome.manifest.taken_at
    )
    rpo = (timer.started_at - newest).total_seconds()
    if rpo < -CLOCK_SKEW_SECONDS:
        raise CheckFailed(
            f"freshness: the newest data ({newest.isoformat()}) is after the drill "
            f"started ({timer.started_at.isoformat()}); the freshness query or a "
            "clock is wrong, so RPO cannot be measured"
        )
    download = next(p for p in timer.phases if p.name == "download")
    passed = all(c.status is not CheckStatus.FAILED for c in outcome.validation.checks)
    outcome.measurements = {
        "rto_seconds": _seconds(timer.started_at, validated_at) if passed else None,
        "rpo_seconds": round(max(rpo, 0.0), 6),
        "bytes": downloads_bytes,
        "restored_bytes": outcome.validation.restored_bytes,
        "rows": sum(outcome.manifest.tables.values()),
        "download_mb_per_s": round(
            downloads_bytes / 1e6 / max(download.seconds, 1e-6), 3
        ),
    }


def _clean(
    params: DrillParameters, timer: PhaseTimer, engine: Engine, outcome: _Outcome
) -> None:
    if params.keep_scratch and outcome.target:
        timer.skip(
            "cleanup", f"keep_scratch is set; restored copy left at {outcome.target}"
        )
        return
    with timer.phase("cleanup"):
        engine.discard(outcome.target)


def _judge(outcome: _Outcome) -> tuple[RecordStatus, str]:
    assert outcome.validation is not None
    failed = [
        f"{c.name} ({c.detail or f'expected {c.expected}, found {c.actual}'})"
        for c in outcome.validation.checks
        if c.status is CheckStatus.FAILED
    ]
    if failed:
        return RecordStatus.FAILED, f"validation failed: {'; '.join(failed)}"
    missed = [t.describe() for t in _targets(outcome) if t.met is False]
    if missed:
        return RecordStatus.FAILED, "; ".join(missed)
    return RecordStatus.PASSED, ""


def _targets(outcome: _Outcome) -> list[Any]:
    if outcome.tier is None:
        return []
    return compare_targets(
        outcome.tier,
        outcome.measurements.get("rto_seconds"),
        outcome.measurements.get("rpo_seconds"),
    )


def _record(
    raw: dict[str, Any],
    timer: PhaseTimer,
    outcome: _Outcome,
    status: RecordStatus,
    reason: str,
) -> Record:
    manifest = outcome.manifest
    details: dict[str, Any] = {"scratch_target": mask_text(outcome.target)}
    if outcome.tier is not None:
        details["tier"] = outcome.tier.model_dump()
    if manifest is not None:
        details["backup"] = {
            "backup_id": manifest.backup_id,
            "engine": manifest.engine,
            "source": manifest.source,
            "taken_at": manifest.taken_at.isoformat(),
            "newest_data_at": manifest.newest_data_at.isoformat()
            if manifest.newest_data_at
            else None,
            "components": len(manifest.components),
            "bytes": manifest.size,
        }
    return Record(
        kind=KIND,
        name=str(raw["service"] or "unnamed"),
        started_by=started_by(),
        started_at=timer.started_at,
        ended_at=utc_now(),
        status=status,
        reason=reason,
        parameters=mask_parameters({k: _jsonable(v) for k, v in raw.items()}),
        phases=timer.phases,
        measurements=outcome.measurements,
        targets=_targets(outcome),
        checks=outcome.validation.checks if outcome.validation else [],
        details=details,
        environment=current_environment(),
    )


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 6)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)
