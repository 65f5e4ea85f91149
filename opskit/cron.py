"""Cron expressions as every scheduler opskit exports to reads them alike.

A drill's schedule is a five-field expression (minute, hour, day of month,
month, day of week) or a preset such as ``@daily``. ``normalize`` accepts the
syntax that Debian's cron, cronie, Kubernetes and Airflow all share (numbers,
``*``, ranges, steps, lists, month and weekday names) and refuses the rest
(seconds fields, ``L``, ``#``, ``?``, ``H``), so one expression means the same
everywhere. ``to_oncalendar`` writes the systemd timer form of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from croniter import CroniterBadDateError, croniter

PRESETS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

MONTHS: tuple[str, ...] = ("jan", "feb", "mar", "apr", "may", "jun")
MONTHS += ("jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_SYSTEMD_DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
_ITEM = re.compile(r"(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    first_name: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, MONTHS, 1),
    _Field("day of week", 0, 7, WEEKDAYS, 0),
)


class CronSyntaxError(ValueError):
    """A schedule that is not a portable five-field cron expression."""


def normalize(expression: str) -> str:
    """Return ``expression`` as five fields, presets expanded and names
    lower-cased; raise ``CronSyntaxError`` saying what is wrong."""
    text = " ".join(expression.split()).lower()
    if text.startswith("@"):
        if text not in PRESETS:
            raise CronSyntaxError(
                f"{expression!r} is not a preset opskit can schedule; use one of "
                f"{', '.join(PRESETS)} or five fields such as '0 3 * * *'"
            )
        return PRESETS[text]

    fields = text.split(" ")
    if len(fields) != 5:
        raise CronSyntaxError(
            f"{expression!r} has {len(fields)} fields; write five (minute hour "
            "day-of-month month day-of-week), e.g. '30 2 * * 1-5'"
        )
    for field, value in zip(_FIELDS, fields, strict=True):
        expand_field(value, field.name)
    _refuse_ambiguous_days(fields[2], fields[4])
    if not croniter.is_valid(text):
        raise CronSyntaxError(f"{expression!r} is not a valid cron expression")
    _refuse_never(expression, text)
    return text


def _refuse_never(expression: str, text: str) -> None:
    """Refuse an expression no date matches (``0 0 30 2 *``): it would be
    exported as a job that never runs."""
    try:
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError as exc:
        raise CronSyntaxError(
            f"{expression!r} never matches a date (no such day in those months); "
            "choose days that exist"
        ) from exc


def expand_field(text: str, field_name: str) -> list[int]:
    """The numbers a field matches (``1-5/2`` in hours is ``[1, 3, 5]``);
    weekday 7 is Sunday, 0."""
    field = next(f for f in _FIELDS if f.name == field_name)
    found: set[int] = set()
    for item in text.split(","):
        found.update(_item_values(item, field))
    if field.name == "day of week":
        found = {day % 7 for day in found}
    return sorted(found)


def to_oncalendar(expression: str, timezone: str) -> list[str]:
    """The systemd ``OnCalendar=`` values that fire when ``expression`` does.

    Cron runs a job when the day of month *or* the day of week matches if both
    are restricted; systemd needs both to match, so that case becomes two
    values, which a timer fires on either of.
    """
    minute, hour, dom, month, dow = normalize(expression).split(" ")
    clock = f"{_systemd(hour, _FIELDS[1], 2)}:{_systemd(minute, _FIELDS[0], 2)}:00"
    months = _systemd(month, _FIELDS[3])
    weekdays = sorted(expand_field(dow, "day of week"), key=lambda day: (day - 1) % 7)
    days = ",".join(_SYSTEMD_DAYS[day] for day in weekdays)

    by_date = f"*-{months}-{_systemd(dom, _FIELDS[2])} {clock} {timezone}"
    if dow == "*":
        return [by_date]
    by_weekday = f"{days} *-{months}-* {clock} {timezone}"
    if dom == "*":
        return [by_weekday]
    return [by_date, by_weekday]


def _item_values(item: str, field: _Field) -> list[int]:
    match = _ITEM.fullmatch(item)
    if not match:
        raise CronSyntaxError(
            f"{field.name} {item!r}: write a number, a name, '*', a range such as "
            "1-5, or a step such as */15 or 1-30/5"
        )
    span, step_text = match.groups()
    if "-" not in span and span != "*" and step_text is not None:
        raise CronSyntaxError(
            f"{field.name} {item!r}: a step needs a range or '*' before it "
            f"(Debian's cron refuses {item!r}); write e.g. {span}-{field.high}/"
            f"{step_text}"
        )
    if span == "*":
        low, high = field.low, field.high
    else:
        ends = [_number(end, item, field) for end in span.split("-")]
        low, high = ends[0], ends[-1]
    if low > high:
        raise CronSyntaxError(
            f"{field.name} {item!r}: the range runs backwards; write the smaller "
            "end first"
        )

    step = int(step_text) if step_text is not None else 1
    if step < 1 or step > field.high:
        raise CronSyntaxError(
            f"{field.name} {item!r}: the step must be between 1 and {field.high}"
        )
    return list(range(low, high + 1, step))


def _number(text: str, item: str, field: _Field) -> int:
    if text in field.names:
        return field.names.index(text) + field.first_name
    if not text.isdigit():
        names = f" or a name ({', '.join(field.names)})" if field.names else ""
        raise CronSyntaxError(f"{field.name} {item!r}: {text!r} is not a number{names}")
    number = int(text)
    if not field.low <= number <= field.high:
        raise CronSyntaxError(
            f"{field.name} {item!r}: {number} is outside {field.low}-{field.high}"
        )
    return number


def _refuse_ambiguous_days(dom: str, dow: str) -> None:
    """Cron implementations disagree on ``*/2`` in one day field when the other
    is restricted: Debian's cron requires both to match, Kubernetes and
    croniter either."""
    for field, other in ((dom, dow), (dow, dom)):
        if field.startswith("*/") and other != "*":
            raise CronSyntaxError(
                f"days {dom!r} and {dow!r}: a step on '*' in one day field with "
                "the other restricted means different days to different cron "
                "implementations; list the days instead (e.g. 1-31/2)"
            )


def _systemd(text: str, field: _Field, width: int = 1) -> str:
    """One cron field in systemd's calendar syntax (ranges ``a..b``, repetition
    ``start/step``; a stepped range becomes the list of its values), numbers
    padded to ``width`` digits."""
    if text == "*":
        return "*"
    parts: list[str] = []
    for item in text.split(","):
        span, _, step = item.partition("/")
        if span == "*":
            parts.append(f"{field.low:0{width}d}/{step}")
        elif step:
            parts.extend(f"{value:0{width}d}" for value in _item_values(item, field))
        elif "-" in span:
            low, high = (_number(end, item, field) for end in span.split("-"))
            parts.append(f"{low:0{width}d}..{high:0{width}d}")
        else:
            parts.append(f"{_number(span, item, field):0{width}d}")
    return ",".join(parts)
