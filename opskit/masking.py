"""Masking of secrets before they reach a record, a manifest or a message."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

_SENSITIVE_NAME = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|credential|private|auth", re.I
)
_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*(?=@)", re.I
)
_DSN_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.I)


def mask_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``parameters`` with secrets replaced by ``***``.

    Values whose name looks sensitive are masked whole; passwords inside
    URLs and ``password=`` DSN fields are masked in place.
    """
    masked: dict[str, Any] = {}
    for name, value in parameters.items():
        if _SENSITIVE_NAME.search(name) and value not in (None, ""):
            masked[name] = MASK
        else:
            masked[name] = _mask_inside(value)
    return masked


def _mask_inside(value: Any) -> Any:
    """``mask_text`` on every string in ``value``, lists and mappings too."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list | tuple):
        return [_mask_inside(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _mask_inside(item) for key, item in value.items()}
    return value


def mask_text(text: str) -> str:
    """Mask passwords inside URLs and DSNs found in ``text``."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _DSN_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
