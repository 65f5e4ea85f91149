"""Incidents kept in the record store: opened, changed, reopened after a
restart, closed into a review draft and a record."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from opskit.errors import (
    InputError,
    NotFoundError,
    ParameterError,
    RecordError,
    StorageError,
)
from opskit.incident import (
    Incident,
    IncidentStatus,
    Sev,
    list_incidents,
)
from opskit.phases import utc_now
from opskit.record_store import RecordStore
from opskit.records import RecordStatus


@pytest.fixture
def store(tmp_path: Path) -> str:
    return str(tmp_path / "records")


def test_an_incident_is_reopened_by_its_id_in_another_process(store: str) -> None:
    opened = Incident.open("shop", "SEV2", commander="alice", store=store, by="alice")
    opened.note("checkout answers 502", by="bob")
    opened.tick("immediate-1", by="alice")

    script = (
        "import sys; from opskit.incident import Incident; "
        "i = Incident.reopen(sys.argv[1], sys.argv[2]); "
        "i.set_status('identified', 'bad deploy', by='carol'); "
        "print(i.severity.value, len(i.timeline), i.checklist[0].done_by)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, opened.id, store],
        capture_output=True,
        text=True,
        check=True,
    )
    opened.refresh()

    assert done.stdout.split() == ["SEV2", "4", "alice"]
    assert opened.status is IncidentStatus.IDENTIFIED
    assert [e.author for e in opened.timeline] == ["alice", "bob", "alice", "carol"]
    assert opened.timeline[-1].text == "status identified: bad deploy"


def test_an_unknown_id_is_refused_with_the_known_ones(store: str) -> None:
    known = Incident.open("shop", store=store)

    with pytest.raises(NotFoundError, match="did you mean"):
        Incident.reopen(known.id[:-1] + "x", store)


@pytest.mark.parametrize(
    ("given", "expected"), [("sev1", Sev.SEV1), ("2", Sev.SEV2), (" SEV4 ", Sev.SEV4)]
)
def test_severities_are_read_leniently(store: str, given: str, expected: Sev) -> None:
    assert Incident.open("shop", given, store=store).severity is expected


def test_bad_values_are_refused_by_name(store: str) -> None:
    with pytest.raises(ParameterError, match="severity: 'SEV5' is not a severity"):
        Incident.open("shop", "SEV5", store=store)
    with pytest.raises(ParameterError, match="service: name the affected service"):
        Incident.open(" ", store=store)
    opened = Incident.open("shop", store=store)
    with pytest.raises(ParameterError, match="status: 'fixed' is not one of"):
        opened.set_status("fixed")
    with pytest.raises(ParameterError, match="'immediate-9': no such item"):
        opened.tick("immediate-9")
    with pytest.raises(ParameterError, match="note: the text is empty"):
        opened.note("  ")
    assert len(opened.timeline) == 1


def test_checklist_items_fall_due_by_phase(store: str) -> None:
    opened = Incident.open("shop", store=store)
    opened.tick("immediate-1")
    start = opened.opened_at

    soon = start + timedelta(minutes=10)
    later = start + timedelta(minutes=20)
    much_later = start + timedelta(hours=3)

    assert opened.overdue(soon) == []
    assert [i.id for i in opened.overdue(later)] == [
        "immediate-2",
        "immediate-3",
        "immediate-4",
    ]
    assert len(opened.overdue(much_later)) == 7
    assert opened.current_phase(later).key == "short-term"
    assert opened.current_phase(much_later).key == "long-term"
    frame = opened.checklist_frame(later)
    assert frame.loc[frame["id"] == "immediate-2", "overdue"].item()


def test_response_times_come_from_the_moments_noted(store: str) -> None:
    began = utc_now() - timedelta(minutes=7)
    opened = Incident.open("shop", began_at=began, store=store)

    assert opened.metrics()["time_to_acknowledge_seconds"] is None
    opened.acknowledge()
    opened.set_status("mitigated")
    opened.set_status("resolved")
    metrics = opened.metrics()

    assert metrics["time_to_detect_seconds"] == pytest.approx(420, abs=5)
    assert 0 <= metrics["time_to_acknowledge_seconds"] < 5  # type: ignore[operator]
    assert metrics["time_to_mitigate_seconds"] is not None
    assert metrics["time_to_resolve_seconds"] is not None


def test_status_updates_carry_the_current_facts(store: str) -> None:
    opened = Incident.open("checkout", "SEV1", commander="alice", store=store)
    opened.set_status("identified")

    internal = opened.status_update("internal")
    public = opened.status_update("public")

    assert f"**[SEV1] checkout incident: identified** ({opened.id})" in internal
    assert "Commander: alice" in internal
    assert "update stakeholders every 30 minutes" in internal
    assert public.startswith("**Identified**: We have found the cause")
    assert "alice" not in public
    with pytest.raises(ParameterError, match="audience"):
        opened.status_update("press")


def test_a_resolved_incident_promises_no_next_update(store: str) -> None:
    opened = Incident.open("checkout", "SEV1", store=store)
    assert "Next update by" in opened.status_update("internal")
    assert "now in: Immediate response" in opened.status_update("internal")

    opened.set_status("resolved")
    time.sleep(1.1)
    internal = opened.status_update("internal")

    assert "Next update by" not in internal
    assert "now in:" not in internal
    assert "- Resolved after 0 s, opened" in internal


def test_close_files_a_record_with_the_review_draft(store: str) -> None:
    opened = Incident.open("shop", "SEV2", commander="alice", store=store)
    opened.note("deploy 42 rolled back; token=abc password=hunter2", by="bob")
    opened.tick("immediate-1")

    closure = opened.close(
        "Deploy 42 broke checkout",
        "checkout failed for 20 minutes",
        ["no canary stage"],
        [{"text": "Add a canary stage", "owner": "carol", "due": "2026-12-17"}],
        store=store,
    )
    saved = RecordStore.open(store).load(closure.location)
    folder = Path(closure.location)

    assert saved.record.kind == "incident"
    assert saved.record.status is RecordStatus.PASSED
    assert saved.record.parameters["incident_id"] == opened.id
    assert saved.record.details["status"] == "resolved"
    assert saved.record.reason == "11 checklist items not done"
    assert [a.path for a in saved.record.artifacts] == ["review.md"]
    review = (folder / "review.md").read_text()
    assert review == closure.review
    assert "## Summary\n\nDeploy 42 broke checkout" in review
    assert "| Add a canary stage | carol | 2026-12-17 |" in review
    assert "- no canary stage" in review
    assert "password=***" in review and "hunter2" not in review
    assert "hunter2" not in (folder / "record.json").read_text()
    statuses = {c.name: c.status.value for c in saved.record.checks}
    assert statuses["Assess impact and affected users"] == "passed"


def test_a_closed_incident_takes_no_more_changes(store: str) -> None:
    opened = Incident.open("shop", store=store)
    opened.close("done", store=store)

    with pytest.raises(InputError, match="closed already"):
        Incident.reopen(opened.id, store).note("one more thing")


def test_close_needs_a_summary_and_owned_action_items(store: str) -> None:
    opened = Incident.open("shop", store=store)

    with pytest.raises(ParameterError, match="summary"):
        opened.close(" ", store=store)
    with pytest.raises(ParameterError, match="give text and owner"):
        opened.close("done", action_items=[{"text": "fix"}], store=store)
    assert not opened.closed


def test_two_writers_at_once_lose_nothing(store: str) -> None:
    opened = Incident.open("shop", store=store)
    other = Incident.reopen(opened.id, store)

    def write(incident: Incident, who: str) -> None:
        for n in range(15):
            incident.note(f"{who} {n}", by=who)

    threads = [
        threading.Thread(target=write, args=(opened, "a")),
        threading.Thread(target=write, args=(other, "b")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = Incident.reopen(opened.id, store)

    notes = [e.text for e in final.timeline if e.kind == "note"]
    assert sorted(notes) == sorted(
        [f"a {n}" for n in range(15)] + [f"b {n}" for n in range(15)]
    )
    log = sorted((Path(store) / "incident-log" / opened.id).iterdir())
    assert [json.loads(p.read_text())["seq"] for p in log] == list(range(1, 32))


def test_incidents_are_listed_newest_first(store: str) -> None:
    first = Incident.open("shop", store=store)
    second = Incident.open("cart", "SEV1", store=store)
    first.close("done", store=store)

    rows = list_incidents(store)

    assert {r["id"] for r in rows} == {first.id, second.id}
    closed = {r["id"]: r["closed"] for r in rows}
    assert closed == {first.id: True, second.id: False}


def test_an_incident_lives_in_an_s3_store(s3_bucket: str) -> None:
    store = f"s3://{s3_bucket}/ops"
    opened = Incident.open("shop", "SEV2", store=store)
    opened.note("from the notebook")

    again = Incident.reopen(opened.id, store)
    closure = again.close("fixed", store=store)

    assert [e.text for e in again.timeline][1] == "from the notebook"
    assert closure.location.startswith(f"s3://{s3_bucket}/ops/incident/")


def damage_third_event(store: str) -> tuple[Incident, Incident, Path]:
    """Two incidents; the first's third event is then overwritten."""
    broken = Incident.open("shop", store=store)
    broken.note("one")
    broken.note("two")
    healthy = Incident.open("cart", "SEV1", store=store)
    return broken, healthy, Path(store, "incident-log", broken.id, "000003.json")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"garbage", "not JSON: Expecting value at line 1"),
        (b'{"seq": 3, "at": "2026-01-01T00:00:00+00:00", "by": "x"}', "no 'data'"),
        (b"[1, 2]", "TypeError"),
        (
            b'{"seq": 3, "at": "2026-01-01T00:00:00+00:00", "by": "x", '
            b'"type": "ticked", "data": {"item": "nope", "done": true}}',
            "StopIteration",
        ),
        (b"\xff\xfe", "not JSON"),
    ],
    ids=["garbage", "no-data", "not-a-mapping", "unknown-item", "not-utf8"],
)
def test_a_damaged_event_is_named_and_the_other_incidents_still_list(
    store: str, content: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    broken, healthy, event = damage_third_event(store)
    event.write_bytes(content)

    with pytest.raises(RecordError) as caught:
        Incident.reopen(broken.id, store)
    rows = {row["id"]: row for row in list_incidents(store)}

    assert str(caught.value).startswith(f"{event}: damaged (")
    assert reason in str(caught.value)
    assert str(caught.value).endswith(
        "the incident's log cannot be trusted past event 2; move the file aside "
        "to go on"
    )
    assert rows[broken.id]["status"] == "damaged"
    assert rows[broken.id]["service"] == "shop"
    assert rows[healthy.id]["status"] == "investigating"
    assert f"incident {broken.id}: {event}: damaged" in caplog.text
    Incident.reopen(healthy.id, store).note("still works")


def test_moving_a_damaged_event_aside_lets_the_incident_go_on(
    store: str, tmp_path: Path
) -> None:
    broken, _, event = damage_third_event(store)
    broken.note("three")
    event.write_text("garbage")

    event.rename(tmp_path / "000003.json.damaged")
    again = Incident.reopen(broken.id, store)
    again.note("four")

    texts = [e.text for e in Incident.reopen(broken.id, store).timeline]
    assert texts[1:] == ["one", "three", "four"]
    assert json.loads(event.with_name("000005.json").read_text())["seq"] == 5


def test_opening_where_the_store_cannot_be_written_is_a_storage_error(
    tmp_path: Path,
) -> None:
    store = tmp_path / "records"
    store.mkdir()
    (store / "incident-log").write_text("a file where the log folder goes")

    with pytest.raises(StorageError) as caught:
        Incident.open("shop", store=store)

    message = str(caught.value)
    assert f"cannot write into {store / 'incident-log'}/INC-" in message
    assert "(Not a directory); make the store folder writable" in message


def test_the_commander_and_action_items_are_masked_like_notes(store: str) -> None:
    opened = Incident.open("shop", commander="postgresql://a:PW1@x/db", store=store)
    opened.set_commander("postgresql://b:PW2@x/db")
    closure = opened.close(
        "done",
        action_items=[
            {"text": "rotate password=PW3", "owner": "mysql://c:PW4@x", "due": ""}
        ],
        store=store,
    )

    logged = "".join(p.read_text() for p in Path(store).rglob("*.json"))
    review = (Path(closure.location) / "review.md").read_text()
    for secret in ("PW1", "PW2", "PW3", "PW4"):
        assert secret not in logged and secret not in review
    assert closure.record.details["action_items"] == [
        {"text": "rotate password=***", "owner": "mysql://c:***@x", "due": ""}
    ]
    assert opened.commander == "postgresql://b:***@x/db"
