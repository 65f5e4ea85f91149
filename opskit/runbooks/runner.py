"""Running a runbook: the steady state first, then each step with its
confirmation, retries and timeout, a timeline entry per step, rollbacks in
reverse order when asked, and a record that a stopped run resumes from.

>>> run = RunbookRun(load_runbook("demo-database"), {}, confirm=policy("approve"))
>>> result = run.run()
>>> result.status
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd

from opskit.errors import InputError, OpskitError, ParameterError, StorageError
from opskit.health import HealthStatus, load_checks, overall, run_checks, summarize
from opskit.masking import MASK, mask_parameters, mask_text
from opskit.phases import Phase, PhaseStatus, utc_now
from opskit.record_store import (
    DRAFT_ENV,
    RecordStore,
    file_record,
    resolve_store_location,
)
from opskit.records import (
    Check,
    CheckStatus,
    Record,
    RecordStatus,
    TimelineEntry,
    current_environment,
    started_by,
)
from opskit.runbooks.actions import describe, perform, preflight
from opskit.runbooks.loading import (
    LoadedRunbook,
    RunbookError,
    bind_parameters,
    environment_references,
    load_runbook,
    substitute,
)
from opskit.runbooks.model import Step
from opskit.storage import open_storage

logger = logging.getLogger(__name__)

KIND = "runbook"
POLICIES = ("approve", "deny", "fail")
EXCERPT = 1000


class Outcome(StrEnum):
    """Where a step stands."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    DENIED = "denied"
    DRY_RUN = "dry-run"
    ROLLED_BACK = "rolled-back"
    ROLLBACK_FAILED = "rollback-failed"


DONE = (Outcome.SUCCEEDED, Outcome.SKIPPED, Outcome.ROLLED_BACK)
FINISHED = (Outcome.SUCCEEDED, Outcome.SKIPPED, Outcome.ROLLBACK_FAILED)
"""Steps a resumed run leaves alone: a rolled-back step was undone, so it runs
again; one whose rollback failed most likely still has its effect."""


class ConfirmationRequired(ParameterError):
    """A step needs a decision and nobody (and no policy) can give one."""


@dataclass(frozen=True)
class Decision:
    """A yes or no to running a step, and who or what gave it."""

    approved: bool
    by: str


Confirm = Callable[[Step, str], Decision]


def policy(name: str, why: str = "") -> Confirm:
    """The unattended confirmation hook: ``approve`` runs every step,
    ``deny`` refuses each step that needs confirmation, ``fail`` stops the
    run with an error at the first such step; ``why`` says how the policy
    was chosen, in that error."""
    if name not in POLICIES:
        raise ParameterError(
            f"confirm policy: {name!r} is not one of {', '.join(POLICIES)}"
        )

    def decide(step: Step, preview: str) -> Decision:
        if name == "fail":
            raise ConfirmationRequired(
                f"step {step.name!r} needs confirmation ({preview}) and "
                + (f"{why}, so " if why else "")
                + "the confirm policy is 'fail'; run it at a terminal or choose "
                "the policy approve or deny"
            )
        return Decision(name == "approve", f"policy: {name}")

    return decide


@dataclass
class StepState:
    """One step's progress within a run."""

    step: Step
    outcome: Outcome = Outcome.PENDING
    attempts: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    output: str = ""
    detail: str = ""
    decided_by: str = ""

    def summary(self) -> dict[str, Any]:
        """The state as saved in a record (a resumed run reads it back)."""
        return {
            "name": self.step.name,
            "outcome": self.outcome.value,
            "attempts": self.attempts,
            "detail": self.detail,
            "decided_by": self.decided_by,
        }


@dataclass
class RunbookResult:
    """A finished run: its record and where it was filed."""

    record: Record
    location: str
    steps: list[StepState] = field(default_factory=list)

    @property
    def status(self) -> RecordStatus:
        return self.record.status


