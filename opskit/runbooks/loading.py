"""Reading a runbook file: YAML with line numbers kept, so every mistake is
reported as ``file:line: where: what; what to do`` before any step runs."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from opskit.errors import InputError, NotFoundError, ParameterError, suggest
from opskit.health.loading import shape_problem, value_problem
from opskit.runbooks.model import ENV_PREFIX, NAME, PARAMETER, Runbook, references
from opskit.yamlfile import Location, explain, label, load_plain, read_yaml, where

SHIPPED = Path(__file__).resolve().parents[2] / "runbooks"
PACKAGED = Path(__file__).resolve().parents[1] / "_runbooks"
SUFFIX = ".runbook.yaml"


class RunbookError(InputError):
    """A runbook file is missing, not YAML, or breaks the runbook format."""


@dataclass(frozen=True)
class LoadedRunbook:
    """A validated runbook, where it came from and the sha256 of its text (a
    resumed run refuses a runbook that changed since the stopped run)."""

    runbook: Runbook
    source: str
    sha256: str
    folder: Path


def find_runbook(name: str | Path) -> Path:
    """A runbook file by path, or by name among the shipped runbooks
    (``demo-database`` finds ``runbooks/demo-database.runbook.yaml``)."""
    path = Path(name)
    if path.is_file():
        return path
    if path.is_dir():
        raise NotFoundError(
            f"runbook {str(name)!r}: is a folder; name a runbook file in it"
        )
    for folder in (SHIPPED, PACKAGED):
        candidate = folder / f"{name}{SUFFIX}"
        if candidate.is_file():
            return candidate
    known = shipped_runbooks()
    raise NotFoundError(
        f"runbook {str(name)!r}: no such file and no shipped runbook of that name"
        f"{suggest(str(name), known)}; shipped: {', '.join(known) or 'none'}"
    )


def shipped_runbooks() -> list[str]:
    """Names of the runbooks that come with opskit."""
    folder = SHIPPED if SHIPPED.is_dir() else PACKAGED
    return sorted(p.name.removesuffix(SUFFIX) for p in folder.glob(f"*{SUFFIX}"))


def load_runbook(name: str | Path) -> LoadedRunbook:
    """Load and validate a runbook file (see ``find_runbook``)."""
    path = find_runbook(name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunbookError(f"{path}: cannot be read ({exc}); check the file") from exc
    runbook = parse_runbook(text, str(path), path.parent)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return LoadedRunbook(runbook, str(path), digest, path.parent)


def parse_runbook(
    text: str, source: str = "<runbook>", folder: Path | None = None
) -> Runbook:
    """Validate runbook YAML ``text``; ``source`` names it in errors and
    ``folder`` is where a steady state's ``checks_file`` is looked for."""
    data, lines = read_yaml(text, source, RunbookError)
    if not isinstance(data, dict):
        raise RunbookError(
            f"{source}: a runbook is a mapping with name, parameters and steps"
        )

    try:
        runbook = Runbook.model_validate(data)
    except ValidationError as exc:
        raise RunbookError(explain(exc, data, lines, source, kind="runbook")) from exc

    repeated = runbook.repeated_step()
    if repeated is not None:
        at = where(("steps", repeated, "name"), lines, source)
        raise RunbookError(
            f"{at}: steps[{repeated}].name: two steps are named "
            f"{runbook.steps[repeated].name!r}; rename one (a resumed run finds "
            "its steps by name)"
        )
    _check_parameters(runbook, lines, source)
    _check_references(runbook, data, lines, source)
    _check_steady_state(runbook, lines, source, folder)
    return runbook


