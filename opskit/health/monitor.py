"""Rounds of health checks on an interval, with a kept history, in the
foreground or in a background thread for a notebook board."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import pandas as pd

from opskit.errors import ParameterError
from opskit.health.interface import HealthCheck, refuse_repeated_names
from opskit.health.rounds import frame_of, run_checks

logger = logging.getLogger(__name__)

MAX_INTERVAL = 86400.0
"""The longest interval between rounds, in seconds (one day)."""


class HealthMonitor:
    """Rounds of checks on an interval, keeping the last ``keep`` rounds.

    >>> monitor = HealthMonitor(load_checks("checks.yaml"), interval=10)
    >>> monitor.start(on_round=lambda round: print(summarize(round)))
    """

    def __init__(
        self, checks: Sequence[HealthCheck], interval: float = 30.0, *, keep: int = 1000
    ) -> None:
        _check_parameters(interval, keep)
        refuse_repeated_names([c.name for c in checks], "monitor")
        self.checks, self.interval, self.keep = list(checks), interval, keep
        self._rounds: deque[pd.DataFrame] = deque(maxlen=keep)
        self._count = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> pd.DataFrame:
        """Run one round, add it to the history and return it, with its
        ``round`` number (from 1) as the first column."""
        frame = run_checks(self.checks)
        with self._lock:
            self._count += 1
            frame.insert(0, "round", self._count)
            self._rounds.append(frame)
        for change in self.changes():
            logger.info("health: %s", change)
        return frame.copy()

    @property
    def history(self) -> pd.DataFrame:
        """Every kept round, oldest first (at most ``keep`` rounds)."""
        with self._lock:
            rounds = list(self._rounds)
        if not rounds:
            empty = frame_of([])
            empty.insert(0, "round", pd.Series(dtype="int64"))
            return empty
        return pd.concat(rounds, ignore_index=True)

    def poll(
        self, rounds: int, *, on_round: Callable[[pd.DataFrame], None] | None = None
    ) -> pd.DataFrame:
        """Run ``rounds`` rounds, starting one every ``interval`` seconds (or
        at once after a round that took longer); return those rounds."""
        if rounds < 1:
            raise ParameterError(f"rounds: must be at least 1, got {rounds!r}")
        frames = []
        for number in range(rounds):
            started = time.monotonic()
            frames.append(self.check_once())
            if on_round is not None:
                on_round(frames[-1])
            if number < rounds - 1:
                time.sleep(max(0.0, self.interval - (time.monotonic() - started)))
        return pd.concat(frames, ignore_index=True)

    def start(self, on_round: Callable[[pd.DataFrame], None] | None = None) -> None:
        """Poll in a background daemon thread until ``stop()``; an error in
        ``on_round`` is logged and polling goes on."""
        if self._thread is not None:
            raise ParameterError("monitor: already polling; call stop() first")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(on_round,), daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop background polling and wait for the round in progress."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None

    def changes(self) -> list[str]:
        """Status changes between the last two rounds, e.g.
        ``api: healthy -> unhealthy (HTTP 503, expected 200)``."""
        with self._lock:
            if len(self._rounds) < 2:
                return []
            before, after = self._rounds[-2], self._rounds[-1]
        was = dict(zip(before["name"], before["status"], strict=True))
        return [
            f"{row.name}: {was[row.name]} -> {row.status} ({row.detail})"
            for row in after.itertuples()
            if row.name in was and was[row.name] != row.status
        ]

    def _loop(self, on_round: Callable[[pd.DataFrame], None] | None) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            frame = self.check_once()
            if on_round is not None:
                try:
                    on_round(frame)
                except Exception:
                    logger.exception("health monitor: on_round failed")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))


def _check_parameters(interval: object, keep: object) -> None:
    """Refuse an interval that is not 0 < seconds <= one day and a ``keep``
    that is not a whole number of at least 1, naming the parameter."""
    if (
        isinstance(interval, bool)
        or not isinstance(interval, int | float)
        or not 0 < interval <= MAX_INTERVAL
    ):
        raise ParameterError(
            f"interval: {interval!r} is not a number of seconds; give one "
            f"above 0 and at most {MAX_INTERVAL:g}"
        )
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise ParameterError(
            f"keep: {keep!r} is not a whole number of rounds; give 1 or more"
        )
