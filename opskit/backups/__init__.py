"""Backups: manifests, engines, backup stores and restore drills."""

from __future__ import annotations

from opskit.backups import sqlite as _sqlite  # noqa: F401  registers the engine