def bind_parameters(runbook: Runbook, given: Mapping[str, Any]) -> dict[str, Any]:
    """The runbook's parameters from ``given`` and the defaults, each of its
    declared type; unknown, missing and mistyped ones are refused by name."""
    declared = runbook.parameters
    for name in given:
        if name not in declared:
            raise ParameterError(
                f"{name}: runbook {runbook.name!r} has no such parameter"
                f"{suggest(name, list(declared))}; it takes "
                f"{', '.join(declared) or 'none'}"
            )
    bound: dict[str, Any] = {}
    for name, spec in declared.items():
        value = given.get(name, spec.default)
        if value is None:
            raise ParameterError(
                f"{name}: runbook {runbook.name!r} needs this parameter "
                f"({spec.description or spec.type}); give it with -p {name} VALUE"
            )
        bound[name] = _coerce(name, spec.type, value)
        if spec.choices and bound[name] not in spec.choices:
            raise ParameterError(
                f"{name}: {bound[name]!r} is not one of "
                f"{', '.join(map(str, spec.choices))}"
            )
    return bound


def environment_references(runbook: Runbook) -> list[str]:
    """The environment variables the runbook's actions and checks read
    (``${env.NAME}``); their values are masked like secrets."""
    data = runbook.model_dump(by_alias=True, include={"steps", "steady_state"})
    return sorted(
        {
            ref.removeprefix(ENV_PREFIX)
            for ref in references(data)
            if ref.startswith(ENV_PREFIX)
        }
    )


def substitute(value: Any, parameters: Mapping[str, Any]) -> Any:
    """``value`` with ``${name}`` and ``${env.NAME}`` filled in. A string that
    is one reference keeps the parameter's type; a missing environment
    variable is a ``ParameterError`` naming it."""
    if isinstance(value, str):
        whole = PARAMETER.fullmatch(value)
        if whole and not whole.group(1).startswith(ENV_PREFIX):
            return parameters[whole.group(1)]
        return PARAMETER.sub(lambda m: _text(_resolve(m.group(1), parameters)), value)
    if isinstance(value, list):
        return [substitute(item, parameters) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, parameters) for key, item in value.items()}
    return value


