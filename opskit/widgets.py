"""The incident board: ipywidgets over an incident, its health checks and a
runbook run. Every button calls a plain method of the board, so the same
actions run headless under papermill and nbval, and tests drive them from
Python.

>>> board = IncidentBoard(incident, checks=load_checks("checks.yaml"), run=run)
>>> board                      # in a notebook: the board
>>> board.run_step()           # what the first Run button does
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w
import pandas as pd

from opskit.errors import CheckFailed, OpskitError, ParameterError, suggest
from opskit.health import HealthCheck, HealthMonitor, run_checks
from opskit.incident import (
    Incident,
    IncidentStatus,
    check_severity,
    check_status,
    checklist_ids,
)
from opskit.records import TimelineEntry, started_by
from opskit.runbooks import Decision, RunbookRun, StepState

logger = logging.getLogger(__name__)

COLOURS = {
    "healthy": "#1a7f37",
    "degraded": "#9a6700",
    "unhealthy": "#cf222e",
    "succeeded": "#1a7f37",
    "failed": "#cf222e",
    "denied": "#cf222e",
    "skipped": "#6e7781",
    "pending": "#6e7781",
    "dry-run": "#0969da",
    "rolled-back": "#9a6700",
    "rollback-failed": "#cf222e",
}


class StepRow:
    """One runbook step on the board: its name, Run and Skip, its outcome."""

    def __init__(
        self, name: str, on_run: Callable[[str], Any], on_skip: Callable[[str], Any]
    ):
        self.name = name
        self.label = w.HTML(f"<b>{html.escape(name)}</b>")
        self.label.add_class("opskit-step-name")
        self.run_button = w.Button(description="Run", button_style="primary")
        self.run_button.add_class("opskit-run-step")
        self.skip_button = w.Button(description="Skip")
        self.skip_button.add_class("opskit-skip-step")
        self.outcome = w.HTML()
        self.run_button.on_click(lambda _: on_run(name))
        self.skip_button.on_click(lambda _: on_skip(name))
        self.box = w.HBox([self.label, self.run_button, self.skip_button, self.outcome])

    def show(self, state: StepState, needs_confirmation: bool) -> None:
        finished = state.outcome.value not in ("pending", "failed", "denied")
        self.run_button.disabled = self.skip_button.disabled = finished
        self.run_button.description = "Confirm and run" if needs_confirmation else "Run"
        colour = COLOURS.get(state.outcome.value, "#000")
        detail = f" ({html.escape(state.detail)})" if state.detail else ""
        self.outcome.value = (
            f"<span style='color:{colour}'>{state.outcome.value}</span>{detail}"
        )


class IncidentBoard:
    """Health, checklist, runbook steps, notes, status updates and the
    timeline of one incident, kept current after every action."""

    def __init__(
        self,
        incident: Incident,
        *,
        checks: Sequence[HealthCheck] = (),
        run: RunbookRun | None = None,
        author: str = "",
        refresh_seconds: float = 30.0,
    ) -> None:
        self.incident = incident
        self.checks = list(checks)
        self.run = run
        self.author = author or incident.commander or started_by()
        try:
            interval = float(refresh_seconds)
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                f"refresh_seconds: {refresh_seconds!r} is not a number of seconds; "
                "give 0 to refresh only on request"
            ) from exc
        self.refresh_seconds = max(interval, 0.0)
        self.monitor = (
            HealthMonitor(self.checks, interval=self.refresh_seconds or 30.0)
            if self.checks
            else None
        )
        self.health_results: pd.DataFrame | None = None
        self._rendering = False
        if run is not None:
            run.on_entry = self._runbook_entry

        self.header = w.HTML()
        self.message = w.HTML()
        self.health = w.HTML("<i>not checked yet</i>")
        self.refresh_button = w.Button(description="Check health now")
        self.refresh_button.on_click(lambda _: self._safely(self.refresh_health))
        self.checkboxes = {
            item.id: w.Checkbox(
                value=item.done_at is not None,
                description=item.text,
                indent=False,
                layout=w.Layout(width="auto"),
            )
            for item in incident.checklist
        }
        self.due = {item_id: w.HTML() for item_id in self.checkboxes}
        for item_id, box in self.checkboxes.items():
            box.observe(self._ticked(item_id), names="value")
        self.steps = [
            StepRow(
                state.step.name,
                lambda name: self._safely(self.click_run, name),
                lambda name: self._safely(self.skip_step, name),
            )
            for state in (run.steps if run else [])
        ]
        self.note_text = w.Textarea(
            placeholder="What happened, what you saw, what you did"
        )
        self.note_button = w.Button(description="Add note")
        self.note_button.on_click(lambda _: self._safely(self._note_from_box))
        self.status_choice = w.Dropdown(
            options=[s.value for s in IncidentStatus], value=incident.status.value
        )
        self.status_button = w.Button(description="Set status")
        self.status_button.on_click(
            lambda _: self._safely(self.set_status, self.status_choice.value)
        )
        self.audience = w.ToggleButtons(options=["internal", "public"])
        self.audience.observe(lambda _: self._show_update(), names="value")
        self.update_text = w.Textarea(layout=w.Layout(width="100%", height="9em"))
        self.timeline = w.HTML()
        self.timeline.add_class("opskit-timeline")
        self.widget = self._layout()
        self.render()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)  # type: ignore[no-untyped-call]

    # Plain calls: what each button does.

    def refresh_health(self) -> pd.DataFrame | None:
        """Run one round of checks, show it, and note it in the timeline when
        it is the first round or a status changed."""
        if not self.checks:
            return None
        if self.monitor is not None:
            results = self.monitor.check_once()
            changes = self.monitor.changes()
        else:
            results, changes = run_checks(self.checks), []
        self._show_health(results, changes)
        return results

    def run_step(
        self, name: str | None = None, decision: Decision | None = None
    ) -> StepState:
        """Run a runbook step. Pressing its Run button is the confirmation;
        without a decision the run's confirmation hook (a policy) decides."""
        run = self._run()
        if not any(s.started_at for s in run.steps) and "before" not in run.steady:
            self._hold_steady_state(run)
        state = run.run_step(name, decision=decision)
        if run.next_step() is None and "after" not in run.steady:
            run.check_steady_state("after")
        self.render()
        return state

    def _hold_steady_state(self, run: RunbookRun) -> None:
        """Before the first step: the runbook's steady state must hold, as
        with ``opskit runbook run``, unless the run is forced."""
        if run.start():
            return
        reason, run.stopped = run.stopped, ""
        del run.steady["before"]
        self.render()
        raise CheckFailed(
            f"runbook {run.runbook.name!r}: {reason} (force=True in RunbookRun, "
            "or the notebook's force_runbook parameter); Run checks it again"
        )

    def click_run(self, name: str) -> StepState:
        """What a step's Run button does: run it, confirmed by the author."""
        return self.run_step(name, Decision(True, f"{self.author} (Run button)"))

    def skip_step(self, name: str | None = None, reason: str = "") -> StepState:
        """Skip a runbook step."""
        state = self._run().skip_step(name, reason, by=self.author)
        self.render()
        return state

    def tick(self, item_id: str, done: bool = True) -> None:
        """Tick (or untick) a checklist item."""
        self.incident.tick(item_id, done, by=self.author)
        self.render()

    def add_note(self, text: str) -> TimelineEntry:
        """Add a note to the timeline."""
        entry = self.incident.note(text, by=self.author)
        self.render()
        return entry

    def set_status(self, status: str, note: str = "") -> None:
        """Move the incident to ``status``."""
        self.incident.set_status(status, note, by=self.author)
        self.render()

    def status_update(self, audience: str = "internal") -> str:
        """The status-update text for ``audience``."""
        return self.incident.status_update(audience)

    def start_polling(self) -> None:
        """Refresh the health table every interval in the background (not
        when ``refresh_seconds`` is 0)."""
        if self.monitor is not None and self.refresh_seconds:
            self.monitor.start(on_round=lambda _: self._polled())

    def stop_polling(self) -> None:
        """Stop background refreshing."""
        if self.monitor is not None:
            self.monitor.stop()

    def perform(self, actions: Sequence[str]) -> None:
        """Carry out scripted actions, as a person would click them:
        ``ack``, ``health``, ``note: text``, ``tick: item-id``, ``untick:
        item-id``, ``status: mitigated[: note]``, ``severity: SEV1``,
        ``run[: step]`` and ``skip[: step[: reason]]``."""
        check_actions(actions, self.run)
        for action in actions:
            logger.info("board action: %s", action)
            self._perform_one(str(action))
        self.render()

    def _perform_one(self, action: str) -> None:
        verb, _, rest = (part.strip() for part in action.partition(":"))
        argument, _, extra = (part.strip() for part in rest.partition(":"))
        handlers: dict[str, Callable[[], Any]] = {
            "ack": lambda: self.incident.acknowledge(self.author),
            "health": self.refresh_health,
            "note": lambda: self.add_note(rest),
            "tick": lambda: self.tick(argument),
            "untick": lambda: self.tick(argument, done=False),
            "status": lambda: self.set_status(argument, extra),
            "severity": lambda: self.incident.set_severity(argument, self.author),
            "run": lambda: self.run_step(rest or None),
            "skip": lambda: self.skip_step(argument or None, extra),
        }
        handlers[verb]()

    # Showing the state.

    def render(self) -> None:
        """Bring every widget up to date with the incident and the run."""
        self.incident.refresh()
        incident = self.incident
        overdue = {item.id for item in incident.overdue()}
        self.header.value = (
            f"<h3>{html.escape(incident.id)}: {html.escape(incident.title)}</h3>"
            f"<b>{incident.severity.value}</b> · status <b>{incident.status.value}</b>"
            f" · commander {html.escape(incident.commander or 'not assigned')}"
            f" · {html.escape(incident.current_phase().title)}"
            + (
                f" · <span style='color:{COLOURS['failed']}'>{len(overdue)} checklist "
                "items overdue</span>"
                if overdue
                else ""
            )
        )
        for item in incident.checklist:
            self._rendering = True
            try:
                self.checkboxes[item.id].value = item.done_at is not None
            finally:
                self._rendering = False
            flag = (
                f"<span style='color:{COLOURS['failed']}'>overdue</span>"
                if item.id in overdue
                else ""
            )
            self.due[item.id].value = f"due {item.due_at:%H:%M} UTC {flag}"
        if self.run is not None:
            for row, state in zip(self.steps, self.run.steps, strict=True):
                row.show(state, state.step.needs_confirmation)
        self.status_choice.value = incident.status.value
        self._show_update()
        self.timeline.value = _timeline_html(incident.timeline)

    def _layout(self) -> w.VBox:
        checklist = w.VBox(
            [
                w.HBox([self.checkboxes[item.id], self.due[item.id]])
                for item in self.incident.checklist
            ]
        )
        steps = w.VBox(
            [w.HTML(f"<b>Runbook: {html.escape(self.run.runbook.name)}</b>")]
            + [row.box for row in self.steps]
            if self.run
            else [w.HTML("<i>no runbook chosen</i>")]
        )
        tabs = w.Tab(
            [
                w.VBox([self.refresh_button, self.health]),
                checklist,
                steps,
                w.VBox([self.note_text, self.note_button]),
                w.VBox(
                    [
                        w.HBox([self.status_choice, self.status_button]),
                        self.audience,
                        self.update_text,
                    ]
                ),
            ]
        )
        for index, title in enumerate(
            ["Health", "Checklist", "Runbook", "Note", "Status"]
        ):
            tabs.set_title(index, title)
        tabs.selected_index = 2 if self.run else 0
        return w.VBox(
            [self.header, self.message, tabs, w.HTML("<b>Timeline</b>"), self.timeline]
        )

    def _show_health(self, results: pd.DataFrame, changes: list[str]) -> None:
        first = self.health_results is None
        self.health_results = results
        shown = results.assign(latency=results["latency"].round(3))
        self.health.value = shown[
            ["name", "kind", "status", "latency", "detail"]
        ].to_html(index=False, escape=True)
        if first or changes:
            self.incident.record_health(results)
            for change in changes:
                self.incident.note(f"health changed: {change}", by="opskit")
        self.render()

    def _polled(self) -> None:
        assert self.monitor is not None
        history = self.monitor.history
        latest = history[history["round"] == history["round"].max()]
        self._show_health(latest.drop(columns="round"), self.monitor.changes())

    def _show_update(self) -> None:
        self.update_text.value = self.incident.status_update(self.audience.value)

    def _ticked(self, item_id: str) -> Callable[[dict[str, Any]], None]:
        def changed(change: dict[str, Any]) -> None:
            if not self._rendering:
                self._safely(self.tick, item_id, bool(change["new"]))

        return changed

    def _note_from_box(self) -> None:
        self.add_note(self.note_text.value)
        self.note_text.value = ""

    def _runbook_entry(self, entry: TimelineEntry) -> None:
        self.incident.add_entry(entry)

    def _run(self) -> RunbookRun:
        if self.run is None:
            raise ParameterError("runbook: this board has no runbook; pass run=...")
        return self.run

    def _safely(self, action: Callable[..., Any], *args: Any) -> None:
        """Run a button's action; show a user error on the board instead of
        losing it in the kernel log."""
        self.message.value = ""
        try:
            action(*args)
        except OpskitError as exc:
            logger.warning("%s", exc)
            colour = COLOURS["failed"]
            text = html.escape(str(exc))
            self.message.value = f"<span style='color:{colour}'>{text}</span>"


