"""What a runbook file says: typed parameters, an optional steady state, and
steps with an action, a timeout, retries, criticality, confirmation and an
optional rollback. Validation happens here, before any step can run."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

PARAMETER = re.compile(r"\$\{([^}]*)\}")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_PREFIX = "env."


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Parameter(Strict):
    """A typed runbook parameter; one without a default must be given."""

    type: Literal["str", "int", "float", "bool", "secret"] = "str"
    default: Any = None
    description: str = ""
    choices: list[Any] = Field(default_factory=list)

    @property
    def required(self) -> bool:
        return self.default is None


class Retries(Strict):
    """How often a step is tried and how long to wait between tries."""

    attempts: StrictInt = Field(default=1, ge=1, le=100)
    delay: float = Field(default=0.0, ge=0, le=3600)


class HttpAction(Strict):
    """An HTTP request; any status outside ``expect_status`` fails the step."""

    url: str
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    expect_status: list[int] = Field(default_factory=lambda: [200, 201, 202, 204])

    @field_validator("expect_status", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value


class Action(Strict):
    """Exactly one of: a command as an argument list, an HTTP request, a
    Python callable by dotted path (with keyword arguments), or a manual
    instruction a person carries out and confirms."""

    command: list[str] | None = None
    http: HttpAction | None = None
    python: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    manual: str | None = None

    @field_validator("command", mode="before")
    @classmethod
    def _arguments_as_text(cls, value: Any) -> Any:
        """YAML reads ``[sleep, 5]`` with a number; a bare true/false is
        almost always a program name that needs quotes."""
        if not isinstance(value, list):
            return value
        for arg in value:
            if isinstance(arg, bool):
                raise ValueError(
                    f"{str(arg).lower()} reads as a boolean in YAML; write it in quotes"
                )
        return [str(arg) if isinstance(arg, int | float) else arg for arg in value]

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        given = [
            name
            for name in ("command", "http", "python", "manual")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of command, http, python or manual "
                f"(found {', '.join(given) or 'none'})"
            )
        if self.command is not None and not self.command:
            raise ValueError("command: give the program and its arguments as a list")
        if self.args and self.python is None:
            raise ValueError("args: only a python action takes args")
        if self.python is not None and not re.fullmatch(
            r"[A-Za-z_][\w.]*[:.][A-Za-z_]\w*", self.python
        ):
            raise ValueError(
                f"python: {self.python!r} is no dotted path; write "
                "package.module:function"
            )
        return self

    @property
    def kind(self) -> str:
        for name in ("command", "http", "python"):
            if getattr(self, name) is not None:
                return name
        return "manual"


class Rollback(Strict):
    """How to undo a completed step."""

    action: Action
    timeout: float = Field(default=300, gt=0)


class Step(Strict):
    """One step of a runbook."""

    name: str = Field(min_length=1)
    description: str = ""
    action: Action
    timeout: float = Field(default=300, gt=0, le=86400)
    retries: Retries = Field(default_factory=Retries)
    critical: StrictBool = True
    changes: StrictBool = True
    confirm: StrictBool | None = None
    rollback: Rollback | None = None

    @property
    def needs_confirmation(self) -> bool:
        """Manual steps always do; others when they change things, unless
        the runbook says otherwise."""
        if self.action.kind == "manual":
            return True
        return self.changes if self.confirm is None else self.confirm


class SteadyState(Strict):
    """Health checks that must hold before the first step and after the last,
    inline in the opskit.health format or in a checks file beside the runbook."""

    checks: list[dict[str, Any]] = Field(default_factory=list)
    checks_file: str = ""


class Runbook(Strict):
    """A whole runbook as loaded from YAML."""

    name: str = Field(min_length=1)
    title: str = ""
    description: str = ""
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    steady_state: SteadyState | None = None
    steps: list[Step] = Field(min_length=1)

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, Parameter]) -> dict[str, Parameter]:
        for name in value:
            if not NAME.match(name):
                raise ValueError(f"{name!r} is no valid name (letters, digits, _)")
        return value

    def repeated_step(self) -> int | None:
        """The index of the first step whose name an earlier step has."""
        seen: set[str] = set()
        for index, step in enumerate(self.steps):
            if step.name in seen:
                return index
            seen.add(step.name)
        return None

    def step(self, name: str) -> Step:
        """The step called ``name``."""
        for step in self.steps:
            if step.name == name:
                return step
        known = ", ".join(repr(s.name) for s in self.steps)
        raise KeyError(f"no step {name!r}; the steps are {known}")


def references(value: Any) -> list[str]:
    """Every ``${...}`` reference inside ``value`` (strings, lists, mappings)."""
    if isinstance(value, str):
        return PARAMETER.findall(value)
    if isinstance(value, list):
        return [ref for item in value for ref in references(item)]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in references(item)]
    return []
