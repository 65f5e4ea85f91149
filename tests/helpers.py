"""Small helpers shared by tests."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of(path: Path) -> str:
    """The sha256 of a file, to prove a source was not touched."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
