"""Health checks of the services an incident touches, run all at once.

A check asks one thing (an HTTP endpoint, a TCP port, PostgreSQL, an SQLite
file, a command's exit code, a Python function) and answers healthy, degraded
or unhealthy with a latency and a one-line detail; it never raises. Checks are
written in Python or in a YAML file::

    checks:
      - {name: api, type: http, url: "https://api.internal/health"}
      - {name: db, type: postgres, dsn: "${DATABASE_URL}", timeout: 3}

``run_checks`` runs a round in daemon threads, one per check, so a check that
hangs is abandoned at its timeout and never holds the others; ``HealthMonitor``
repeats rounds on an interval and keeps their history.

    interface.py   HealthStatus, CheckResult, the HealthCheck base
    checks.py      the six kinds
    loading.py     load_checks: YAML files, text or data
    rounds.py      run_checks, overall, summarize
    monitor.py     HealthMonitor
"""

from __future__ import annotations

from opskit.health.checks import (
    KINDS,
    CallableCheck,
    CommandCheck,
    HttpCheck,
    PostgresCheck,
    SqliteCheck,
    TcpCheck,
)
from opskit.health.interface import CheckResult, HealthCheck, HealthStatus
from opskit.health.loading import load_checks
from opskit.health.monitor import HealthMonitor
from opskit.health.rounds import COLUMNS, overall, run_checks, summarize

__all__ = [
    "COLUMNS",
    "KINDS",
    "CallableCheck",
    "CheckResult",
    "CommandCheck",
    "HealthCheck",
    "HealthMonitor",
    "HealthStatus",
    "HttpCheck",
    "PostgresCheck",
    "SqliteCheck",
    "TcpCheck",
    "load_checks",
    "overall",
    "run_checks",
    "summarize",
]