class RunbookRun:
    """A run of one runbook with bound parameters; steps run one at a time
    (from a notebook's buttons) or all in order with ``run``."""

    def __init__(
        self,
        loaded: LoadedRunbook,
        parameters: Mapping[str, Any] | None = None,
        *,
        confirm: Confirm | None = None,
        dry_run: bool = False,
        force: bool = False,
        author: str | None = None,
        on_entry: Callable[[TimelineEntry], None] | None = None,
        store: str | Path | None = None,
    ) -> None:
        self.loaded = loaded
        self.store = store
        self.runbook = loaded.runbook
        self.parameters = bind_parameters(self.runbook, parameters or {})
        self.confirm = confirm
        self.dry_run = dry_run
        self.force = force
        self.author = author or started_by()
        self.on_entry = on_entry
        self.steps = [StepState(step) for step in self.runbook.steps]
        self.timeline: list[TimelineEntry] = []
        self.started_at = utc_now()
        self.stopped = ""
        self.steady: dict[str, pd.DataFrame] = {}
        self.resumed_from = ""
        self.aborted = False
        self._finished = False
        self._secrets = self._secret_values()
        self._preflight()

    @classmethod
    def resume(
        cls,
        ref: str,
        *,
        store: str | Path | None = None,
        parameters: Mapping[str, Any] | None = None,
        runbook: str | Path | None = None,
        **options: Any,
    ) -> RunbookRun:
        """Continue the run recorded at ``ref`` from its first unfinished
        step. Secret parameters are masked in records, so give them again."""
        stored = RecordStore.open(store).load(ref).record
        if stored.kind != KIND:
            raise InputError(f"{ref}: is a {stored.kind} record, not a runbook run")
        saved = stored.details.get("runbook", {})
        if stored.details.get("dry_run"):
            raise InputError(
                f"{ref}: is a dry run, which changed nothing; run the runbook "
                "instead of resuming it"
            )
        later = [
            found.key
            for found in RecordStore.open(store).find(kind=KIND)
            if found.record.details.get("resumed_from") == stored.id
        ]
        if later and not options.get("force"):
            raise InputError(
                f"{ref}: was resumed already (by {later[0]}); resume that run "
                "instead, or give --force to run these steps again"
            )
        loaded = load_runbook(runbook or saved.get("source", ""))
        if loaded.sha256 != saved.get("sha256") and not options.get("force"):
            raise RunbookError(
                f"{loaded.source}: changed since the run {ref} stopped; resume "
                "with --force (force=True) to run the changed runbook from the "
                "same step"
            )
        given = {k: v for k, v in stored.parameters.items() if v != MASK}
        given.update(parameters or {})
        missing = [
            name
            for name, spec in loaded.runbook.parameters.items()
            if stored.parameters.get(name) == MASK and name not in (parameters or {})
        ]
        if missing:
            raise ParameterError(
                f"{', '.join(missing)}: masked in the record of {ref}; give "
                "them again to resume"
            )

        run = cls(loaded, given, store=store, **options)
        run.resumed_from = stored.id
        run.timeline = list(stored.timeline)
        finished = {
            s["name"]: s for s in saved.get("steps", []) if s["outcome"] in FINISHED
        }
        for state in run.steps:
            if state.step.name in finished:
                state.outcome = Outcome(finished[state.step.name]["outcome"])
                state.attempts = finished[state.step.name]["attempts"]
                state.decided_by = finished[state.step.name]["decided_by"]
        first = run.next_step()
        run._note(
            f"resumed from {ref} at step {first.step.name!r}"
            if first
            else f"resumed from {ref}: every step had finished"
        )
        return run

    def next_step(self) -> StepState | None:
        """The first step not yet run."""
        return next((s for s in self.steps if s.outcome == Outcome.PENDING), None)

    def state(self, name: str) -> StepState:
        """The state of the step called ``name``."""
        self.runbook.step(name)
        return next(s for s in self.steps if s.step.name == name)

    def preview(self, step: Step) -> str:
        """What running ``step`` would do, secrets masked."""
        return self._mask(describe(step.action, self.parameters))

    def check_steady_state(self, when: str = "before") -> pd.DataFrame | None:
        """Run the steady-state checks; ``None`` when the runbook has none."""
        steady = self.runbook.steady_state
        if steady is None or self.dry_run:
            return None
        checks = load_checks({"checks": substitute(steady.checks, self.parameters)}) + (
            load_checks(self.loaded.folder / steady.checks_file)
            if steady.checks_file
            else []
        )
        results = run_checks(checks)
        self.steady[when] = results
        self._add(
            TimelineEntry(
                at=utc_now(),
                author="opskit",
                kind="check",
                text=f"steady state {when}: {summarize(results)}",
                outcome=overall(results).value,
            )
        )
        return results

    def start(self) -> bool:
        """Check the steady state before the first step; ``False`` (and the
        run stopped) when it does not hold and the run is not forced."""
        results = self.check_steady_state("before")
        if results is None or overall(results) != HealthStatus.UNHEALTHY:
            return True
        if self.force:
            self._note("steady state does not hold; going on because forced")
            return True
        self.stopped = (
            "the steady state did not hold before the first step "
            f"({summarize(results)}); fix it or force the run"
        )
        self._note(self.stopped)
        return False

    def run_step(
        self, name: str | None = None, *, decision: Decision | None = None
    ) -> StepState:
        """Run one step (the next pending one by default). A step that needs
        confirmation takes ``decision``, else asks the confirmation hook; a
        decision given for any step names who ran it."""
        state = self.state(name) if name else self.next_step()
        if state is None:
            raise InputError(f"runbook {self.runbook.name!r}: every step has run")
        if state.outcome in FINISHED:
            raise InputError(
                f"step {state.step.name!r} has {state.outcome.value} already"
            )
        step = state.step
        preview = self.preview(step)
        state.started_at = utc_now()

        if self.dry_run:
            state.outcome, state.output = Outcome.DRY_RUN, preview
            return self._finish(state, f"would run: {preview}")

        if step.needs_confirmation or decision is not None:
            if decision is None and self.confirm is None:
                raise ConfirmationRequired(
                    f"step {step.name!r} needs confirmation ({preview}); give a "
                    "decision or a confirm policy"
                )
            decision = decision or self.confirm(step, preview)  # type: ignore[misc]
            state.decided_by = decision.by
            if not decision.approved:
                state.outcome = Outcome.DENIED
                return self._finish(state, f"denied by {decision.by}")

        for attempt in range(1, step.retries.attempts + 1):
            state.attempts = attempt
            result = perform(step.action, self.parameters, step.timeout)
            state.output, state.detail = (
                self._mask(result.output),
                self._mask(result.detail),
            )
            if result.ok:
                break
            logger.info(
                "step %r attempt %d failed: %s", step.name, attempt, result.detail
            )
            if attempt < step.retries.attempts:
                time.sleep(step.retries.delay)
        state.outcome = Outcome.SUCCEEDED if result.ok else Outcome.FAILED
        text = "done" if result.ok else f"failed: {state.detail}"
        return self._finish(state, text)

    def skip_step(
        self, name: str | None = None, reason: str = "", by: str = ""
    ) -> StepState:
        """Mark a step skipped, with why and by whom."""
        state = self.state(name) if name else self.next_step()
        if state is None:
            raise InputError(f"runbook {self.runbook.name!r}: every step has run")
        state.started_at = utc_now()
        state.outcome = Outcome.SKIPPED
        state.decided_by = by or self.author
        return self._finish(state, f"skipped{': ' + reason if reason else ''}")

    def run(self, *, rollback_on_failure: bool = False) -> RunbookResult:
        """Every pending step in order: a failed or denied critical step
        stops the run (and rolls back completed steps when asked); the steady
        state is checked again after the last step. Files the record."""
        if self._finished:
            raise InputError(
                f"runbook {self.runbook.name!r}: this run has ended; resume it "
                "from its record, or start a new run"
            )
        _check_store(self.store)
        error: OpskitError | None = None
        try:
            if self.start():
                self._run_pending(rollback_on_failure)
        except OpskitError as exc:
            error = exc
            self.stopped = str(exc)
            self._note(f"run broke: {exc}")
        except KeyboardInterrupt:
            running = next(
                (s for s in self.steps if s.started_at and not s.ended_at), None
            )
            if running is not None:
                running.outcome, running.detail = Outcome.FAILED, "interrupted"
                running.ended_at = utc_now()
            self.aborted = True
            self.stopped = "interrupted (Ctrl-C or SIGTERM)" + (
                f" during step {running.step.name!r}" if running else ""
            )
            self._note(f"run stopped: {self.stopped}; resume it from this record")
        return self.finish(error=error)

    def rollback(self, by: str = "") -> list[StepState]:
        """Undo completed steps in reverse order, where they declare how. Each
        rollback is confirmed like a step that changes things: by ``by`` when
        a person asked for the rollback, else by the confirmation hook."""
        undone: list[StepState] = []
        for state in reversed(self.steps):
            rollback = state.step.rollback
            if state.outcome != Outcome.SUCCEEDED:
                continue
            if rollback is None:
                self._note(f"{state.step.name}: no rollback declared; left as it is")
                continue
            decision = self._confirm_rollback(state, by)
            if not decision.approved:
                self._note(
                    f"{state.step.name}: rollback denied by {decision.by}; left "
                    "as it is"
                )
                continue
            result = perform(rollback.action, self.parameters, rollback.timeout)
            state.outcome = (
                Outcome.ROLLED_BACK if result.ok else Outcome.ROLLBACK_FAILED
            )
            state.output, state.detail = (
                self._mask(result.output),
                self._mask(result.detail),
            )
            state.decided_by = decision.by
            text = "rolled back" if result.ok else f"rollback failed: {state.detail}"
            self._add(self._entry(state, text, kind="rollback"))
            undone.append(state)
        return undone

    def _confirm_rollback(self, state: StepState, by: str) -> Decision:
        assert state.step.rollback is not None
        if by:
            return Decision(True, by)
        undo = Step(
            name=f"{state.step.name} (rollback)",
            action=state.step.rollback.action,
            timeout=state.step.rollback.timeout,
        )
        preview = self.preview(undo)
        if self.confirm is None:
            raise ConfirmationRequired(
                f"rollback of {state.step.name!r} needs confirmation ({preview}); "
                "say who asked for it (by=...) or give a confirm policy"
            )
        return self.confirm(undo, preview)

    @property
    def status(self) -> RecordStatus:
        """Passed when every step finished (or was skipped) and the steady
        state holds after them; failed when the run stopped short."""
        if self.stopped:
            return RecordStatus.FAILED
        if any(s.outcome not in (*DONE, Outcome.DRY_RUN) for s in self.steps):
            critical = [
                s
                for s in self.steps
                if s.step.critical and s.outcome not in (*DONE, Outcome.DRY_RUN)
            ]
            return RecordStatus.FAILED if critical else RecordStatus.PASSED
        after = self.steady.get("after")
        if after is not None and overall(after) == HealthStatus.UNHEALTHY:
            return RecordStatus.FAILED
        return RecordStatus.PASSED

    def record(self, error: OpskitError | None = None) -> Record:
        """The run as a record of kind ``runbook``."""
        status = (
            RecordStatus.ABORTED
            if self.aborted
            else RecordStatus.ERROR
            if error
            else self.status
        )
        return Record(
            kind=KIND,
            name=self.runbook.name,
            started_by=self.author,
            started_at=self.started_at,
            ended_at=utc_now(),
            status=status,
            reason=str(error) if error else self._reason(),
            parameters=self._masked_parameters(),
            phases=[_phase(s) for s in self.steps if s.started_at and s.ended_at],
            checks=[_check(s) for s in self.steps],
            timeline=self.timeline,
            details={
                "runbook": {
                    "name": self.runbook.name,
                    "source": str(Path(self.loaded.source).absolute()),
                    "sha256": self.loaded.sha256,
                    "steps": [s.summary() for s in self.steps],
                },
                "dry_run": self.dry_run,
                "resumed_from": self.resumed_from,
            },
            environment=current_environment(),
        )

    def finish(
        self, store: str | Path | None = None, error: OpskitError | None = None
    ) -> RunbookResult:
        """File the record of the run and return it."""
        record = self.record(error)
        location = file_record(record, store or self.store)
        self._finished = True
        return RunbookResult(record, location, list(self.steps))

    def _run_pending(self, rollback_on_failure: bool) -> None:
        for state in self.steps:
            if state.outcome != Outcome.PENDING:
                continue
            self.run_step(state.step.name)
            if (
                state.outcome in (Outcome.FAILED, Outcome.DENIED)
                and state.step.critical
            ):
                self.stopped = (
                    f"critical step {state.step.name!r} {state.outcome.value}"
                    f"{': ' + state.detail if state.detail else ''}"
                )
                self._note(f"run stopped: {self.stopped}")
                if rollback_on_failure:
                    failed = [
                        s.step.name
                        for s in self.rollback()
                        if s.outcome == Outcome.ROLLBACK_FAILED
                    ]
                    if failed:
                        self.stopped += f"; rollback failed: {', '.join(failed)}"
                return
        if not self.dry_run:
            self.check_steady_state("after")

    def _finish(self, state: StepState, text: str) -> StepState:
        state.ended_at = utc_now()
        self._add(self._entry(state, text))
        return state

    def _entry(self, state: StepState, text: str, kind: str = "step") -> TimelineEntry:
        return TimelineEntry(
            at=utc_now(),
            author=state.decided_by or self.author,
            kind=kind,
            text=f"{state.step.name}: {text}",
            step=state.step.name,
            outcome=state.outcome.value,
            attempts=state.attempts,
            output=state.output[-EXCERPT:],
        )

    def _note(self, text: str) -> None:
        self._add(TimelineEntry(at=utc_now(), author="opskit", text=text))

    def _add(self, entry: TimelineEntry) -> None:
        self.timeline.append(entry)
        if self.on_entry is not None:
            self.on_entry(entry)

    def _reason(self) -> str:
        if self.stopped:
            return self.stopped
        if self.dry_run:
            return "dry run: nothing was changed"
        failed = [s.step.name for s in self.steps if s.outcome == Outcome.FAILED]
        pending = [s.step.name for s in self.steps if s.outcome == Outcome.PENDING]
        parts = []
        if failed:
            parts.append(f"non-critical steps failed: {', '.join(failed)}")
        if pending:
            parts.append(f"steps not run: {', '.join(pending)}")
        after = self.steady.get("after")
        if after is not None and overall(after) == HealthStatus.UNHEALTHY:
            parts.append(f"steady state does not hold after: {summarize(after)}")
        return "; ".join(parts)

    def _preflight(self) -> None:
        for index, step in enumerate(self.runbook.steps):
            where = f"{self.loaded.source}: steps[{index}] {step.name!r}"
            preflight(step.action, self.parameters, where)
            if step.rollback is not None:
                preflight(step.rollback.action, self.parameters, f"{where}.rollback")

    def _secret_values(self) -> list[str]:
        secret = [
            str(self.parameters[name])
            for name, spec in self.runbook.parameters.items()
            if spec.type == "secret"
        ]
        masked = mask_parameters(self.parameters)
        secret += [
            str(self.parameters[name]) for name in masked if masked[name] == MASK
        ]
        secret += [
            os.environ[variable]
            for variable in environment_references(self.runbook)
            if variable in os.environ
        ]
        return sorted({s for s in secret if len(s) >= 3}, key=len, reverse=True)

    def _mask(self, text: str) -> str:
        for value in self._secrets:
            text = text.replace(value, MASK)
        return mask_text(text)

    def _masked_parameters(self) -> dict[str, Any]:
        masked = mask_parameters(self.parameters)
        for name, spec in self.runbook.parameters.items():
            if spec.type == "secret" and self.parameters[name] != "":
                masked[name] = MASK
        return masked


