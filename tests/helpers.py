"""Small helpers shared by tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple


def sha256_of(path: Path) -> str:
    """The sha256 of a file, to prove a source was not touched."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Outcome(NamedTuple):
    """What one ``opskit`` command left: its exit code, stdout and stderr."""

    code: int
    stdout: str
    stderr: str


Invoke = Callable[..., Outcome]
