"""Backups: manifests, engines, backup stores and restore drills."""

from __future__ import annotations

# Importing the engines registers them.
from opskit.backups import directory as _directory  # noqa: F401
from opskit.backups import postgres as _postgres  # noqa: F401
from opskit.backups import sqlite as _sqlite  # noqa: F401
