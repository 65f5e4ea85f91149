"""RTO/RPO reports over a store of real drill records: the numbers, the
figures and the page a reader checks against the records."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opskit.demo import Demo
from opskit.errors import ParameterError
from opskit.notebooks import run_notebook
from opskit.phases import Phase, PhaseStatus
from opskit.record_store import RecordStore
from opskit.records import Record, RecordStatus, current_environment
from opskit.reports import parse_moment, rto_report
from opskit.targets import compare_targets, load_tiers
from tests.helpers import Invoke

UNTIL = datetime(2026, 12, 1, tzinfo=UTC)
TIERS = load_tiers()


def drill(
    service: str,
    when: datetime,
    rto: float,
    rpo: float,
    tier: str = "critical",
    status: RecordStatus = RecordStatus.PASSED,
) -> Record:
    """A restore-drill record as run_drill files it."""
    phases = [
        Phase(
            name=name,
            started_at=when,
            ended_at=when + timedelta(seconds=rto * share),
            seconds=rto * share,
            status=PhaseStatus.OK,
        )
        for name, share in (("download", 0.5), ("restore", 0.3), ("validate", 0.2))
    ]
    return Record(
        kind="restore-drill",
        name=service,
        started_by="cron@ops",
        started_at=when,
        ended_at=when + timedelta(seconds=rto),
        status=status,
        parameters={"service": service, "tier": tier},
        measurements={"rto_seconds": rto, "rpo_seconds": rpo},
        targets=compare_targets(TIERS[tier], rto, rpo),
        phases=phases,
        environment=current_environment(),
    )


ORDERS_RTO = [300.0, 420.0, 1200.0, 360.0, 500.0]  # critical: 15 min target
BILLING_RTO = [1800.0, 2400.0, 4000.0]  # standard: 1 h target
NOVEMBER = ("report", "rto", "--until", "2026-12-01", "--window-days", "30")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Drills of two services in November, and older ones in October."""
    records = RecordStore.open(tmp_path / "records", create=True)
    for n, rto in enumerate(ORDERS_RTO):
        records.save(drill("orders", UNTIL - timedelta(days=25 - 5 * n), rto, 60))
    for n, rto in enumerate(BILLING_RTO):
        status = RecordStatus.FAILED if rto > 3600 else RecordStatus.PASSED
        when = UNTIL - timedelta(days=20 - 6 * n)
        records.save(drill("billing", when, rto, 600, "standard", status))
    for n in range(3):
        records.save(drill("orders", UNTIL - timedelta(days=50 - n), 240, 60))
    return tmp_path / "records"


def test_the_summary_holds_the_percentiles_of_the_window(store: Path) -> None:
    report = rto_report(store, until=UNTIL, window_days=30)

    orders = report.summary.set_index("service").loc["orders"]
    assert orders["drills"] == 5
    assert orders["tier"] == "critical"
    assert orders["latest_rto_seconds"] == 500.0
    assert orders["p50_rto_seconds"] == np.quantile(ORDERS_RTO, 0.5)
    assert orders["p90_rto_seconds"] == pytest.approx(np.quantile(ORDERS_RTO, 0.9))
    assert orders["worst_rto_seconds"] == 1200.0
    assert orders["rto_target_seconds"] == 900.0
    assert orders["missed"] == 1
    assert orders["previous_p50_rto_seconds"] == 240.0
    assert orders["rto_trend"] == "+75% (slower)"
    billing = report.summary.set_index("service").loc["billing"]
    assert (billing["drills"], billing["passed"], billing["failed"]) == (3, 2, 1)
    assert billing["rto_trend"] == "no previous window"


def test_every_missed_target_is_listed(store: Path) -> None:
    report = rto_report(store, until=UNTIL, window_days=30)

    missed = report.misses[["service", "target", "actual_seconds", "target_seconds"]]
    assert missed.to_dict("records") == [
        {
            "service": "orders",
            "target": "RTO",
            "actual_seconds": 1200.0,
            "target_seconds": 900.0,
        },
        {
            "service": "billing",
            "target": "RTO",
            "actual_seconds": 4000.0,
            "target_seconds": 3600.0,
        },
    ]
    assert report.status is RecordStatus.FAILED


def test_a_service_without_a_recent_passing_drill_is_overdue(store: Path) -> None:
    report = rto_report(
        store,
        until=UNTIL,
        window_days=30,
        drill_periods={"orders": timedelta(days=7), "billing": timedelta(days=3)},
    )

    assert list(report.overdue["service"]) == ["billing"]
    assert "no passing drill within 3 d" in report.overdue["detail"].iloc[0]


