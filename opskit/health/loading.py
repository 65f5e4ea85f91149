"""Checks declared in YAML: a ``checks:`` list of mappings with ``name``,
``type`` and the fields of that kind, with ``${VAR}`` taken from the
environment, and every mistake named by file, check and field."""

from __future__ import annotations

import dataclasses
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from opskit.errors import InputError, NotFoundError, suggest
from opskit.health.checks import KINDS
from opskit.health.interface import HealthCheck, refuse_repeated_names
from opskit.yamlfile import load_plain


def load_checks(
    source: str | Path | list[dict[str, Any]] | dict[str, Any],
) -> list[HealthCheck]:
    """Read checks from a YAML file path, YAML text (a string with a line break
    or ``: ``) or parsed data: a ``checks:`` list of mappings, each with
    ``name``, ``type`` (http, tcp, postgres, sqlite, command, python) and the
    fields of that kind. ``${VAR}`` in strings is taken from the environment.

    Raises ``InputError`` naming the file, the check and the field at fault,
    ``NotFoundError`` for a missing file.
    """
    label, data = _read_source(source)
    entries = _entries(label, data)
    checks = [_load_one(label, index, entry) for index, entry in enumerate(entries, 1)]
    refuse_repeated_names([c.name for c in checks], label)
    return checks


def shape_problem(entry: object) -> tuple[str, str] | None:
    """What is wrong with the shape of one check entry, as (field, message),
    or ``None``. Values are not checked, so entries still holding runbook
    references (``${name}``) can be checked before they are filled in."""
    if not isinstance(entry, dict):
        return "", "expected a mapping with name, type and the fields of its kind"
    kind = entry.get("type")
    if not isinstance(kind, str) or kind not in KINDS:
        got = "missing" if kind is None else f"unknown type {kind!r}"
        return (
            "type",
            f"{got}{suggest(str(kind), KINDS)}; use one of {', '.join(KINDS)}",
        )

    fields = KINDS[kind].__pydantic_fields__  # type: ignore[attr-defined]
    takes = ", ".join(fields)
    for key in entry:
        if key != "type" and key not in fields:
            return str(key), (
                f"unknown field{suggest(str(key), list(fields))}; a {kind} check "
                f"takes {takes}"
            )
    for name, info in fields.items():
        if info.is_required() and name not in entry:
            return name, f"missing; a {kind} check needs {name}"
    return None


def value_problem(entry: dict[str, Any]) -> tuple[str, str] | None:
    """What is wrong with the values of a well-shaped check entry, as
    (field, message), or ``None``; ``${VAR}`` is not filled in, so call it
    on entries without references."""
    fields = dict(entry)
    kind = str(fields.pop("type"))
    try:
        _adapter(kind).validate_python(fields)
    except ValidationError as exc:
        field, message = _problem(exc, kind)
        return field.split(".")[0], message
    return None


def _entries(label: str, data: object) -> list[Any]:
    """The list under ``checks:`` (or the data itself when it is a list)."""
    if isinstance(data, dict):
        extra = sorted(str(key) for key in data if key != "checks")
        if extra or "checks" not in data:
            found = f"found {', '.join(extra)}" if extra else "found nothing"
            raise InputError(
                f"{label}: a checks file holds one `checks:` list and nothing "
                f"else, {found}; put every check under `checks:`"
            )
        data = data["checks"]
    if not isinstance(data, list):
        raise InputError(
            f"{label}: `checks` must be a list of mappings, got "
            f"{type(data).__name__}; write `checks:` then `- name: ...` items"
        )
    return data


def _read_source(source: str | Path | list[Any] | dict[str, Any]) -> tuple[str, Any]:
    if isinstance(source, list | dict):
        return "checks data", source
    is_text = isinstance(source, str) and ("\n" in source or ": " in source)
    if is_text:
        label, text = "checks text", str(source)
    else:
        label = str(source)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise NotFoundError(f"{label}: no such checks file") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{label}: cannot read the checks file ({exc})") from exc
    try:
        return label, load_plain(text, label)[0]
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise InputError(
            f"{label}: not valid YAML{line}; a checks file is a `checks:` list "
            "of mappings (quote values holding ': ' or '#')"
        ) from exc


def _load_one(label: str, index: int, entry: object) -> HealthCheck:
    if not isinstance(entry, dict):
        raise InputError(
            f"{label}: check {index}: expected a mapping with name, type and its "
            f"fields, got {type(entry).__name__}"
        )
    name = entry.get("name")
    where = f"{label}: check {index}" + (f" ({name!r})" if name else "")
    fields = dict(entry)
    kind = fields.pop("type", None)
    if not isinstance(kind, str) or kind not in KINDS:
        got = "missing" if kind is None else f"unknown type {kind!r}"
        raise InputError(
            f"{where}, field type: {got}{suggest(str(kind), KINDS)}; "
            f"use one of {', '.join(KINDS)}"
        )

    fields = {
        key: _expand(value, f"{where}, field {key}") for key, value in fields.items()
    }
    try:
        return _adapter(kind).validate_python(fields)
    except ValidationError as exc:
        raise InputError(f"{where}, {_explain(exc, kind)}") from exc


@cache
def _adapter(kind: str) -> TypeAdapter[HealthCheck]:
    return TypeAdapter(KINDS[kind])


def _explain(exc: ValidationError, kind: str) -> str:
    """The first problem as "field F: what; the fields this kind takes"."""
    field, message = _problem(exc, kind)
    return f"field {field or '(check)'}: {message}"


def _problem(exc: ValidationError, kind: str) -> tuple[str, str]:
    """The first problem as (field, "what; the fields this kind takes")."""
    problem = exc.errors()[0]
    loc = problem["loc"]
    # Union members ("str", "list[int]") appear in loc; keep field and indexes.
    field = ".".join(
        str(p) for p in loc[:1] + tuple(p for p in loc[1:] if isinstance(p, int))
    )
    message = problem["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    takes = [f.name for f in dataclasses.fields(KINDS[kind])]  # type: ignore[arg-type]
    if problem["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
        message = f"unknown field{suggest(field, takes)}"
    return field, f"{message}; a {kind} check takes {', '.join(takes)}"


def _expand(value: object, where: str) -> object:
    """Replace ``${NAME}`` in strings (also inside lists and mappings)."""
    if isinstance(value, list):
        return [_expand(item, where) for item in value]
    if isinstance(value, dict):
        return {key: _expand(item, where) for key, item in value.items()}
    if not isinstance(value, str):
        return value

    def variable(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise InputError(
                f"{where}: environment variable {name} is not set; "
                "set it, or write the value in the file"
            )
        return os.environ[name]

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", variable, value)