VERBS = ("ack", "health", "note", "tick", "untick", "status", "severity", "run", "skip")


def check_actions(actions: object, run: RunbookRun | None = None) -> None:
    """Refuse scripted board actions that cannot be carried out, before any
    is: unknown verbs, checklist items, statuses, severities and steps."""
    if isinstance(actions, str) or not isinstance(actions, Sequence):
        raise ParameterError(
            f"actions: {actions!r} is not a list; give a list such as "
            '["ack", "note: text"]'
        )
    items = checklist_ids()
    steps = [s.step.name for s in run.steps] if run is not None else []
    runbook = repr(run.runbook.name) if run is not None else ""
    for action in actions:
        verb, _, rest = (part.strip() for part in str(action).partition(":"))
        argument = rest.partition(":")[0].strip()
        where = f"actions: {str(action)!r}"
        if verb not in VERBS:
            raise ParameterError(
                f"{where} starts with no known action; use {', '.join(VERBS)}"
            )
        if verb in ("tick", "untick") and argument not in items:
            raise ParameterError(
                f"{where}: no checklist item {argument!r}"
                f"{suggest(argument, items)}; the items are {', '.join(items)}"
            )
        if verb in ("run", "skip") and run is None:
            raise ParameterError(f"{where}: no runbook is open; set runbook")
        step = rest if verb == "run" else argument
        if verb in ("run", "skip") and step and step not in steps:
            raise ParameterError(
                f"{where}: runbook {runbook} has no step {step!r}{suggest(step, steps)}"
            )
        if verb == "status":
            _prefixed(where, check_status, argument)
        if verb == "severity":
            _prefixed(where, check_severity, argument)


def _prefixed(where: str, check: Callable[[str], Any], value: str) -> None:
    try:
        check(value)
    except ParameterError as exc:
        raise ParameterError(f"{where}: {exc}") from exc


def _timeline_html(entries: Sequence[TimelineEntry]) -> str:
    rows = []
    for entry in entries:
        colour = COLOURS.get(entry.outcome, "inherit")
        rows.append(
            f"<tr><td>{entry.at:%H:%M:%S}</td><td>{html.escape(entry.author)}</td>"
            f"<td>{html.escape(entry.kind)}</td>"
            f"<td style='color:{colour}'>{html.escape(entry.text)}</td></tr>"
        )
    return (
        "<table class='opskit-timeline-table'><tr><th>time (UTC)</th><th>who</th>"
        "<th>kind</th><th>what</th></tr>" + "".join(rows) + "</table>"
    )
