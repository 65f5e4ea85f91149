"""An incident as the on-call engineer works it: severity, commander, status,
the seed's three response phases as checklists with due times, a timeline of
notes and automatic entries, status updates rendered from templates, the
response times, and on close a post-incident review draft and a record.

Every change is appended to an event log in the record store before it
counts, so the incident survives a kernel restart, is reopened by its id, and
the notebook and ``opskit incident`` can work on it at the same time.

>>> incident = Incident.open("shop", "SEV2", commander="alice")
>>> incident.note("checkout returns 502 since 14:02")
>>> Incident.reopen(incident.id).status
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from opskit.errors import (
    InputError,
    NotFoundError,
    ParameterError,
    RecordError,
    StorageError,
    suggest,
)
from opskit.masking import mask_text
from opskit.phases import utc_now
from opskit.record_store import file_record
from opskit.records import (
    Check,
    CheckStatus,
    Record,
    RecordStatus,
    TimelineEntry,
    current_environment,
    started_by,
)
from opskit.storage import ObjectExists, Storage, open_storage
from opskit.targets import parse_duration

logger = logging.getLogger(__name__)

KIND = "incident"
LOG_PREFIX = "incident-log"
EVENT_NAME = re.compile(r"\d{6,}\.json")
"""The name of one event in an incident's log: its number, then ``.json``."""
TEMPLATES = Path(__file__).with_name("templates")


class Sev(StrEnum):
    """Incident severity, SEV1 the worst."""

    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


SEVERITY_MEANINGS = {
    Sev.SEV1: "critical: the service is down or losing data for most users; "
    "page everyone, update stakeholders every 30 minutes",
    Sev.SEV2: "major: a key feature is broken or many users are affected; "
    "update stakeholders every hour",
    Sev.SEV3: "minor: the service is degraded for some users and a workaround "
    "exists; update every 4 hours",
    Sev.SEV4: "low: no user impact yet (a risk found early, a cosmetic fault); "
    "update daily",
}
UPDATE_EVERY = {
    Sev.SEV1: timedelta(minutes=30),
    Sev.SEV2: timedelta(hours=1),
    Sev.SEV3: timedelta(hours=4),
    Sev.SEV4: timedelta(days=1),
}


