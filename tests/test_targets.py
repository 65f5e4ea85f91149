"""Recovery tiers, their configuration, and the verdict against them."""

from __future__ import annotations

from pathlib import Path

import pytest

from opskit.errors import InputError, ParameterError
from opskit.targets import (
    compare_targets,
    format_duration,
    get_tier,
    load_tiers,
    parse_duration,
)


@pytest.mark.parametrize(
    ("name", "rto", "rpo"),
    [
        ("critical", 900, 300),
        ("standard", 3600, 900),
        ("non-critical", 14400, 3600),
        ("portfolio", 86400, 86400),
    ],
)
def test_default_tiers_follow_the_seed(name: str, rto: float, rpo: float) -> None:
    tier = get_tier(name)

    assert (tier.rto_seconds, tier.rpo_seconds) == (rto, rpo)


def test_met_and_missed_targets_say_by_how_much() -> None:
    tier = get_tier("critical")

    rto, rpo = compare_targets(tier, rto_seconds=600, rpo_seconds=420)

    assert (rto.met, rto.margin_seconds) == (True, 300)
    assert (rpo.met, rpo.margin_seconds) == (False, -120)
    assert rto.describe() == "RTO 10 min against 15 min: met, 5 min to spare"
    assert rpo.describe() == "RPO 7 min against 5 min: MISSED, 2 min over"


def test_a_target_with_nothing_measured_is_neither_met_nor_missed() -> None:
    rto, _ = compare_targets(get_tier("standard"), None, 1.0)

    assert rto.met is None
    assert "not measured" in rto.describe()


def test_an_unknown_tier_names_the_parameter_and_suggests() -> None:
    with pytest.raises(ParameterError, match=r"tier: unknown tier 'critcal'.*critical"):
        get_tier("critcal")


def test_a_tiers_file_overrides_and_adds_tiers(tmp_path: Path) -> None:
    path = tmp_path / "tiers.yaml"
    path.write_text("critical: {rto: 10m, rpo: 1m}\nbatch: {rto: 8h, rpo: 1d}\n")

    tiers = load_tiers(path)

    assert tiers["critical"].rto_seconds == 600
    assert tiers["batch"].rpo_seconds == 86400
    assert tiers["standard"].rto_seconds == 3600


def test_tiers_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tiers.yaml"
    path.write_text("gold: {rto: 90, rpo: 30s}\n")
    monkeypatch.setenv("OPSKIT_TIERS", str(path))

    assert get_tier("gold").rto_seconds == 90


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("gold: {rto: 1h}\n", "tier 'gold' needs exactly rto and rpo"),
        (
            "gold: {rto: 1h, rpo: 1m, rtoo: 5}\n",
            "tier 'gold' needs exactly rto and rpo",
        ),
        ("gold: {rto: -10, rpo: 5}\n", "must be a duration above zero"),
        ("gold: {rto: 0, rpo: 5}\n", "must be a duration above zero"),
        ("gold: {rto: .nan, rpo: .inf}\n", "must be a duration above zero"),
        ("gold: {rto: soon, rpo: 1h}\n", "'soon' is not a duration"),
        ("- a\n- b\n", "expected a mapping"),
        ("gold: [\n", "not valid YAML"),
    ],
)
def test_a_bad_tiers_file_names_the_file_and_problem(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "tiers.yaml"
    path.write_text(content)

    with pytest.raises(InputError, match=message) as caught:
        load_tiers(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("4h", 14400)]
)
def test_durations_are_read_in_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text, "rto") == seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.84, "0.84 s"), (12.34, "12.3 s"), (725, "12 min 5 s"), (7380, "2 h 3 min")],
)
def test_durations_read_well(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_tiers_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "tiers.yaml"
    path.write_bytes(b"gold: {rto: 1h, rpo: 1m} # \xff\xfe")

    with pytest.raises(InputError, match="not UTF-8 text"):
        load_tiers(path)
