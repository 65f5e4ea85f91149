"""``opskit incident`` and ``opskit runbook`` as people outside Jupyter use
them: exit codes, what they print, and clear refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from opskit.demo import Demo
from opskit.incident import Incident, list_incidents
from opskit.record_store import RecordStore
from tests.helpers import Invoke


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPSKIT_RECORD_STORE", str(tmp_path / "records"))
    monkeypatch.setenv("OPSKIT_STARTED_BY", "dana@ops")
    return tmp_path / "records"


def test_an_incident_from_open_to_close(
    opskit: Invoke, store: Path, tmp_path: Path
) -> None:
    opened = opskit(
        "incident", "open", "shop", "--severity", "sev1", "--commander", "al"
    )
    incident_id = opened.stdout.strip()

    noted = opskit("incident", "note", incident_id, "502 on checkout")
    status = opskit("incident", "status", incident_id, "identified", "--note", "disk")
    public = opskit("incident", "status", incident_id, "--update", "public")
    ticked = opskit("incident", "tick", incident_id, "immediate-1", "immediate-3")
    shown = opskit("incident", "show", incident_id)
    closed = opskit(
        "incident",
        "close",
        incident_id,
        "--summary",
        "The disk filled up",
        "--factor",
        "no disk alert",
        "--action",
        "Alert on disk space::carol::2026-12-17",
        "--review-out",
        str(tmp_path / "review.md"),
    )

    assert opened.code == 0 and incident_id.startswith("INC-")
    assert (noted.code, status.code, ticked.code, closed.code) == (0, 0, 0, 0)
    assert status.stdout.startswith(
        f"**[SEV1] shop incident: identified** ({incident_id})"
    )
    assert public.stdout.startswith("**Identified**")
    assert "by dana@ops" in shown.stdout and "502 on checkout" in shown.stdout
    record = RecordStore.open(store).load(closed.stdout.strip()).record
    assert record.details["action_items"] == [
        {"text": "Alert on disk space", "owner": "carol", "due": "2026-12-17"}
    ]
    review = (tmp_path / "review.md").read_text()
    assert "- no disk alert" in review
    assert Incident.reopen(incident_id, store).closed


def test_the_notebook_and_the_command_line_share_one_incident(
    opskit: Invoke, store: Path
) -> None:
    incident = Incident.open("shop", store=store)

    opskit("incident", "note", incident.id, "seen from the terminal")
    incident.refresh()

    assert incident.timeline[-1].text == "seen from the terminal"
    assert incident.timeline[-1].author == "dana@ops"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["open", "shop", "--severity", "SEV9"], "severity: 'SEV9' is not a severity"),
        (
            ["note", "INC-20260101-000000", "x"],
            "incident 'INC-20260101-000000': not found",
        ),
        (["tick", "{id}", "immediate-7"], "'immediate-7': no such item"),
        (["close", "{id}", "--summary", "x", "--action", "fix it"], "TEXT::OWNER"),
        (["status", "{id}", "--note", "why"], "--note: give a new status"),
    ],
)
def test_bad_input_is_named_and_exits_2(
    opskit: Invoke, store: Path, args: list[str], message: str
) -> None:
    incident = Incident.open("shop", store=store)

    outcome = opskit("incident", *[a.format(id=incident.id) for a in args])

    assert outcome.code == 2
    assert message in outcome.stderr
    assert len(Incident.reopen(incident.id, store).timeline) == 1


def test_runbook_list_and_check(opskit: Invoke, tmp_path: Path) -> None:
    listed = opskit("runbook", "list")
    checked = opskit("runbook", "check", "application-failure", "-p", "replicas", "5")
    broken = tmp_path / "broken.runbook.yaml"
    broken.write_text(
        "name: x\nsteps:\n  - name: a\n    action: {command: [ls]}\n    retry: 2\n"
    )
    refused = opskit("runbook", "check", str(broken))

    assert listed.code == 0 and "demo-database" in listed.stdout
    assert checked.code == 0
    assert "manual: Scale react-app to 5 instances." in checked.stdout
    assert refused.code == 2
    assert f"{broken}:5: steps[0] 'a'.retry: not a runbook field" in refused.stderr


def test_runbook_run_with_a_policy_and_resume(
    opskit: Invoke, store: Path, demo: Demo
) -> None:
    workdir = str(demo.database.parent)

    denied = opskit(
        "runbook", "run", "demo-database", "-p", "workdir", workdir, "--policy", "deny"
    )
    resumed = opskit("runbook", "run", "--resume", denied.stdout.strip(), "--yes")

    assert denied.code == 1
    assert "critical step 'Put the shop into maintenance mode' denied" in denied.stderr
    assert resumed.code == 0, resumed.stderr
    assert "resumed from" in resumed.stderr
    assert (
        "Check the shop database answers" not in resumed.stderr.split("resumed from")[1]
    )
    assert "Back up the shop database: done" in resumed.stderr


def test_runbook_run_without_a_terminal_refuses_to_guess(
    opskit: Invoke, store: Path, demo: Demo
) -> None:
    outcome = opskit(
        "runbook", "run", "demo-database", "-p", "workdir", str(demo.database.parent)
    )

    assert outcome.code == 2
    assert "needs confirmation" in outcome.stderr
    assert "there is no terminal to ask, so the confirm policy is 'fail'" in (
        outcome.stderr
    )


def test_one_damaged_incident_log_breaks_only_that_incident(
    opskit: Invoke, store: Path
) -> None:
    broken = Incident.open("shop", store=store)
    broken.note("one")
    broken.note("two")
    healthy = Incident.open("cart", store=store)
    event = store / "incident-log" / broken.id / "000003.json"
    event.write_text("garbage")

    listed = opskit("incident", "list")
    shown = opskit("incident", "show", broken.id)
    noted = opskit("incident", "note", broken.id, "three")
    other = opskit("incident", "note", healthy.id, "fine")

    assert listed.code == 0, listed.stderr
    assert "damaged" in listed.stdout and "investigating" in listed.stdout
    assert "internal error" not in listed.stderr + shown.stderr + noted.stderr
    for refused in (shown, noted):
        assert refused.code == 2
        assert f"{event}: damaged (not JSON" in refused.stderr
        assert "move the file aside to go on" in refused.stderr
    assert other.code == 0, other.stderr


def test_open_where_the_store_cannot_be_written_says_so(
    opskit: Invoke, store: Path
) -> None:
    store.mkdir()
    (store / "incident-log").write_text("a file where the log folder goes")

    outcome = opskit("incident", "open", "shop")

    assert outcome.code == 2
    assert "internal error" not in outcome.stderr
    assert f"cannot write into {store / 'incident-log'}/INC-" in outcome.stderr
    assert "make the store folder writable" in outcome.stderr


def test_secrets_in_the_commander_and_action_items_are_masked(
    opskit: Invoke, store: Path
) -> None:
    opened = opskit("incident", "open", "shop", "--commander", "postgresql://a:PW@x/db")
    incident_id = opened.stdout.strip()
    handed = opskit(
        "incident", "status", incident_id, "--commander", "postgresql://b:PW2@x/db"
    )
    closed = opskit(
        "incident",
        "close",
        incident_id,
        "--summary",
        "done",
        "--action",
        "rotate password=PWaction::carol",
    )

    assert (opened.code, handed.code, closed.code) == (0, 0, 0), closed.stderr
    stored = "".join(p.read_text() for p in store.rglob("*") if p.is_file())
    assert "PWaction" not in stored
    assert ":PW@" not in stored and ":PW2@" not in stored
    record = RecordStore.open(store).load(closed.stdout.strip()).record
    assert record.parameters["commander"] == "postgresql://b:***@x/db"
    assert record.details["action_items"][0]["text"] == "rotate password=***"


def test_show_gives_the_due_date_and_a_due_that_is_no_date_is_refused(
    opskit: Invoke, store: Path
) -> None:
    incident = Incident.open("shop", store=store)
    long_term = incident.checklist[-1].due_at

    shown = opskit("incident", "show", incident.id)
    refused = opskit(
        "incident", "close", incident.id, "--summary", "x", "--action", "a::b::notadate"
    )
    impossible = opskit(
        "incident",
        "close",
        incident.id,
        "--summary",
        "x",
        "--action",
        "a::b::2026-02-30",
    )

    assert f"{long_term:%Y-%m-%d %H:%M}" in shown.stdout
    for outcome in (refused, impossible):
        assert outcome.code == 2
        assert "--action" in outcome.stderr
        assert "is not a date; write it as YYYY-MM-DD" in outcome.stderr
    assert not Incident.reopen(incident.id, store).closed


def test_list_shows_an_incident_whose_first_event_is_damaged(
    opskit: Invoke, store: Path
) -> None:
    incident = Incident.open("shop", store=store)
    (store / "incident-log" / incident.id / "000001.json").write_text("{}")

    listed = opskit("incident", "list")

    assert listed.code == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if incident.id in line)
    assert "damaged" in row and row.rstrip("│ ").endswith("-")


PROMPTED = """\
name: prompted
parameters:
  dir: {type: str}