class IncidentStatus(StrEnum):
    """Where the response stands."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class ResponsePhase:
    """One phase of the response and the checklist due by its end."""

    key: str
    title: str
    due: timedelta
    items: tuple[str, ...]


PHASES = (
    ResponsePhase(
        "immediate",
        "Immediate response (0-15 minutes)",
        timedelta(minutes=15),
        (
            "Assess impact and affected users",
            "Implement immediate mitigation (rollback, feature flags, traffic routing)",
            "Notify team members and start incident tracking",
            "Communicate with users if impact is significant",
        ),
    ),
    ResponsePhase(
        "short-term",
        "Short-term response (15 minutes - 2 hours)",
        timedelta(hours=2),
        (
            "Implement temporary fixes or workarounds",
            "Scale response team if needed",
            "Provide regular status updates",
            "Begin root cause investigation",
        ),
    ),
    ResponsePhase(
        "long-term",
        "Long-term response (2 hours and later)",
        timedelta(days=5),
        (
            "Implement permanent fixes",
            "Conduct post-incident review",
            "Update procedures based on lessons learned",
            "Improve monitoring and prevention capabilities",
        ),
    ),
)


@dataclass
class ChecklistItem:
    """A checklist item of one phase, due a fixed time after detection."""

    id: str
    phase: str
    text: str
    due_at: datetime
    done_at: datetime | None = None
    done_by: str = ""

    def overdue(self, now: datetime | None = None) -> bool:
        """Not done and past its due time."""
        return self.done_at is None and (now or utc_now()) > self.due_at


@dataclass
class ActionItem:
    """Follow-up work from the review, with an owner."""

    text: str
    owner: str
    due: str = ""


@dataclass(frozen=True)
class Closure:
    """A closed incident: the review draft and where its record is."""

    review: str
    location: str
    record: Record


@dataclass
class _State:
    service: str = ""
    severity: Sev = Sev.SEV3
    commander: str = ""
    title: str = ""
    status: IncidentStatus = IncidentStatus.INVESTIGATING
    opened_at: datetime | None = None
    began_at: datetime | None = None
    detected_at: datetime | None = None
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    checklist: list[ChecklistItem] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    closing: dict[str, Any] = field(default_factory=dict)


class Incident:
    """One incident, its state rebuilt from the event log in the store."""

    def __init__(self, incident_id: str, storage: Storage) -> None:
        self.id = incident_id
        self.storage = storage
        self._events: list[dict[str, Any]] = []
        self._last_key = ""
        self._state = _State()

    @classmethod
    def open(
        cls,
        service: str,
        severity: str = "SEV3",
        *,
        commander: str = "",
        title: str = "",
        began_at: datetime | str | None = None,
        store: str | Path | None = None,
        by: str = "",
    ) -> Incident:
        """Open a new incident; detection time is now, impact may have begun
        earlier (``began_at``: a time, or text for ``parse_began_at``), which
        gives the time to detect."""
        if not str(service).strip():
            raise ParameterError("service: name the affected service")
        now = utc_now()
        if isinstance(began_at, str):
            began_at = parse_began_at(began_at, now) if began_at.strip() else None
        incident_id = f"INC-{now:%Y%m%d}-{secrets.token_hex(3)}"
        incident = cls(incident_id, _storage(store, create=True))
        incident._append(
            "opened",
            {
                "service": str(service).strip(),
                "severity": _severity(severity).value,
                "commander": mask_text(commander),
                "title": mask_text(title) if title else f"{service} incident",
                "began_at": began_at.isoformat() if began_at else None,
            },
            by,
        )
        logger.info(
            "incident %s opened in %s", incident_id, incident.storage.describe()
        )
        return incident

    @classmethod
    def reopen(cls, incident_id: str, store: str | Path | None = None) -> Incident:
        """The incident ``incident_id`` as saved, after a restart or from
        another process."""
        storage = _storage(store)
        incident = cls(incident_id.strip(), storage)
        incident.refresh()
        if not incident._events:
            known = [row["id"] for row in list_incidents(store)]
            raise NotFoundError(
                f"incident {incident_id!r}: not found in {storage.describe()}"
                f"{suggest(incident_id, known)}; `opskit incident list` shows them"
            )
        return incident

    def refresh(self) -> None:
        """Read changes other processes appended since the last read.

        An event that is not JSON or not a valid event raises ``RecordError``
        naming its key; the events before it stay read.
        """
        keys = sorted(
            info.key
            for info in self.storage.list(f"{LOG_PREFIX}/{self.id}/")
            if EVENT_NAME.fullmatch(info.key.rsplit("/", 1)[-1])
        )
        for key in keys:
            if key > self._last_key:
                self._read_event(key)

    # The facts, always current with the log.

    @property
    def service(self) -> str:
        return self._state.service

    @property
    def severity(self) -> Sev:
        return self._state.severity

    @property
    def commander(self) -> str:
        return self._state.commander

    @property
    def title(self) -> str:
        return self._state.title

    @property
    def status(self) -> IncidentStatus:
        return self._state.status

    @property
    def opened_at(self) -> datetime:
        assert self._state.opened_at is not None
        return self._state.opened_at

    @property
    def began_at(self) -> datetime | None:
        """When impact began, if someone said; detection is ``opened_at``."""
        return self._state.began_at

    @property
    def closed(self) -> bool:
        return self._state.closed_at is not None

    @property
    def checklist(self) -> list[ChecklistItem]:
        return list(self._state.checklist)

    @property
    def timeline(self) -> list[TimelineEntry]:
        return list(self._state.timeline)

    # Changes: each one is appended to the log first.

    def note(self, text: str, by: str = "") -> TimelineEntry:
        """Add a note to the timeline."""
        if not text.strip():
            raise ParameterError("note: the text is empty")
        self._append("note", {"text": mask_text(text.strip())}, by)
        return self._state.timeline[-1]

    def acknowledge(self, by: str = "") -> None:
        """Someone has taken the incident on (time to acknowledge)."""
        self._append("acknowledged", {}, by)

    def set_status(self, status: str, note: str = "", by: str = "") -> None:
        """Move to ``status`` (investigating, identified, mitigated, resolved)."""
        self._append(
            "status", {"status": _status(status).value, "note": mask_text(note)}, by
        )

    def set_severity(self, severity: str, by: str = "") -> None:
        """Raise or lower the severity."""
        self._append("severity", {"severity": _severity(severity).value}, by)

    def set_commander(self, commander: str, by: str = "") -> None:
        """Hand the incident to another commander."""
        self._append("commander", {"commander": mask_text(commander)}, by)

    def tick(self, item_id: str, done: bool = True, by: str = "") -> ChecklistItem:
        """Mark a checklist item done (or not done again)."""
        self._item(item_id)
        self._append("ticked", {"item": item_id, "done": done}, by)
        return self._item(item_id)

    def add_entry(self, entry: TimelineEntry) -> None:
        """Add an entry made elsewhere (a runbook step, a health round)."""
        self._append("entry", {"entry": entry.model_dump(mode="json")}, entry.author)

    def record_health(self, results: pd.DataFrame, by: str = "opskit") -> TimelineEntry:
        """Note a round of health checks in the timeline."""
        from opskit.health import overall, summarize

        entry = TimelineEntry(
            at=utc_now(),
            author=by,
            kind="check",
            text=f"health: {summarize(results)}",
            outcome=overall(results).value,
        )
        self.add_entry(entry)
        return entry

    # Reading the state.

    def overdue(self, now: datetime | None = None) -> list[ChecklistItem]:
        """Checklist items past their due time and not done."""
        return [item for item in self._state.checklist if item.overdue(now)]

    def current_phase(self, now: datetime | None = None) -> ResponsePhase:
        """The phase the response is in, by time since detection."""
        elapsed = (now or utc_now()) - self._detected_at
        return next((p for p in PHASES if elapsed <= p.due), PHASES[-1])

    def metrics(self) -> dict[str, float | None]:
        """Seconds to detect, acknowledge, mitigate and resolve (None until
        that moment has come)."""
        state = self._state
        return {
            "time_to_detect_seconds": _seconds(state.began_at, state.detected_at),
            "time_to_acknowledge_seconds": _seconds(
                state.detected_at, state.acknowledged_at
            ),
            "time_to_mitigate_seconds": _seconds(state.detected_at, state.mitigated_at),
            "time_to_resolve_seconds": _seconds(state.detected_at, state.resolved_at),
        }

    def checklist_frame(self, now: datetime | None = None) -> pd.DataFrame:
        """The checklist as a table: phase, item, due, done, overdue."""
        return pd.DataFrame(
            [
                {
                    "id": item.id,
                    "phase": item.phase,
                    "item": item.text,
                    "due_at": item.due_at,
                    "done_by": item.done_by,
                    "done": item.done_at is not None,
                    "overdue": item.overdue(now),
                }
                for item in self._state.checklist
            ],
            columns=["id", "phase", "item", "due_at", "done_by", "done", "overdue"],
        )

    def timeline_frame(self) -> pd.DataFrame:
        """The timeline as a table, oldest first."""
        return pd.DataFrame(
            [
                {"at": e.at, "author": e.author, "kind": e.kind, "text": e.text}
                for e in self._state.timeline
            ],
            columns=["at", "author", "kind", "text"],
        )

    def status_update(
        self, audience: str = "internal", now: datetime | None = None
    ) -> str:
        """Status-update text for ``internal`` readers or the ``public``
        status page, from the current facts."""
        if audience not in ("internal", "public"):
            raise ParameterError(
                f"audience: {audience!r} is not one of internal, public"
            )
        return _render(f"status_{audience}.md.j2", self._context(now))

    def review_draft(
        self,
        summary: str = "",
        impact: str = "",
        contributing_factors: Sequence[str] = (),
        action_items: Iterable[ActionItem | Mapping[str, str]] = (),
        now: datetime | None = None,
    ) -> str:
        """A post-incident review draft in Markdown from the facts so far."""
        context = self._context(now)
        context.update(
            summary=summary or self._state.closing.get("summary", ""),
            impact=impact or self._state.closing.get("impact", ""),
            factors=list(contributing_factors)
            or self._state.closing.get("factors", []),
            actions=[_action(a) for a in action_items]
            or [_action(a) for a in self._state.closing.get("actions", [])],
        )
        return _render("review.md.j2", context)

    def close(
        self,
        summary: str,
        impact: str = "",
        contributing_factors: Sequence[str] = (),
        action_items: Iterable[ActionItem | Mapping[str, str]] = (),
        *,
        by: str = "",
        store: str | Path | None = None,
    ) -> Closure:
        """Resolve (if not yet), write the review draft and file the record of
        kind ``incident``. A closed incident takes no more changes."""
        actions = [_action(a) for a in action_items]
        if not summary.strip():
            raise ParameterError("summary: say in a sentence what happened")
        if self._state.status != IncidentStatus.RESOLVED:
            self.set_status("resolved", "resolved on close", by)
        self._append(
            "closed",
            {
                "summary": mask_text(summary.strip()),
                "impact": mask_text(impact.strip()),
                "factors": [mask_text(f) for f in contributing_factors],
                "actions": [vars(a) for a in actions],
            },
            by,
        )
        review = self.review_draft()
        record = self.record(review)
        location = _file(record, review, store)
        return Closure(review, location, record)

    def file_snapshot(self, store: str | Path | None = None) -> str:
        """File a record of the incident as it stands, without closing it:
        what an unattended run leaves when the incident goes on."""
        self.refresh()
        record = self.record(self.review_draft())
        reason = f"still open ({self.status.value}); reopen with id {self.id}"
        record = record.model_copy(
            update={"reason": f"{reason}; {record.reason}" if record.reason else reason}
        )
        return _file(record, record.details["review"], store)

    def record(self, review: str = "") -> Record:
        """The incident as a record (filed by ``close``)."""
        state = self._state
        overdue = self.overdue(state.closed_at)
        not_done = [i for i in state.checklist if i.done_at is None]
        reason = (
            f"{len(not_done)} checklist items not done"
            + (f", {len(overdue)} overdue" if overdue else "")
            if not_done
            else ""
        )
        return Record(
            kind=KIND,
            name=state.service,
            started_by=self._events[0]["by"],
            started_at=self.opened_at,
            ended_at=state.closed_at or utc_now(),
            status=RecordStatus.PASSED,
            reason=reason,
            parameters={
                "incident_id": self.id,
                "service": state.service,
                "severity": state.severity.value,
                "commander": state.commander,
            },
            measurements={k: v for k, v in self.metrics().items() if v is not None},
            checks=[_check(item, state.closed_at) for item in state.checklist],
            timeline=state.timeline,
            details={
                "incident_id": self.id,
                "title": state.title,
                "status": state.status.value,
                "severity_meaning": SEVERITY_MEANINGS[state.severity],
                "summary": state.closing.get("summary", ""),
                "impact": state.closing.get("impact", ""),
                "contributing_factors": state.closing.get("factors", []),
                "action_items": state.closing.get("actions", []),
                "review": review,
            },
            environment=current_environment(),
        )

    # The log.

    def _read_event(self, key: str) -> None:
        """Apply the event stored as ``key``, or raise ``RecordError``."""
        count = len(self._events)
        try:
            self._apply(json.loads(self.storage.read_bytes(key)))
        except (ValueError, KeyError, TypeError, AttributeError, StopIteration) as exc:
            del self._events[count:]
            raise RecordError(
                f"{self.storage.describe(key)}: damaged ({_damage(exc)}); the "
                f"incident's log cannot be trusted past event {count}; move the "
                "file aside to go on"
            ) from exc
        self._last_key = key

    def _append(self, kind: str, data: dict[str, Any], by: str) -> None:
        """Write the next event; if another writer took that number first,
        read theirs and try the next one."""
        for _ in range(50):
            self.refresh()
            if self.closed:
                raise InputError(
                    f"incident {self.id}: closed already; open a new incident"
                )
            event = {
                "seq": _next_seq(self._last_key),
                "at": utc_now().isoformat(),
                "by": by or started_by(),
                "type": kind,
                "data": data,
            }
            key = f"{LOG_PREFIX}/{self.id}/{event['seq']:06d}.json"
            try:
                self.storage.put_bytes(key, json.dumps(event).encode("utf-8"))
            except ObjectExists:
                continue
            self._apply(event)
            self._last_key = key
            return
        raise InputError(f"incident {self.id}: too many writers at once; try again")

    def _apply(self, event: dict[str, Any]) -> None:
        self._events.append(event)
        state, data = self._state, event["data"]
        at = datetime.fromisoformat(event["at"])
        by = event["by"]
        kind = event["type"]
        text = ""

        if kind == "opened":
            state.service, state.title = data["service"], data["title"]
            state.severity = Sev(data["severity"])
            state.commander = data["commander"]
            state.opened_at = state.detected_at = at
            state.began_at = (
                datetime.fromisoformat(data["began_at"]) if data["began_at"] else None
            )
            state.checklist = _checklist(at)
            text = f"opened {state.severity.value} for {state.service}" + (
                f", commander {state.commander}" if state.commander else ""
            )
        elif kind == "note":
            text = data["text"]
        elif kind == "acknowledged":
            state.acknowledged_at = state.acknowledged_at or at
            text = "acknowledged"
        elif kind == "status":
            state.status = IncidentStatus(data["status"])
            if state.status in (IncidentStatus.MITIGATED, IncidentStatus.RESOLVED):
                state.mitigated_at = state.mitigated_at or at
            if state.status == IncidentStatus.RESOLVED:
                state.resolved_at = state.resolved_at or at
            state.acknowledged_at = state.acknowledged_at or at
            text = f"status {state.status.value}" + (
                f": {data['note']}" if data["note"] else ""
            )
        elif kind == "severity":
            text = f"severity {state.severity.value} -> {data['severity']}"
            state.severity = Sev(data["severity"])
        elif kind == "commander":
            state.commander = data["commander"]
            text = f"commander is now {state.commander}"
        elif kind == "ticked":
            item = next(i for i in state.checklist if i.id == data["item"])
            item.done_at, item.done_by = (at, by) if data["done"] else (None, "")
            text = f"{'done' if data['done'] else 'not done'}: {item.text}"
        elif kind == "entry":
            state.timeline.append(TimelineEntry.model_validate(data["entry"]))
            return
        elif kind == "closed":
            state.closed_at = at
            state.closing = data
            text = "closed"
        state.timeline.append(
            TimelineEntry(at=at, author=by, kind=_entry_kind(kind), text=text)
        )

    def _item(self, item_id: str) -> ChecklistItem:
        for item in self._state.checklist:
            if item.id == item_id:
                return item
        known = [i.id for i in self._state.checklist]
        raise ParameterError(
            f"checklist item {item_id!r}: no such item{suggest(item_id, known)}; "
            f"items are {', '.join(known)}"
        )

    @property
    def _detected_at(self) -> datetime:
        assert self._state.detected_at is not None
        return self._state.detected_at

    def _context(self, now: datetime | None) -> dict[str, Any]:
        now = now or utc_now()
        state = self._state
        health = [e for e in state.timeline if e.kind == "check"]
        last_update = max(
            (e.at for e in state.timeline if e.kind == "status"), default=self.opened_at
        )
        resolved = state.status == IncidentStatus.RESOLVED
        ended = state.resolved_at if resolved else None
        return {
            "incident": self,
            "id": self.id,
            "service": state.service,
            "title": state.title,
            "severity": state.severity.value,
            "meaning": SEVERITY_MEANINGS[state.severity],
            "status": state.status.value,
            "commander": state.commander or "not assigned",
            "now": now,
            "opened_at": self.opened_at,
            "since": _duration((ended or now) - self.opened_at),
            "phase": self.current_phase(now).title,
            "health": health[-1].text if health else "not checked yet",
            "overdue": self.overdue(now),
            "open_items": [i for i in state.checklist if i.done_at is None],
            "next_update": last_update + UPDATE_EVERY[state.severity],
            "timeline": state.timeline,
            "metrics": {
                name.removesuffix("_seconds").replace("_", " "): (
                    _duration(timedelta(seconds=value)) if value is not None else "-"
                )
                for name, value in self.metrics().items()
            },
        }


def list_incidents(store: str | Path | None = None) -> list[dict[str, Any]]:
    """Every incident in the store, newest first, with its current facts."""
    try:
        storage = _storage(store)
    except NotFoundError:
        return []
    ids = sorted(
        {
            info.key.split("/")[1]
            for info in storage.list(f"{LOG_PREFIX}/")
            if info.key.count("/") == 2
        },
        reverse=True,
    )
    rows = [_summary(Incident(incident_id, storage)) for incident_id in ids]
    kept = [row for row in rows if row is not None]
    return sorted(kept, key=lambda row: row["opened_at"] or _EPOCH, reverse=True)


def _summary(incident: Incident) -> dict[str, Any] | None:
    """One row of ``list_incidents``; a log that cannot be read whole is
    listed with status ``damaged`` (and a warning), an empty one not at all."""
    try:
        incident.refresh()
    except (RecordError, StorageError) as exc:
        logger.warning("incident %s: %s", incident.id, exc)
        damaged = True
    else:
        damaged = False
        if not incident._events:
            return None
    state = incident._state
    return {
        "id": incident.id,
        "service": state.service,
        "severity": state.severity.value if incident._events else "",
        "status": "damaged" if damaged else state.status.value,
        "commander": state.commander,
        "opened_at": state.opened_at,
        "closed": incident.closed and not damaged,
    }


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _storage(store: str | Path | None, create: bool = False) -> Storage:
    from opskit.record_store import resolve_store_location

    return open_storage(resolve_store_location(store), create=create)


def _checklist(detected_at: datetime) -> list[ChecklistItem]:
    return [
        ChecklistItem(
            id=f"{phase.key}-{number}",
            phase=phase.title,
            text=text,
            due_at=detected_at + phase.due,
        )
        for phase in PHASES
        for number, text in enumerate(phase.items, start=1)
    ]


def checklist_ids() -> list[str]:
    """The ids of every checklist item (``immediate-1`` ...), the same in
    every incident."""
    return [item.id for item in _checklist(utc_now())]


def check_severity(value: str) -> Sev:
    """``value`` as a severity (``SEV2``, ``sev2`` or ``2``), or a
    ``ParameterError`` listing what each means."""
    return _severity(value)


def check_status(value: str) -> IncidentStatus:
    """``value`` as an incident status, or a ``ParameterError`` listing them."""
    return _status(value)


def parse_began_at(text: str, now: datetime | None = None) -> datetime:
    """When impact began: an ISO 8601 time (UTC when it names no zone) or a
    duration before now such as ``25m`` or ``2h``. A time after now is
    refused: time to detect cannot be negative."""
    now = now or utc_now()
    value = text.strip().removesuffix(" ago").strip()
    if re.fullmatch(r"\d+(?:\.\d+)?\s*[smhd]?", value):
        try:
            began = now - timedelta(seconds=parse_duration(value, "began_at"))
        except OverflowError as exc:
            raise ParameterError(
                f"began_at: {text!r} reaches back before any calendar; give how "
                "long ago impact began, such as 25m or 3h"
            ) from exc
    else:
        try:
            began = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ParameterError(
                f"began_at: {text!r} is neither a time nor a duration; write "
                "2026-12-04T05:40Z or 25m (minutes before now)"
            ) from exc
        if began.tzinfo is None:
            began = began.replace(tzinfo=UTC)
    if began > now:
        raise ParameterError(
            f"began_at: {text!r} is after now ({now:%Y-%m-%d %H:%M} UTC); give "
            "when the impact began"
        )
    return began


def _severity(value: str) -> Sev:
    text = str(value).strip().upper()
    if text.isdigit():
        text = f"SEV{text}"
    try:
        return Sev(text)
    except ValueError as exc:
        meanings = "; ".join(
            f"{s.value} {m.split(':')[0]}" for s, m in SEVERITY_MEANINGS.items()
        )
        raise ParameterError(
            f"severity: {value!r} is not a severity; choose {meanings}"
        ) from exc


def _status(value: str) -> IncidentStatus:
    try:
        return IncidentStatus(str(value).strip().lower())
    except ValueError as exc:
        raise ParameterError(
            f"status: {value!r} is not one of "
            f"{', '.join(s.value for s in IncidentStatus)}"
        ) from exc


def _action(item: ActionItem | Mapping[str, str]) -> ActionItem:
    """An action item with passwords in its text, owner and due masked."""
    if isinstance(item, ActionItem):
        text, owner, due = item.text, item.owner, item.due
    else:
        try:
            text, owner = str(item["text"]), str(item["owner"])
            due = str(item.get("due", ""))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ParameterError(
                f"action item {mask_text(repr(item))}: give text and owner "
                "(and optionally due)"
            ) from exc
    return ActionItem(mask_text(text), mask_text(owner), mask_text(due))


def _next_seq(last_key: str) -> int:
    """The number of the event after ``last_key`` (1 for an empty log)."""
    if not last_key:
        return 1
    return int(last_key.rsplit("/", 1)[-1].removesuffix(".json")) + 1


def _damage(exc: Exception) -> str:
    """What is wrong with an event, in a few words."""
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at line {exc.lineno}"
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r} field"
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _entry_kind(event: str) -> str:
    return {
        "note": "note",
        "ticked": "checklist",
        "entry": "entry",
    }.get(event, "status")


def _check(item: ChecklistItem, at: datetime | None) -> Check:
    if item.done_at is not None:
        status = CheckStatus.PASSED
    elif item.overdue(at):
        status = CheckStatus.FAILED
    else:
        status = CheckStatus.SKIPPED
    return Check(
        name=item.text,
        status=status,
        expected=f"done by {item.due_at.isoformat(timespec='minutes')}",
        actual=f"done {item.done_at.isoformat(timespec='minutes')} by {item.done_by}"
        if item.done_at
        else "not done",
    )


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def _render(name: str, context: dict[str, Any]) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    environment.filters["hhmm"] = lambda moment: f"{moment:%Y-%m-%d %H:%M} UTC"
    return environment.get_template(name).render(context)


def _file(record: Record, review: str, store: str | Path | None) -> str:
    """File the record with the review draft beside it."""
    with tempfile.TemporaryDirectory(prefix="opskit-review-") as tmp:
        path = Path(tmp) / "review.md"
        path.write_text(review, encoding="utf-8")
        return file_record(record, store, {"review.md": path})
