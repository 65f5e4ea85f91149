"""Phase timing: UTC stamps for the record, monotonic seconds for durations."""

from __future__ import annotations

import time

import pytest

from opskit.errors import BackupRejected
from opskit.phases import PhaseStatus, PhaseTimer


def test_phases_are_kept_in_order_with_utc_times_and_durations() -> None:
    timer = PhaseTimer()
    with timer.phase("download"):
        time.sleep(0.02)
    with timer.phase("restore"):
        pass

    download, restore = timer.phases
    assert [p.name for p in timer.phases] == ["download", "restore"]
    assert download.seconds >= 0.02
    assert download.started_at.utcoffset() is not None
    assert download.started_at.utcoffset().total_seconds() == 0
    assert (download.ended_at - download.started_at).total_seconds() == pytest.approx(
        download.seconds, abs=1e-5
    )
    assert restore.started_at >= download.ended_at
    assert timer.ended_at("restore") == restore.ended_at


def test_a_failed_check_marks_the_phase_failed_and_propagates() -> None:
    timer = PhaseTimer()
    with pytest.raises(BackupRejected), timer.phase("verify"):
        raise BackupRejected("sha256 differs")

    assert timer.phases[0].status is PhaseStatus.FAILED
    assert timer.phases[0].detail == "sha256 differs"


def test_an_unexpected_error_marks_the_phase_error() -> None:
    timer = PhaseTimer()
    with pytest.raises(OSError), timer.phase("restore"):
        raise OSError("disk full")

    assert timer.phases[0].status is PhaseStatus.ERROR


def test_a_skipped_phase_says_why() -> None:
    timer = PhaseTimer()
    timer.skip("cleanup", "keep_scratch is set")

    assert timer.phases[0].status is PhaseStatus.SKIPPED
    assert timer.phases[0].seconds == 0
    assert timer.ended_at("validate") is None