steps:
  - name: Make the marker
    action: {command: [touch, "${dir}/marker"]}
  - name: Make another
    action: {command: [touch, "${dir}/other"]}
"""


def test_runbook_run_at_a_terminal_asks_for_each_step(
    store: Path, tmp_path: Path
) -> None:
    runbook = tmp_path / "prompted.runbook.yaml"
    runbook.write_text(PROMPTED)
    leader, follower = os.openpty()
    os.write(leader, b"y\nn\n")
    program = Path(sys.executable).with_name("opskit")
    done = subprocess.run(
        [str(program), "runbook", "run", str(runbook), "-p", "dir", str(tmp_path)],
        stdin=follower,
        capture_output=True,
        text=True,
        timeout=60,
    )
    os.close(follower)
    os.close(leader)

    assert "Run step 'Make the marker': touch" in done.stderr
    assert (tmp_path / "marker").exists()
    assert not (tmp_path / "other").exists()
    assert done.returncode == 1
    saved = RecordStore.open(store).load(done.stdout.strip())
    authors = {e.step: e.author for e in saved.record.timeline if e.step}
    assert authors == {
        "Make the marker": "dana@ops (terminal)",
        "Make another": "dana@ops (terminal)",
    }


def test_incident_open_takes_when_impact_began_for_time_to_detect(
    opskit: Invoke, store: Path
) -> None:
    opened = opskit("incident", "open", "shop", "--began-at", "25m ago")
    at_time = opskit("incident", "open", "cart", "--began-at", "2026-01-05T10:00")

    assert opened.code == 0, opened.stderr
    metrics = Incident.reopen(opened.stdout.strip(), store).metrics()
    assert metrics["time_to_detect_seconds"] == pytest.approx(1500, abs=30)
    began = Incident.reopen(at_time.stdout.strip(), store).began_at
    assert began is not None and began.isoformat() == "2026-01-05T10:00:00+00:00"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("yesterday", "began_at: 'yesterday' is neither a time nor a duration"),
        ("2999-01-01T00:00Z", "began_at: '2999-01-01T00:00Z' is after now"),
        ("99999999h", "began_at: '99999999h' reaches back before any calendar"),
    ],
)
def test_incident_open_refuses_a_began_at_it_cannot_use(
    opskit: Invoke, store: Path, given: str, expected: str
) -> None:
    refused = opskit("incident", "open", "shop", "--began-at", given)

    assert refused.code == 2
    assert expected in refused.stderr
    assert not (store / "incident-log").exists()


def test_a_review_file_that_cannot_be_written_keeps_the_incident_open(
    opskit: Invoke, store: Path
) -> None:
    incident_id = opskit("incident", "open", "shop").stdout.strip()

    refused = opskit(
        "incident",
        "close",
        incident_id,
        "--summary",
        "disk",
        "--review-out",
        "/nonexistent/dir/review.md",
    )

    assert refused.code == 2
    assert "--review-out /nonexistent/dir/review.md: cannot be written" in (
        refused.stderr
    )
    assert "the incident is still open" in refused.stderr
    assert not Incident.reopen(incident_id, store).closed

    dangling = store.parent / "dangling.md"
    dangling.symlink_to("/nonexistent/dir/x.md")
    also_refused = opskit(
        "incident", "close", incident_id, "--summary", "disk",
        "--review-out", str(dangling),
    )  # fmt: skip
    assert also_refused.code == 2
    assert "cannot be written (No such file or directory)" in also_refused.stderr
    assert not Incident.reopen(incident_id, store).closed


def test_incidents_are_listed_newest_first_and_a_tick_counts_once(
    opskit: Invoke, store: Path
) -> None:
    ids = [Incident.open(f"svc{n}", store=store).id for n in range(6)]

    ticked = opskit("incident", "tick", ids[0], "immediate-1", "immediate-1")
    listed = list_incidents(store)

    assert [row["id"] for row in listed] == ids[::-1]
    assert f"{ids[0]}: 1 item(s) done" in ticked.stderr
    ticks = [
        e for e in Incident.reopen(ids[0], store).timeline if e.kind == "checklist"
    ]
    assert len(ticks) == 1


def test_incident_list_names_a_store_that_is_not_there(
    opskit: Invoke, tmp_path: Path
) -> None:
    listed = opskit("incident", "list", "--store", str(tmp_path / "nowhere"))

    assert listed.code == 2
    assert "nowhere" in listed.stderr