def test_a_backup_older_than_the_rpo_is_stale(store: Path, demo: Demo) -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)
    fresh = rto_report(
        store,
        until=later,
        window_days=60,
        backup_stores={"billing": str(demo.backup_store)},
    )
    stale = rto_report(
        store,
        until=later,
        window_days=60,
        backup_stores={"orders": str(demo.backup_store)},
    )

    assert fresh.stale.empty  # 10 min old: within standard's 15 min RPO
    assert list(stale.stale["service"]) == ["orders"]
    assert "the critical RPO is 5 min" in stale.stale["detail"].iloc[0]


def test_services_that_stopped_drilling_or_never_did_are_overdue(
    store: Path,
) -> None:
    RecordStore.open(store).save(drill("payments", UNTIL - timedelta(days=90), 60, 30))

    report = rto_report(
        store,
        until=UNTIL,
        window_days=30,
        drill_periods={"search": timedelta(days=1)},
        default_period=timedelta(days=14),
    )

    overdue = report.overdue.set_index("service")["detail"].to_dict()
    assert overdue == {
        "payments": "no passing drill within 14 d (last passed 2026-09-02 00:00 UTC)",
        "search": "no passing drill within 24 h (none passed)",
    }
    assert "payments" not in set(report.summary["service"])
    assert "None" not in report.html
    assert report.status is RecordStatus.FAILED


def test_an_empty_backup_store_is_stale_and_any_drilled_service_has_a_tier(
    store: Path, tmp_path: Path, demo: Demo
) -> None:
    empty = tmp_path / "no-backups"
    empty.mkdir()

    report = rto_report(
        store,
        until=UNTIL - timedelta(days=40),
        window_days=5,
        backup_stores={"orders": str(empty)},
    )

    assert report.summary.empty  # orders was last drilled before this window
    stale = report.stale.set_index("service").loc["orders"]
    assert stale["detail"] == f"no backup in {empty}; the critical RPO is 5 min"
    assert pd.isna(stale["newest_backup_at"])
    with pytest.raises(ParameterError, match="'search' has never been drilled"):
        rto_report(store, until=UNTIL, backup_stores={"search": str(demo.backup_store)})


def test_the_command_takes_drill_periods_from_the_schedule(
    opskit: Invoke, store: Path, tmp_path: Path
) -> None:
    schedule = tmp_path / "drills.yaml"
    schedule.write_text(
        "drills:\n"
        "  - name: restore-orders\n"
        "    notebook: restore_drill\n"
        "    parameters: {service: orders}\n"
        '    schedule: "0 3 * * *"\n'
        "    tier: critical\n"
        "    owner: dana\n"
        "  - name: billing\n"
        "    notebook: restore_drill\n"
        '    schedule: "@monthly"\n'
        "    tier: standard\n"
        "    owner: dana\n"
    )

    outcome = opskit(*NOVEMBER, "--store", str(store), "--schedule", str(schedule))

    assert outcome.code == 1, outcome.stderr
    assert "overdue: orders: no passing drill within 24 h" in outcome.stderr
    record = RecordStore.open(store).load(outcome.stdout.strip()).record
    due = {c.name: c.detail for c in record.checks if c.name.endswith("drill due")}
    assert due == {
        "orders: drill due": "no passing drill within 24 h (last passed 2026-11-26 "
        "00:00 UTC)"
    }


def test_the_figures_show_the_drills_and_their_targets(store: Path) -> None:
    report = rto_report(store, until=UNTIL, window_days=30)

    axes = report.figures["rto"].axes[0]
    lines = {line.get_label(): list(line.get_ydata()) for line in axes.lines}
    assert lines["orders (critical)"] == ORDERS_RTO
    assert lines["billing (standard)"] == BILLING_RTO
    assert lines["critical target"] == [900.0, 900.0]
    assert lines["standard target"] == [3600.0, 3600.0]
    bars = report.figures["phases"].axes[0]
    download = next(c for c in bars.containers if c.get_label() == "download")
    assert [p.get_width() for p in download.patches] == [
        pytest.approx(np.mean(BILLING_RTO) * 0.5),
        pytest.approx(np.mean(ORDERS_RTO) * 0.5),
    ]
    assert len(bars.patches) == 6  # two services by three phases


