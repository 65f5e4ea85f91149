"""Fixtures for backup tests: a demo application database and its backups."""

from __future__ import annotations

from pathlib import Path

import pytest

from opskit.demo import Demo, prepare_demo


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    """A fresh demo shop database with one backup of it."""
    return prepare_demo(tmp_path / "demo")
