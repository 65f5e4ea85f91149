"""Fixtures shared by the tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_NOTEBOOKS = ROOT / "tests" / "fixtures" / "notebooks"


@pytest.fixture
def record_store(tmp_path: Path) -> Path:
    """An empty record store folder."""
    store = tmp_path / "records"
    store.mkdir()
    return store


@pytest.fixture
def chdir_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run the test from an empty working folder."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