def test_the_page_is_self_contained_and_lists_every_drill(store: Path) -> None:
    report = rto_report(store, until=UNTIL, window_days=30)
    keys = [k for k in report.drills["record"]]

    assert report.html.count("data:image/png;base64,") == 2
    assert not re.search(r"""(src|href)=["']https?://""", report.html)
    for key in keys:
        assert key in report.html
    assert len(keys) == 8
    assert '<b class="status-failed">failed</b>' in report.html


def test_the_report_is_filed_as_a_record_with_its_page(store: Path) -> None:
    report = rto_report(store, until=UNTIL, window_days=30)

    location = report.file(store)
    saved = RecordStore.open(store).load(location).record

    assert saved.kind == "report"
    assert saved.status is RecordStatus.FAILED
    assert saved.measurements["missed_targets"] == 2
    assert {a.path for a in saved.artifacts} == {
        "rto-report.html",
        "rto.png",
        "phases.png",
        "drills.csv",
        "misses.csv",
    }
    drills = (Path(location) / "drills.csv").read_text().splitlines()
    assert len(drills) == 1 + 8
    checks = {c.name: c.status.value for c in saved.checks}
    assert checks == {
        "billing: targets met": "failed",
        "orders: targets met": "failed",
        "billing: drill due": "failed",  # last passed 14 days before; period 7 d
    }


def test_services_filter_and_an_empty_window(store: Path) -> None:
    only = rto_report(store, until=UNTIL, window_days=30, services=["billing"])
    empty = rto_report(store, until=UNTIL - timedelta(days=100), window_days=5)

    assert list(only.summary["service"]) == ["billing"]
    assert empty.summary.empty and empty.drills.empty
    assert empty.status is RecordStatus.FAILED  # no evidence is not a pass
    assert "no drills in the window" in empty.summary_text()
    assert "window for any service: failed" in empty.summary_text()
    billing_only = rto_report(
        store, until=UNTIL - timedelta(days=100), window_days=5, services=["billing"]
    )
    assert "no drill records in the window for billing: failed" in (
        billing_only.summary_text()
    )


def test_the_command_writes_the_page_and_exits_1_on_misses(
    opskit: Invoke, store: Path, tmp_path: Path
) -> None:
    page = tmp_path / "rto.html"

    outcome = opskit(*NOVEMBER, "--store", str(store), "--out", str(page))

    assert outcome.code == 1, outcome.stderr
    assert "2 missed targets, 1 overdue drills, 0 stale backups" in outcome.stderr
    assert page.read_text().count("data:image/png") == 2
    assert RecordStore.open(store).load(outcome.stdout.strip()).record.kind == "report"


def test_bad_report_input_is_named(opskit: Invoke, store: Path) -> None:
    backwards = opskit(
        "report",
        "rto",
        "--store",
        str(store),
        "--since",
        "2026-12-02",
        "--until",
        "2026-12-01",
    )
    pair = opskit("report", "rto", "--store", str(store), "--backup-store", "orders")

    assert backwards.code == 2 and "since: 2026-12-02" in backwards.stderr
    assert (
        pair.code == 2 and "--backup-store 'orders': write SERVICE=STORE" in pair.stderr
    )


@pytest.mark.slow
def test_the_notebook_files_the_page_beside_the_executed_notebook(store: Path) -> None:
    outcome = run_notebook(
        "rto_report",
        {"until": "2026-12-01", "window_days": 30, "services": ["orders"]},
        record_store=str(store),
    )

    assert outcome.record.kind == "report", outcome.record.reason
    assert outcome.record.status is RecordStatus.FAILED
    assert outcome.record.measurements["missed_targets"] == 1
    assert {a.path for a in outcome.record.artifacts} == {
        "rto-report.html",
        "rto.png",
        "phases.png",
        "drills.csv",
        "misses.csv",
        "notebook.ipynb",
        "report.html",
    }
    page = (Path(outcome.location) / "rto-report.html").read_text()
    assert "orders" in page and "billing" not in page


def test_bad_dates_and_windows_name_their_parameter(store: Path) -> None:
    with pytest.raises(ParameterError, match="since: '2026-13-01' is not a date"):
        parse_moment("2026-13-01", "since")
    with pytest.raises(ParameterError, match="window_days: -3 is not a number of"):
        rto_report(store, window_days=-3)
    assert parse_moment("2026-11-01", "since") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_moment("", "until") is None