def _text(value: Any) -> str:
    """A parameter inside a string: booleans as YAML writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _resolve(reference: str, parameters: Mapping[str, Any]) -> Any:
    if reference.startswith(ENV_PREFIX):
        variable = reference.removeprefix(ENV_PREFIX)
        if variable not in os.environ:
            raise ParameterError(
                f"${{{reference}}}: environment variable {variable} is not set; "
                "export it before running the runbook"
            )
        return os.environ[variable]
    return parameters[reference]


def _coerce(name: str, kind: str, value: Any) -> Any:
    try:
        if kind in ("str", "secret"):
            if isinstance(value, dict | list):
                raise ValueError("a list or mapping")
            return str(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "yes", "1", "on"):
                return True
            if text in ("false", "no", "0", "off"):
                return False
            raise ValueError(value)
        if isinstance(value, bool):
            raise ValueError(value)
        if kind == "int":
            number = float(value)
            if not number.is_integer() or (isinstance(value, str) and "." in value):
                raise ValueError(value)
            return int(number)
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"{name}: {value!r} is not a valid {kind}; give a value of type {kind}"
        ) from exc


def _check_parameters(
    runbook: Runbook, lines: dict[Location, int], source: str
) -> None:
    for name, spec in runbook.parameters.items():
        if spec.default is None:
            continue
        try:
            default = _coerce(name, spec.type, spec.default)
        except ParameterError as exc:
            at = where(("parameters", name, "default"), lines, source)
            raise RunbookError(f"{at}: parameters.{name}.default: {exc}") from exc
        if spec.choices and default not in spec.choices:
            at = where(("parameters", name, "default"), lines, source)
            raise RunbookError(
                f"{at}: parameters.{name}.default: {default!r} is not one of its "
                f"choices ({', '.join(map(str, spec.choices))}); add it or change it"
            )


def _check_references(
    runbook: Runbook, data: dict[str, Any], lines: dict[Location, int], source: str
) -> None:
    """Every ``${name}`` must name a declared parameter or ``env.NAME``."""
    places: list[tuple[Location, Any]] = []
    for index, step in enumerate(data.get("steps") or []):
        if isinstance(step, dict):
            for part in ("action", "rollback"):
                places += _strings(step.get(part), ("steps", index, part))
    places += _strings(data.get("steady_state"), ("steady_state",))

    for location, value in places:
        for reference in references(value):
            variable = reference.removeprefix(ENV_PREFIX)
            if reference.startswith(ENV_PREFIX) and NAME.match(variable):
                continue
            if reference in runbook.parameters:
                continue
            at = where(location, lines, source)
            raise RunbookError(
                f"{at}: {label(location, data, 'runbook')}: ${{{reference}}} names no "
                f"parameter{suggest(reference, list(runbook.parameters))}; declare "
                "it under parameters, or write ${env.NAME} for an environment "
                "variable"
            )


def _check_steady_state(
    runbook: Runbook, lines: dict[Location, int], source: str, folder: Path | None
) -> None:
    """Steady-state checks must be well formed before the first step runs,
    not found wanting when the run starts."""
    steady = runbook.steady_state
    if steady is None:
        return
    if not steady.checks and not steady.checks_file:
        at = where(("steady_state",), lines, source)
        raise RunbookError(
            f"{at}: steady_state: names no checks; give checks or checks_file, "
            "or remove steady_state"
        )
    for index, entry in enumerate(steady.checks):
        problem = shape_problem(entry) or _value_problem(entry)
        if problem is None:
            continue
        field, message = problem
        location: Location = ("steady_state", "checks", index)
        if field and isinstance(entry, dict) and field in entry:
            location = (*location, field)
        at = where(location, lines, source)
        name = f"steady_state.checks[{index}]" + (f".{field}" if field else "")
        raise RunbookError(f"{at}: {name}: {message}")
    names = [str(c.get("name")) for c in steady.checks if isinstance(c, dict)]
    if steady.checks_file and folder is not None:
        names += _checks_file_names(
            folder / steady.checks_file,
            where(("steady_state", "checks_file"), lines, source),
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        at = where(("steady_state",), lines, source)
        raise RunbookError(
            f"{at}: steady_state: two checks are named {repeated[0]!r} (inline "
            "or in checks_file); rename one"
        )


def _checks_file_names(path: Path, at: str) -> list[str]:
    """The names of the checks in a steady state's checks file, after the
    same shape and value checks as inline ones."""
    if not path.is_file():
        raise RunbookError(
            f"{at}: steady_state.checks_file: {path} is no file; the path is "
            "taken from the runbook's folder"
        )
    try:
        entries = load_plain(path.read_text(encoding="utf-8"), str(path))[0]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, InputError) as exc:
        raise RunbookError(
            f"{at}: steady_state.checks_file: {path} cannot be read as YAML ({exc})"
        ) from exc
    entries = entries.get("checks") if isinstance(entries, dict) else entries
    if not isinstance(entries, list):
        raise RunbookError(
            f"{at}: steady_state.checks_file: {path} holds no `checks:` list"
        )
    for index, entry in enumerate(entries, 1):
        problem = shape_problem(entry) or (
            _value_problem(entry) if isinstance(entry, dict) else None
        )
        if problem is not None:
            field, message = problem
            raise RunbookError(
                f"{at}: steady_state.checks_file: {path}: check {index}"
                + (f", field {field}" if field else "")
                + f": {message}"
            )
    return [str(e.get("name")) for e in entries if isinstance(e, dict)]


def _value_problem(entry: dict[str, Any]) -> tuple[str, str] | None:
    """A check with no references is complete as written: validate its values
    now (an ``ftp://`` URL, a port of 0) rather than when the run starts."""
    return None if references(entry) else value_problem(entry)


def _strings(value: Any, at: Location) -> list[tuple[Location, str]]:
    """Every string inside ``value`` with its location."""
    if isinstance(value, str):
        return [(at, value)]
    if isinstance(value, list):
        return [s for i, item in enumerate(value) for s in _strings(item, (*at, i))]
    if isinstance(value, dict):
        return [s for k, item in value.items() for s in _strings(item, (*at, str(k)))]
    return []