def _check_store(store: str | Path | None) -> None:
    """Refuse to start when the record store cannot be written: a run whose
    changes cannot be recorded must not make them. Under ``opskit run`` the
    runner files the record and checks its own store."""
    if os.environ.get(DRAFT_ENV):
        return
    location = resolve_store_location(store)
    probe = f".opskit-write-check-{uuid.uuid4().hex}"
    try:
        storage = open_storage(location, create=True)
        storage.put_bytes(probe, b"")
        storage.delete(probe)
    except (OpskitError, OSError) as exc:
        raise StorageError(
            f"record store {location}: cannot be written ({exc}); fix it (or "
            "choose another with --record-store) before running the runbook"
        ) from exc


def _phase(state: StepState) -> Phase:
    assert state.started_at is not None and state.ended_at is not None
    return Phase(
        name=state.step.name,
        started_at=state.started_at,
        ended_at=state.ended_at,
        seconds=(state.ended_at - state.started_at).total_seconds(),
        status={
            Outcome.SUCCEEDED: PhaseStatus.OK,
            Outcome.ROLLED_BACK: PhaseStatus.OK,
            Outcome.FAILED: PhaseStatus.FAILED,
            Outcome.ROLLBACK_FAILED: PhaseStatus.FAILED,
        }.get(state.outcome, PhaseStatus.SKIPPED),
        detail=state.outcome.value,
    )


def _check(state: StepState) -> Check:
    status = {
        Outcome.SUCCEEDED: CheckStatus.PASSED,
        Outcome.FAILED: CheckStatus.FAILED,
        Outcome.ROLLBACK_FAILED: CheckStatus.FAILED,
    }.get(state.outcome, CheckStatus.SKIPPED)
    return Check(
        name=state.step.name,
        status=status,
        expected="succeeded",
        actual=state.outcome.value,
        detail=state.detail,
    )
