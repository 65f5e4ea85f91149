"""Retention plans: examples a user would check, and properties that hold for
any set of backups, time zone and policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opskit.backups.retention import RetentionPolicy, plan_retention
from opskit.errors import ParameterError


def daily_backups(days: int, hour: int = 2) -> list[tuple[str, datetime]]:
    start = datetime(2026, 1, 1, hour, tzinfo=UTC)
    return [(f"b{n:03d}", start + timedelta(days=n)) for n in range(days)]


def test_the_seed_policy_keeps_30_days_12_weeks_12_months() -> None:
    backups = daily_backups(400)

    plan = plan_retention(backups, RetentionPolicy())

    daily = [d for d in plan.kept if any(r.startswith("daily") for r in d.reasons)]
    assert len(daily) == 30
    assert daily[0].backup_id == "b399"
    monthly = {r for d in plan.kept for r in d.reasons if r.startswith("monthly")}
    assert len(monthly) == 12
    assert len(plan.kept) + len(plan.pruned) == 400
    assert "not the newest backup of any period kept" in plan.pruned[0].reasons[0]


def test_every_keep_says_why() -> None:
    plan = plan_retention(
        daily_backups(3), RetentionPolicy(daily=2, weekly=0, monthly=0)
    )

    assert [(d.backup_id, d.reasons) for d in plan.decisions] == [
        ("b002", ("newest backup", "daily 2026-01-03")),
        ("b001", ("daily 2026-01-02",)),
        ("b000", plan.decisions[2].reasons),
    ]
    assert not plan.decisions[2].keep


def test_month_ends_and_leap_days_fall_in_their_own_month() -> None:
    backups = [
        ("feb29", datetime(2028, 2, 29, 23, 0, tzinfo=UTC)),
        ("mar01", datetime(2028, 3, 1, 0, 30, tzinfo=UTC)),
        ("jan31", datetime(2028, 1, 31, 12, 0, tzinfo=UTC)),
    ]

    plan = plan_retention(backups, RetentionPolicy(daily=0, weekly=0, monthly=3))

    assert {d.backup_id: d.reasons for d in plan.kept} == {
        "mar01": ("newest backup", "monthly 2028-03"),
        "feb29": ("monthly 2028-02",),
        "jan31": ("monthly 2028-01",),
    }


def test_days_are_counted_in_the_chosen_time_zone() -> None:
    # 23:30 UTC on 31 March is already 1 April in Berlin (summer time).
    late = ("late", datetime(2026, 3, 31, 23, 30, tzinfo=UTC))
    early = ("early", datetime(2026, 3, 31, 8, 0, tzinfo=UTC))
    policy_utc = RetentionPolicy(daily=0, weekly=0, monthly=2)
    policy_berlin = RetentionPolicy(
        daily=0, weekly=0, monthly=2, timezone="Europe/Berlin"
    )

    in_utc = plan_retention([late, early], policy_utc)
    in_berlin = plan_retention([late, early], policy_berlin)

    assert [d.backup_id for d in in_utc.kept] == ["late"]
    assert [d.backup_id for d in in_berlin.kept] == ["late", "early"]


def test_a_dst_change_does_not_merge_or_split_days() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # Backups at 02:30 local time around the autumn change (25 October 2026).
    backups = [
        (f"d{day}", datetime(2026, 10, day, 2, 30, tzinfo=berlin).astimezone(UTC))
        for day in (24, 25, 26)
    ]

    plan = plan_retention(
        backups, RetentionPolicy(daily=3, weekly=0, monthly=0, timezone="Europe/Berlin")
    )

    assert sorted(r for d in plan.kept for r in d.reasons if r.startswith("daily")) == [
        "daily 2026-10-24",
        "daily 2026-10-25",
        "daily 2026-10-26",
    ]


def test_backups_taken_in_other_zones_compare_by_instant() -> None:
    tokyo = datetime(
        2026, 6, 2, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo")
    )  # 23:00 UTC 1 June
    new_york = datetime(2026, 6, 1, 20, 0, tzinfo=ZoneInfo("America/New_York"))

    plan = plan_retention(
        [("tokyo", tokyo), ("ny", new_york)], RetentionPolicy(daily=1)
    )

    assert plan.decisions[0].backup_id == "ny"  # 00:00 UTC 2 June is the newer


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"daily": -1}, "daily: must be 0 or more"), ({"timezone": "Mars/Base"}, "Mars")],
)
def test_a_bad_policy_names_the_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        RetentionPolicy(**changes)  # type: ignore[arg-type]


instants = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2030, 12, 31),
    timezones=st.just(UTC),
)
backup_sets = st.lists(instants, min_size=0, max_size=60, unique=True).map(
    lambda times: [(f"id{n:03d}", t) for n, t in enumerate(times)]
)
policies = st.builds(
    RetentionPolicy,
    daily=st.integers(0, 10),
    weekly=st.integers(0, 6),
    monthly=st.integers(0, 6),
    yearly=st.integers(0, 3),
    timezone=st.sampled_from(
        ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
    ),
)


@settings(max_examples=300, deadline=None)
@given(backups=backup_sets, policy=policies)
def test_plans_keep_the_newest_and_explain_everything(
    backups: list[tuple[str, datetime]], policy: RetentionPolicy
) -> None:
    plan = plan_retention(backups, policy)

    assert len(plan.decisions) == len(backups)
    assert all(d.reasons for d in plan.decisions)
    if backups:
        newest = max(backups, key=lambda b: (b[1], b[0]))[0]
        assert plan.decisions[0].backup_id == newest and plan.decisions[0].keep
    limit = 1 + policy.daily + policy.weekly + policy.monthly + policy.yearly
    assert len(plan.kept) <= limit


@settings(max_examples=300, deadline=None)
@given(backups=backup_sets, policy=policies)
def test_each_rule_keeps_one_backup_per_period_up_to_its_count(
    backups: list[tuple[str, datetime]], policy: RetentionPolicy
) -> None:
    plan = plan_retention(backups, policy)

    for rule in ("daily", "weekly", "monthly", "yearly"):
        periods = [r for d in plan.kept for r in d.reasons if r.startswith(rule + " ")]
        assert len(periods) == len(set(periods)) <= getattr(policy, rule)


@settings(max_examples=300, deadline=None)
@given(backups=backup_sets, policy=policies)
def test_applying_a_plan_then_planning_again_prunes_nothing(
    backups: list[tuple[str, datetime]], policy: RetentionPolicy
) -> None:
    kept = [(d.backup_id, d.taken_at) for d in plan_retention(backups, policy).kept]

    assert plan_retention(kept, policy).pruned == []


@settings(max_examples=200, deadline=None)
@given(backups=backup_sets, policy=policies, extra=st.integers(1, 5))
def test_a_larger_policy_never_prunes_what_a_smaller_one_keeps(
    backups: list[tuple[str, datetime]], policy: RetentionPolicy, extra: int
) -> None:
    larger = RetentionPolicy(
        daily=policy.daily + extra,
        weekly=policy.weekly,
        monthly=policy.monthly + extra,
        yearly=policy.yearly,
        timezone=policy.timezone,
    )

    small = {d.backup_id for d in plan_retention(backups, policy).kept}
    large = {d.backup_id for d in plan_retention(backups, larger).kept}
    assert small <= large
