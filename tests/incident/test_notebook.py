"""The incident notebook run headless end to end, through opskit's runner
(papermill), with a scripted sequence of actions, then reopened by id in a
fresh kernel and closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from opskit.incident import Incident, list_incidents
from opskit.notebooks import run_notebook
from opskit.records import RecordStatus, RecordStore

pytestmark = pytest.mark.slow


def test_an_incident_is_worked_headless_then_reopened_and_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "records"
    monkeypatch.setenv("OPSKIT_RECORD_STORE", str(store))
    workdir = tmp_path / "shop"
    first = run_notebook(
        "incident_response",
        {
            "service": "demo",
            "severity": "SEV2",
            "commander": "alice",
            "demo_workdir": str(workdir),
            "confirm_policy": "approve",
            "refresh_seconds": 0,
            "snapshot": True,
            "actions": [
                "ack",
                "note: checkout answers 502",
                "run",
                "run",
                "run: Put the shop into maintenance mode",
                "tick: immediate-1",
                "status: identified: disk filled up",
            ],
        },
        record_store=str(store),
    )
    (incident_id,) = [row["id"] for row in list_incidents(store)]

    assert first.record.kind == "incident", first.record.reason
    assert first.record.status is RecordStatus.PASSED
    assert first.record.reason.startswith("still open (identified); reopen with id")
    assert (workdir / "MAINTENANCE").exists()
    texts = [e.text for e in first.record.timeline]
    assert "Put the shop into maintenance mode: done" in texts
    assert "status identified: disk filled up" in texts
    step = next(e for e in first.record.timeline if e.step.startswith("Put the shop"))
    assert step.author == "policy: approve"
    assert {a.path for a in first.record.artifacts} >= {"notebook.ipynb", "report.html"}

    second = run_notebook(
        "incident_response",
        {
            "incident_id": incident_id,
            "demo_workdir": str(workdir),
            "confirm_policy": "approve",
            "refresh_seconds": 0,
            "runbook": "",
            "actions": ["status: mitigated", "tick: immediate-2"],
            "close": True,
            "summary": "The shop's disk filled up",
            "action_items": [{"text": "Alert on disk space", "owner": "carol"}],
        },
        record_store=str(store),
    )

    closed = Incident.reopen(incident_id, store)
    assert closed.closed
    assert second.record.kind == "incident"
    assert second.record.parameters["incident_id"] == incident_id
    review = second.record.details["review"]
    assert {a.path for a in second.record.artifacts} == {
        "review.md",
        "notebook.ipynb",
        "report.html",
    }
    assert "## Summary\n\nThe shop's disk filled up" in review
    assert "| Alert on disk space | carol | - |" in review
    assert "checkout answers 502" in review
    done = [c.name for c in second.record.checks if c.status.value == "passed"]
    assert done == [
        "Assess impact and affected users",
        "Implement immediate mitigation (rollback, feature flags, traffic routing)",
    ]
    kinds = {s.record.kind for s in RecordStore.open(store).find()}
    assert kinds == {"incident"}


def test_bad_scripted_actions_open_no_incident(tmp_path: Path) -> None:
    store = tmp_path / "records"

    outcome = run_notebook(
        "incident_response",
        {
            "service": "demo",
            "demo_workdir": str(tmp_path / "shop"),
            "refresh_seconds": 0,
            "actions": ["ack", "tick: nope"],
        },
        record_store=str(store),
    )

    assert outcome.record.status is RecordStatus.ERROR
    assert "no checklist item 'nope'" in outcome.record.reason
    assert list_incidents(store) == []
