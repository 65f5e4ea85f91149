"""RTO/RPO reports: restore-drill records turned into evidence a lead or an
auditor reads. Per service and tier: the latest RTO and RPO, their p50, p90
and worst over the window, every missed target, the trend against the
previous window, drills overdue and backups stale; figures a reader can check
against the per-drill table; one self-contained HTML page and a record.

>>> report = rto_report("records", since=datetime(2026, 11, 1, tzinfo=UTC))
>>> report.summary[["service", "p90_rto_seconds", "missed"]]
>>> report.file("records")
"""

from __future__ import annotations

import base64
import io
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from opskit.errors import InputError, ParameterError
from opskit.phases import utc_now
from opskit.record_store import RecordStore, file_record
from opskit.records import (
    Check,
    CheckStatus,
    Record,
    RecordStatus,
    current_environment,
    started_by,
)
from opskit.targets import Tier, format_duration, load_tiers

logger = logging.getLogger(__name__)

KIND = "report"
DRILL_KIND = "restore-drill"
TEMPLATES = Path(__file__).with_name("templates")
MISS_COLUMNS = [
    "started_at",
    "service",
    "tier",
    "target",
    "actual_seconds",
    "target_seconds",
    "record",
]
PAGE_ROWS = 500
MARKED_POINTS = 200
LEGEND_SERIES = 8
SUMMARY_COLUMNS = [
    "service",
    "tier",
    "drills",
    "passed",
    "failed",
    "missed",
    "latest_at",
    "latest_rto_seconds",
    "p50_rto_seconds",
    "p90_rto_seconds",
    "worst_rto_seconds",
    "rto_target_seconds",
    "latest_rpo_seconds",
    "p50_rpo_seconds",
    "p90_rpo_seconds",
    "worst_rpo_seconds",
    "rpo_target_seconds",
    "previous_p50_rto_seconds",
    "rto_trend",
    "last_passed_at",
]


