"""The ``opskit`` command line; ``main`` is the console-script entry point."""

from __future__ import annotations

from opskit.cli import backup as _backup  # noqa: F401  registers its commands
from opskit.cli import fleet as _fleet  # noqa: F401  registers its commands
from opskit.cli import incident as _incident  # noqa: F401  registers its commands
from opskit.cli import records as _records  # noqa: F401  registers its commands
from opskit.cli import report as _report  # noqa: F401  registers its commands
from opskit.cli import review as _review  # noqa: F401  registers its commands
from opskit.cli import runbook as _runbook  # noqa: F401  registers its commands
from opskit.cli import schedule as _schedule  # noqa: F401  registers its commands
from opskit.cli.app import cli, main

__all__ = ["cli", "main"]
