"""The errors opskit raises for callers to act on.

Every error a user can meet derives from ``OpskitError``; the subclass says what
the caller does differently, and ``exit_code`` says how the CLI ends::

    OpskitError                   exit 2: the run itself could not proceed
    ├── InputError                bad input: fix a parameter, file or field
    │   ├── ParameterError        a parameter is unknown, missing or mistyped
    │   ├── NotFoundError         a store, backup, record or notebook is absent
    │   └── UnsafeTargetError     a restore target would overwrite the source
    ├── StorageError              storage could not be read or written
    ├── UnreachableError          a database or other server did not answer
    ├── RecordError               a record cannot be written, read or trusted
    ├── NotebookError             a notebook could not be executed
    └── CheckFailed               exit 1: a check or target was missed
        ├── BackupRejected        a backup failed verification and was refused
        └── RestoreFailed         a backup could not be restored

Messages read "subject: what went wrong; what to do".
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches

from pydantic import ValidationError


class OpskitError(Exception):
    """Root of every error opskit raises on purpose."""

    exit_code = 2


class InputError(OpskitError):
    """The caller gave a parameter, file or field that cannot be used."""


class ParameterError(InputError):
    """A parameter is unknown, missing or of the wrong type."""


class NotFoundError(InputError):
    """A named store, backup, record or notebook does not exist."""


class UnsafeTargetError(InputError):
    """A restore target resolves to the data it would be restored from."""


class StorageError(OpskitError):
    """Object storage could not be read or written."""


class UnreachableError(OpskitError):
    """A database or other server could not be reached."""


class RecordError(OpskitError):
    """A record cannot be written, read or verified."""


class NotebookError(OpskitError):
    """A notebook could not be executed at all."""


class CheckFailed(OpskitError):
    """A check or recovery target was missed; the run itself worked."""

    exit_code = 1


class BackupRejected(CheckFailed):
    """A backup failed verification (checksum, size, key) and was refused."""


class RestoreFailed(CheckFailed):
    """A verified backup could not be restored (the restore tool rejected it)."""


def suggest(word: str, choices: Iterable[str]) -> str:
    """Return a "did you mean" hint for ``word`` among ``choices``, or ``""``."""
    matches = get_close_matches(word, list(choices), n=3, cutoff=0.6)
    if not matches:
        return ""
    return " (did you mean " + " or ".join(repr(m) for m in matches) + "?)"


def first_problem(exc: ValidationError) -> tuple[str, str]:
    """Return the dotted field and message of a validation error's first problem."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(document)"
    return field, first["msg"].removeprefix("Value error, ")