@dataclass
class RtoReport:
    """A finished report: its tables, figures, HTML page and verdict."""

    since: datetime
    until: datetime
    services: list[str]
    drills: pd.DataFrame
    summary: pd.DataFrame
    misses: pd.DataFrame
    overdue: pd.DataFrame
    stale: pd.DataFrame
    figures: dict[str, Any] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)
    html: str = ""

    @property
    def status(self) -> RecordStatus:
        """Failed when a target was missed, a drill is overdue, a backup is
        stale, or no drill at all ran in the window (no evidence); passed
        otherwise."""
        problems = len(self.misses) + len(self.overdue) + len(self.stale)
        if problems or self.drills.empty:
            return RecordStatus.FAILED
        return RecordStatus.PASSED

    def summary_text(self) -> str:
        """Two lines for a terminal or a notebook."""
        services = self.summary["service"].nunique()
        if self.drills.empty:
            named = ", ".join(self.services) or "any service"
            return (
                f"RTO/RPO report {self.since:%Y-%m-%d} to {self.until:%Y-%m-%d}: "
                f"no drills in the window\nno evidence: no drill records in the "
                f"window for {named}: failed"
            )
        return (
            f"RTO/RPO report {self.since:%Y-%m-%d} to {self.until:%Y-%m-%d}: "
            f"{len(self.drills)} drills of {services} services\n"
            f"{len(self.misses)} missed targets, {len(self.overdue)} overdue drills, "
            f"{len(self.stale)} stale backups: {self.status.value}"
        )

    def record(self) -> Record:
        """The report as a record of kind ``report``."""
        checks = [
            Check(
                name=f"{row['service']}: targets met",
                status=CheckStatus.FAILED if row["missed"] else CheckStatus.PASSED,
                expected=0,
                actual=int(row["missed"]),
                detail=f"{row['drills']} drills, p90 RTO "
                f"{_duration(row['p90_rto_seconds'])}",
            )
            for row in _rows(self.summary)
        ]
        checks += [
            Check(
                name=f"{row['service']}: {what}",
                status=CheckStatus.FAILED,
                detail=row["detail"],
            )
            for what, table in (
                ("drill due", self.overdue),
                ("backup fresh", self.stale),
            )
            for row in _rows(table)
        ]
        now = utc_now()
        return Record(
            kind=KIND,
            name="rto",
            started_by=started_by(),
            started_at=now,
            ended_at=now,
            status=self.status,
            reason=self.summary_text().splitlines()[1] if self.status else "",
            parameters={
                "since": self.since.isoformat(),
                "until": self.until.isoformat(),
                "services": self.services,
            },
            measurements={
                "drills": len(self.drills),
                "services": int(self.summary["service"].nunique()),
                "missed_targets": len(self.misses),
                "overdue_drills": len(self.overdue),
                "stale_backups": len(self.stale),
            },
            checks=checks,
            details={"summary": _jsonable(self.summary)},
            environment=current_environment(),
        )

    def write_html(self, path: str | Path) -> Path:
        """Write the self-contained HTML page to ``path``."""
        target = Path(path)
        try:
            target.write_text(self.html, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{target}: cannot write the report ({exc})") from exc
        return target

    def file(self, store: str | Path | None = None) -> str:
        """File the record with the HTML page and figures beside it."""
        with tempfile.TemporaryDirectory(prefix="opskit-report-") as tmp:
            folder = Path(tmp)
            files = {"rto-report.html": self.write_html(folder / "rto-report.html")}
            for name, png in self.images.items():
                files[f"{name}.png"] = folder / f"{name}.png"
                files[f"{name}.png"].write_bytes(png)
            for name, table in (("drills", self.drills), ("misses", self.misses)):
                files[f"{name}.csv"] = folder / f"{name}.csv"
                table.to_csv(files[f"{name}.csv"], index=False)
            return file_record(self.record(), store, files=files)


def load_drills(
    store: str | Path | None = None,
    *,
    since: datetime | None = None,
    services: Sequence[str] = (),
) -> pd.DataFrame:
    """Restore-drill records from ``store`` as one flattened row each (see
    ``RecordStore.frame``), oldest first, read through the record index."""
    frame: pd.DataFrame = RecordStore.open(store).frame(kind=DRILL_KIND, since=since)
    if services:
        frame = frame[frame["name"].isin(list(services))]
    return frame.sort_values("started_at").reset_index(drop=True)


def rto_report(
    store: str | Path | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    services: Sequence[str] = (),
    window_days: float = 30,
    drill_periods: Mapping[str, timedelta] | None = None,
    default_period: timedelta = timedelta(days=7),
    backup_stores: Mapping[str, str] | None = None,
    tiers_file: str | Path | None = None,
) -> RtoReport:
    """Build the RTO/RPO report over drills started from ``since`` to
    ``until`` (default: the last ``window_days`` days), compared with the
    window of the same length before it.

    ``drill_periods`` gives each service's drill period (from its schedule;
    ``default_period`` otherwise): a service whose last passing drill is
    older is overdue. ``backup_stores`` names each service's backup store:
    a newest backup older than the tier's RPO is stale.
    """
    if not since and not (isinstance(window_days, int | float) and window_days > 0):
        raise ParameterError(
            f"window_days: {window_days!r} is not a number of days above zero; "
            "give e.g. 30, or since"
        )
    until = until or utc_now()
    since = since or until - timedelta(days=window_days)
    if since >= until:
        raise ParameterError(
            f"since: {since.isoformat()} is not before {until.isoformat()}"
        )
    window = until - since
    history = load_drills(store, services=services)
    history = history[history["started_at"] <= until]
    current = history[history["started_at"] >= since]
    previous = history[history["started_at"] >= since - window]
    previous = previous[previous["started_at"] < since]
    tiers = load_tiers(tiers_file)

    summary = _summary(current, previous)
    names = list(services) or sorted(
        set(history["name"]) | set(drill_periods or {}) | set(backup_stores or {})
    )
    report = RtoReport(
        since=since,
        until=until,
        services=names,
        drills=_drill_table(current),
        summary=summary,
        misses=_misses(current),
        overdue=_overdue(history, names, until, drill_periods or {}, default_period),
        stale=_stale(backup_stores or {}, history, tiers, until),
    )
    report.figures = _figures(current)
    report.images = {name: _png(figure) for name, figure in report.figures.items()}
    report.html = _render(report)
    return report


def _summary(current: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    rows = []
    before_p50s = (
        pd.to_numeric(previous["m.rto_seconds"], errors="coerce")
        .groupby([previous["name"], previous["tier"]])
        .quantile(0.5)
        .to_dict()
        if len(previous) and "m.rto_seconds" in previous
        else {}
    )
    for (service, tier), drills in current.groupby(["name", "tier"], sort=True):
        rto = _column(drills, "m.rto_seconds")
        rpo = _column(drills, "m.rpo_seconds")
        before_p50 = before_p50s.get((service, tier), float("nan"))
        passed = drills[drills["status"] == "passed"]
        latest = drills.iloc[-1]
        rows.append(
            {
                "service": service,
                "tier": tier,
                "drills": len(drills),
                "passed": len(passed),
                "failed": len(drills) - len(passed),
                "missed": int(_missed_mask(drills).sum()),
                "latest_at": latest["started_at"],
                "latest_rto_seconds": latest.get("m.rto_seconds"),
                "p50_rto_seconds": rto.quantile(0.5),
                "p90_rto_seconds": rto.quantile(0.9),
                "worst_rto_seconds": rto.max(),
                "rto_target_seconds": latest.get("t.rto.target"),
                "latest_rpo_seconds": latest.get("m.rpo_seconds"),
                "p50_rpo_seconds": rpo.quantile(0.5),
                "p90_rpo_seconds": rpo.quantile(0.9),
                "worst_rpo_seconds": rpo.max(),
                "rpo_target_seconds": latest.get("t.rpo.target"),
                "previous_p50_rto_seconds": before_p50,
                "rto_trend": _trend(rto.quantile(0.5), before_p50),
                "last_passed_at": passed["started_at"].max() if len(passed) else pd.NaT,
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _drill_table(current: pd.DataFrame) -> pd.DataFrame:
    columns = {
        "started_at": "started_at",
        "name": "service",
        "tier": "tier",
        "status": "status",
        "m.rto_seconds": "rto_seconds",
        "t.rto.target": "rto_target_seconds",
        "m.rpo_seconds": "rpo_seconds",
        "t.rpo.target": "rpo_target_seconds",
        "key": "record",
    }
    table = pd.DataFrame({new: current.get(old) for old, new in columns.items()})
    table["missed"] = _missed_mask(current).to_numpy()
    return table.reset_index(drop=True)


def _misses(current: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for target in ("rto", "rpo"):
        met = current.get(f"t.{target}.met")
        if met is None:
            continue
        missed = current[met.map(lambda value: value is False).astype(bool)]
        parts.append(
            pd.DataFrame(
                {
                    "started_at": missed["started_at"],
                    "service": missed["name"],
                    "tier": missed["tier"],
                    "target": target.upper(),
                    "actual_seconds": missed.get(f"t.{target}.actual"),
                    "target_seconds": missed.get(f"t.{target}.target"),
                    "record": missed["key"],
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=MISS_COLUMNS)
    return (
        pd.concat(parts)
        .sort_values(["started_at", "target"], kind="stable")
        .reset_index(drop=True)[MISS_COLUMNS]
    )


def _overdue(
    drills: pd.DataFrame,
    services: Sequence[str],
    until: datetime,
    periods: Mapping[str, timedelta],
    default: timedelta,
) -> pd.DataFrame:
    rows = []
    passed = drills[drills["status"] == "passed"]
    last_passed = passed.groupby("name")["started_at"].max().to_dict()
    for service in services:
        period = periods.get(service, default)
        last = last_passed.get(service)
        if last is None or pd.isna(last) or until - last > period:
            seen = f"last passed {last:%Y-%m-%d %H:%M} UTC" if last else "none passed"
            rows.append(
                {
                    "service": service,
                    "period": format_duration(period.total_seconds()),
                    "last_passed_at": last if last is not None else pd.NaT,
                    "detail": f"no passing drill within {_duration(period)} ({seen})",
                }
            )
    return pd.DataFrame(rows, columns=["service", "period", "last_passed_at", "detail"])


def _stale(
    stores: Mapping[str, str],
    history: pd.DataFrame,
    tiers: dict[str, Tier],
    until: datetime,
) -> pd.DataFrame:
    """Services whose newest backup is older than their tier's RPO (the tier
    of their latest drill), or which have no backup at all."""
    from opskit.backups.store import BackupStore

    rows = []
    for service, location in stores.items():
        tier_names = history.loc[history["name"] == service, "tier"]
        tier = tiers.get(str(tier_names.iloc[-1])) if len(tier_names) else None
        if tier is None:
            raise ParameterError(
                f"backup_stores: {service!r} has never been drilled, so its tier "
                "(and RPO) is unknown; drill it first or leave it out"
            )
        backups = BackupStore.open(location)
        newest = backups.find("latest").taken_at if backups.backup_ids() else None
        age = until - newest if newest is not None else None
        if age is not None and age.total_seconds() <= tier.rpo_seconds:
            continue
        rows.append(
            {
                "service": service,
                "store": location,
                "newest_backup_at": newest if newest is not None else pd.NaT,
                "age_seconds": age.total_seconds() if age is not None else None,
                "rpo_seconds": tier.rpo_seconds,
                "detail": (
                    f"newest backup is {_duration(age)} old; the {tier.name} RPO "
                    f"is {format_duration(tier.rpo_seconds)}"
                    if age is not None
                    else f"no backup in {location}; the {tier.name} RPO is "
                    f"{format_duration(tier.rpo_seconds)}"
                ),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "service",
            "store",
            "newest_backup_at",
            "age_seconds",
            "rpo_seconds",
            "detail",
        ],
    )


def _figures(current: pd.DataFrame) -> dict[str, Any]:
    """RTO over time with each tier's target, and time per phase."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    rto = Figure(figsize=(9, 4.5), layout="constrained")
    axes = rto.add_subplot()
    series = current.groupby(["name", "tier"], sort=True)
    for (service, tier), drills in series:
        values = pd.to_numeric(
            drills.get("m.rto_seconds", pd.Series(index=drills.index, dtype=float)),
            errors="coerce",
        )
        axes.plot(
            _date_numbers(drills.loc[values.notna(), "started_at"]),
            values[values.notna()].to_numpy(),
            marker="o" if values.notna().sum() <= MARKED_POINTS else None,
            linewidth=1,
            label=f"{service} ({tier})",
        )
    targets: dict[Any, Any] = (
        current.groupby("tier")["t.rto.target"].last().dropna().to_dict()
        if len(current) and "t.rto.target" in current
        else {}
    )
    for tier, target in targets.items():
        axes.axhline(
            float(target),
            color="black",
            linestyle="--",
            linewidth=1,
            label=f"{tier} target",
        )
        axes.annotate(
            f"{tier} target",
            (0, float(target)),
            xycoords=("axes fraction", "data"),
            fontsize="small",
            va="bottom",
        )
    axes.set_title(
        f"RTO per drill against the tier's target ({series.ngroups} services)"
    )
    axes.set_ylabel("seconds")
    axes.xaxis_date()
    if 0 < series.ngroups <= LEGEND_SERIES:
        axes.legend(fontsize="small")

    columns = [
        c for c in current.columns if c.startswith("p.") and c.endswith(".seconds")
    ]
    means = current.groupby("name")[columns].mean() if columns else pd.DataFrame()
    phases = Figure(
        figsize=(9, max(3.0, 0.22 * len(means) + 1.5)), layout="constrained"
    )
    bars = phases.add_subplot()
    left = pd.Series(0.0, index=means.index)
    for column in columns:
        values = means[column].fillna(0.0)
        bars.barh(means.index, values, left=left, label=column[2:-8])
        left = left + values
    bars.set_title("Mean time per phase")
    bars.set_xlabel("seconds")
    if columns:
        bars.legend(fontsize="small")
    return {"rto": rto, "phases": phases}


def _render(report: RtoReport) -> str:
    images = {
        name: base64.b64encode(png).decode("ascii")
        for name, png in report.images.items()
    }
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True
    )
    return environment.get_template("rto_report.html.j2").render(
        report=report,
        images=images,
        status=report.status.value,
        generated=utc_now(),
        tables={
            "summary": _html_table(_readable(report.summary)),
            "misses": _html_table(report.misses, "misses.csv"),
            "overdue": _html_table(report.overdue),
            "stale": _html_table(report.stale),
            "drills": _html_table(report.drills, "drills.csv"),
        },
    )


def _date_numbers(moments: pd.Series) -> Any:
    """Matplotlib's date numbers for a column of UTC times, converted at once
    (plotting timestamps one by one is most of a large report's time)."""
    from matplotlib.dates import date2num

    naive = moments.dt.tz_convert(None).to_numpy()
    return date2num(naive)  # type: ignore[no-untyped-call]


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _html_table(frame: pd.DataFrame, csv: str = "") -> str:
    """The table as HTML; a long one shows its newest ``PAGE_ROWS`` rows, and
    every row is in the CSV file filed beside the page."""
    if frame.empty:
        return "<p><i>none</i></p>"
    shown = frame.tail(PAGE_ROWS) if csv else frame
    note = (
        f"<p class='note'>The newest {len(shown):,} of {len(frame):,} rows; every "
        f"row is in {csv}, filed beside this page.</p>"
        if len(shown) < len(frame)
        else ""
    )
    return note + shown.to_html(index=False, na_rep="-", border=0, classes="table")


def _readable(summary: pd.DataFrame) -> pd.DataFrame:
    shown = summary.copy()
    for column in shown.columns:
        if column.endswith("_seconds"):
            shown[column] = shown[column].map(_duration)
    shown.columns = [
        c.removesuffix("_seconds").replace("_", " ") for c in shown.columns
    ]
    return shown


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame:
        return pd.Series(dtype="float64")
    return pd.to_numeric(frame[name], errors="coerce").dropna()


def _missed_mask(frame: pd.DataFrame) -> pd.Series:
    missed = pd.Series(False, index=frame.index)
    for target in ("rto", "rpo"):
        column = f"t.{target}.met"
        if column in frame:
            missed |= frame[column].map(lambda met: met is False)
    return missed


def _trend(now: Any, before: Any) -> str:
    if pd.isna(now) or pd.isna(before) or before == 0:
        return "no previous window"
    change = (now - before) / before * 100
    if abs(change) < 5:
        return f"{change:+.0f}% (steady)"
    return f"{change:+.0f}% ({'slower' if change > 0 else 'faster'})"


def _duration(value: Any) -> str:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if value is None or pd.isna(value):
        return "-"
    return format_duration(float(value))


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _jsonable(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            str(key): None if pd.isna(v) else str(v) if isinstance(v, datetime) else v
            for key, v in row.items()
        }
        for row in frame.to_dict(orient="records")
    ]


def parse_moment(text: str, name: str) -> datetime | None:
    """``text`` as a time: ``YYYY-MM-DD`` or an ISO time, UTC unless it names
    a zone; empty text is ``None``. A ``ParameterError`` names ``name``."""
    if not str(text).strip():
        return None
    try:
        moment = datetime.fromisoformat(str(text).strip())
    except ValueError as exc:
        raise ParameterError(
            f"{name}: {text!r} is not a date; write YYYY-MM-DD (UTC) or an ISO "
            "time such as 2026-11-01T06:00"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def periods_from_schedule(path: str | Path) -> dict[str, timedelta]:
    """Each scheduled service's drill period: the time between two runs of
    its drill in ``drills.yaml`` (the service is the drill's ``service``
    parameter, else its name)."""
    from opskit.schedules import load_schedule, next_runs

    periods: dict[str, timedelta] = {}
    for drill in load_schedule(path).drills:
        first, second = next_runs(drill, 2)[:2]
        service = str(drill.parameters.get("service") or drill.name)
        periods[service] = max(second - first, periods.get(service, timedelta()))
    return periods
