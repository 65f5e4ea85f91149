"""The incident board driven from Python, as a person clicks it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from opskit.demo import Demo, demo_checks
from opskit.errors import ParameterError
from opskit.incident import Incident
from opskit.runbooks import RunbookRun, load_runbook, policy
from opskit.widgets import IncidentBoard, check_actions


@pytest.fixture
def board(demo: Demo, tmp_path: Path) -> IncidentBoard:
    store = str(tmp_path / "records")
    incident = Incident.open("demo", "SEV2", commander="alice", store=store)
    run = RunbookRun(
        load_runbook("demo-database"),
        {"workdir": str(demo.database.parent)},
        confirm=policy("deny"),
    )
    return IncidentBoard(
        incident, checks=demo_checks(demo.database.parent), run=run, author="alice"
    )


def test_clicking_run_runs_the_step_and_shows_it_in_the_timeline(
    board: IncidentBoard,
) -> None:
    first = board.steps[0]

    first.run_button.click()

    assert "Check the shop database answers: done" in board.timeline.value
    assert first.run_button.disabled
    assert "succeeded" in first.outcome.value
    entry = board.incident.timeline[-1]
    assert entry.step == "Check the shop database answers"
    assert entry.author == "alice (Run button)"
    assert entry.output.startswith("2500 orders")


def test_the_click_confirms_a_changing_step_that_the_policy_would_deny(
    board: IncidentBoard, demo: Demo
) -> None:
    maintenance = board.steps[2]
    assert maintenance.run_button.description == "Confirm and run"

    maintenance.run_button.click()

    assert (demo.database.parent / "MAINTENANCE").exists()
    assert board.run is not None
    assert board.run.state(maintenance.name).decided_by == "alice (Run button)"


def test_scripted_runs_ask_the_policy(board: IncidentBoard, demo: Demo) -> None:
    board.perform(["run", "run", "run"])

    assert board.run is not None
    assert [s.outcome.value for s in board.run.steps][:3] == [
        "succeeded",
        "succeeded",
        "denied",
    ]
    assert not (demo.database.parent / "MAINTENANCE").exists()
    assert "denied by policy: deny" in board.timeline.value


def test_the_runbook_steady_state_is_checked_before_the_first_step_and_after_the_last(
    board: IncidentBoard,
) -> None:
    board.steps[0].run_button.click()
    texts = [e.text for e in board.incident.timeline]
    assert "steady state before: 1 check: 1 healthy" in texts
    assert not any(t.startswith("steady state after") for t in texts)

    for row in board.steps[1:]:
        row.run_button.click()

    assert board.run is not None
    assert board.run.next_step() is None
    texts = [e.text for e in board.incident.timeline]
    assert texts.count("steady state before: 1 check: 1 healthy") == 1
    assert texts[-1] == "steady state after: 1 check: 1 healthy"


def test_a_steady_state_that_does_not_hold_keeps_the_steps_from_running(
    demo: Demo, tmp_path: Path
) -> None:
    workdir = tmp_path / "nowhere"
    workdir.mkdir()
    incident = Incident.open("demo", "SEV2", store=str(tmp_path / "records"))
    loaded = load_runbook("demo-database")
    board = IncidentBoard(
        incident,
        run=RunbookRun(loaded, {"workdir": str(workdir)}, confirm=policy("deny")),
        author="alice",
    )

    board.steps[0].run_button.click()

    assert "the steady state did not hold before the first step" in board.message.value
    assert "force_runbook" in board.message.value
    assert board.run is not None
    assert board.run.steps[0].outcome.value == "pending"
    assert not board.steps[0].run_button.disabled

    forced = IncidentBoard(
        incident,
        run=RunbookRun(
            loaded, {"workdir": str(workdir)}, confirm=policy("deny"), force=True
        ),
        author="alice",
    )
    forced.steps[1].run_button.click()
    assert forced.message.value == ""
    assert forced.run is not None
    assert forced.run.steps[1].outcome.value == "succeeded"
    notes = [e.text for e in incident.timeline]
    assert "steady state does not hold; going on because forced" in notes


def test_skip_records_who_skipped(board: IncidentBoard) -> None:
    board.steps[1].skip_button.click()

    assert board.steps[1].skip_button.disabled
    assert board.incident.timeline[-1].text == "Record free disk space: skipped"
    assert board.incident.timeline[-1].author == "alice"


def test_ticking_a_box_is_saved_and_unticking_undoes_it(
    board: IncidentBoard, tmp_path: Path
) -> None:
    box = board.checkboxes["immediate-2"]

    box.value = True
    ticked = Incident.reopen(board.incident.id, str(tmp_path / "records"))
    box.value = False

    assert ticked.checklist[1].done_by == "alice"
    assert board.incident.checklist[1].done_at is None
    assert "not done: Implement immediate mitigation" in board.timeline.value


def test_notes_and_status_changes_from_the_boxes(board: IncidentBoard) -> None:
    board.note_text.value = "rolled back deploy 42"
    board.note_button.click()
    board.status_choice.value = "mitigated"
    board.status_button.click()

    assert board.note_text.value == ""
    texts = [e.text for e in board.incident.timeline]
    assert texts[-2:] == ["rolled back deploy 42", "status mitigated"]
    assert "status <b>mitigated</b>" in board.header.value
    assert board.update_text.value.startswith("**[SEV2] demo incident: mitigated**")
    board.audience.value = "public"
    assert board.update_text.value.startswith("**Monitoring**")


def test_health_is_shown_and_noted_when_it_changes(
    board: IncidentBoard, demo: Demo
) -> None:
    board.refresh_button.click()
    (demo.database.parent / "MAINTENANCE").write_text("maintenance since now")
    board.refresh_health()

    assert "shop-open" in board.health.value and "degraded" in board.health.value
    texts = [e.text for e in board.incident.timeline]
    assert texts[1] == "health: 2 checks: 2 healthy"
    assert texts[-2].startswith("health: 2 checks: 1 healthy, 1 degraded")
    assert texts[-1].startswith("health changed: shop-open: healthy -> degraded")


def test_a_user_error_is_shown_on_the_board_not_raised(board: IncidentBoard) -> None:
    board.note_button.click()

    assert "note: the text is empty" in board.message.value


def test_unknown_scripted_actions_are_refused(board: IncidentBoard) -> None:
    with pytest.raises(ParameterError, match="'reboot' starts with no known action"):
        board.perform(["reboot"])


def test_background_polling_refreshes_the_table(board: IncidentBoard) -> None:
    assert board.monitor is not None
    board.monitor.interval = 0.1
    board.start_polling()
    try:
        for _ in range(50):
            if len(board.monitor.history["round"].unique()) >= 2:
                break
            time.sleep(0.1)
    finally:
        board.stop_polling()

    assert len(board.monitor.history["round"].unique()) >= 2
    assert "shop-database" in board.health.value


def test_board_parameters_of_the_wrong_kind_are_named(board: IncidentBoard) -> None:
    with pytest.raises(ParameterError, match="actions: 'ack' is not a list"):
        board.perform("ack")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="refresh_seconds: 'abc' is not a number"):
        IncidentBoard(board.incident, refresh_seconds="abc")  # type: ignore[arg-type]


def test_refresh_zero_means_only_on_request(board: IncidentBoard, demo: Demo) -> None:
    quiet = IncidentBoard(
        board.incident, checks=demo_checks(demo.database.parent), refresh_seconds=0
    )

    quiet.start_polling()
    quiet.refresh_health()
    quiet.stop_polling()

    assert quiet.monitor is not None
    assert list(quiet.monitor.history["round"].unique()) == [1]


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        ("ack", "actions: 'ack' is not a list"),
        (["dance"], "actions: 'dance' starts with no known action; use ack,"),
        (["tick: nope"], "actions: 'tick: nope': no checklist item 'nope'"),
        (["status: fixed"], "actions: 'status: fixed': status: 'fixed' is not one"),
        (["severity: SEV9"], "actions: 'severity: SEV9': severity: 'SEV9' is not"),
        (
            ["run: Back up the shop"],
            "runbook 'demo-database' has no step 'Back up the shop' (did you mean "
            "'Back up the shop database'?)",
        ),
    ],
)
def test_scripted_actions_are_all_checked_before_any_runs(
    board: IncidentBoard, actions: object, expected: str
) -> None:
    before = len(board.incident.timeline)

    with pytest.raises(ParameterError) as refused:
        board.perform(
            ["note: first", *actions] if isinstance(actions, list) else actions
        )  # type: ignore[arg-type]

    assert expected in str(refused.value)
    assert len(board.incident.timeline) == before


def test_run_and_skip_need_a_runbook() -> None:
    with pytest.raises(ParameterError, match="no runbook is open; set runbook"):
        check_actions(["skip"])
