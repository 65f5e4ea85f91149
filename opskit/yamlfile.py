"""YAML files read with their line numbers kept, so a mistake in a runbook or
a drills file is reported as ``file:line: where.field: what; what to do``.

Aliases (``*name``) and repeated keys are refused: an alias can make a tiny
file expand without end, and a repeated key silently drops the first value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.constructor import SafeConstructor

from opskit.errors import InputError

Location = tuple[str | int, ...]
"""Keys and list indexes from the document's root to one value."""


def read_yaml(
    text: str, source: str, error: type[InputError] = InputError
) -> tuple[Any, dict[Location, int]]:
    """Parse ``text`` and return its data and the line of every key and item.

    Malformed YAML raises ``error`` with ``source`` and the line of the problem.
    """
    try:
        data, node = load_plain(text, source, error)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or exc
        raise error(f"{where}: not valid YAML ({problem}); fix the syntax") from exc
    return data, line_numbers(node)


def load_plain(
    text: str, source: str, error: type[InputError] = InputError
) -> tuple[Any, yaml.Node | None]:
    """Parse ``text`` safely and return its data and its node tree.

    An alias (``*name``) or a key repeated in one mapping raises ``error`` with
    ``source`` and the line; malformed YAML raises ``yaml.YAMLError``.
    """
    refuse_aliases(text, source, error)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    refuse_repeated_keys(node, data, source, error)
    return data, node


def refuse_aliases(
    text: str, source: str, error: type[InputError] = InputError
) -> None:
    """Raise ``error`` at the first alias in ``text``, read as events before
    anything is composed, so a hostile file is refused at once."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            where = f"{source}:{mark.line + 1}" if mark else source
            raise error(
                f"{where}: YAML aliases (*{event.anchor}) are not "
                "supported; write the value out"
            )


def refuse_repeated_keys(
    node: yaml.Node | None,
    data: Any,
    source: str,
    error: type[InputError] = InputError,
    at: Location = (),
) -> None:
    """Raise ``error`` at the first key written twice in one mapping under
    ``node`` (YAML would keep the last value and drop the first silently)."""
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            refuse_repeated_keys(item, data, source, error, (*at, index))
    if not isinstance(node, yaml.MappingNode):
        return

    seen: dict[Any, int] = {}
    for key, value in node.value:
        line = key.start_mark.line + 1
        identity = _identity(key)
        if identity in seen:
            raise error(
                f"{source}:{line}: {label(at, data, 'top level')}: key "
                f"{str(key.value)!r} repeated (first on line {seen[identity]}); "
                "keep one"
            )
        seen[identity] = line
        refuse_repeated_keys(value, data, source, error, (*at, str(key.value)))


def _identity(key: yaml.Node) -> Any:
    """What a mapping key stands for (``yes`` and ``true`` are one key)."""
    if not isinstance(key, yaml.ScalarNode):
        return (key.tag, id(key))
    try:
        value = SafeConstructor().construct_object(key)
        hash(value)
    except (yaml.YAMLError, TypeError):
        return (key.tag, key.value)
    return value


def explain(
    exc: ValidationError,
    data: Any,
    lines: dict[Location, int],
    source: str,
    *,
    kind: str,
    relocate: Callable[[Location], Location] | None = None,
) -> str:
    """One readable message for pydantic's first error, with file and line;
    ``kind`` names the format (``runbook``) in the message and the label, and
    ``relocate`` maps a location in the validated data to one in the file.

    An unknown field comes before any missing one: a misspelt key causes
    both, and the spelling is what to fix."""
    errors = exc.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    location: Location = tuple(
        part for part in first["loc"] if not str(part).startswith("function-")
    )
    if relocate is not None:
        location = relocate(location)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = f"not a {kind} field; check its spelling and indentation"
    elif first["type"] == "missing":
        message = "missing; this field is required"
    return f"{where(location, lines, source)}: {label(location, data, kind)}: {message}"


def label(location: Location, data: Any, root: str) -> str:
    """``steps[2] 'Restart the app'.timeout`` for a location; list items are
    named by their ``name`` field when they have one, and ``root`` stands for
    the whole document."""
    parts: list[str] = []
    node: Any = data
    for part in location:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) else None
            name = item.get("name") if isinstance(item, dict) else None
            suffix = f"[{part}]" + (f" {name!r}" if isinstance(name, str) else "")
            if parts:
                parts[-1] += suffix
            else:
                parts.append(suffix)
        else:
            parts.append(str(part))
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts) or root


def where(location: Location, lines: dict[Location, int], source: str) -> str:
    """``source:line`` of the deepest part of ``location`` the YAML has."""
    for end in range(len(location), -1, -1):
        line = lines.get(location[:end])
        if line is not None:
            return f"{source}:{line}"
    return source


def line_numbers(node: yaml.Node | None, at: Location = ()) -> dict[Location, int]:
    """The 1-based line of every mapping key and list item under ``node``."""
    found: dict[Location, int] = {}
    if node is None:
        return found
    found[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*at, str(key.value))
            found.update(line_numbers(value, path))
            found[path] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.update(line_numbers(item, (*at, index)))
    return found
