"""Settings for every test run, notebooks under nbval included.

Kernels started by nbval inherit this process's environment, so the record
store is pointed at a temporary folder before any kernel starts.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

collect_ignore_glob = ["tests/fixtures/*", "benchmarks/*", "scripts/*"]

_SESSION_STORE = tempfile.mkdtemp(prefix="opskit-test-records-")
os.environ["OPSKIT_RECORD_STORE"] = _SESSION_STORE
for _name in ("OPSKIT_TIERS", "OPSKIT_RECORD_DRAFT", "OPSKIT_STARTED_BY"):
    os.environ.pop(_name, None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_STORE, ignore_errors=True)
