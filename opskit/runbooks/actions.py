"""Carrying out one action: a command (an argument list, never a shell
string), an HTTP request, a Python callable, or a manual instruction. Each
ends within its timeout and reports success, output and why it failed."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from opskit.errors import InputError
from opskit.runbooks.loading import substitute
from opskit.runbooks.model import Action

OUTPUT_LIMIT = 4000


@dataclass(frozen=True)
class ActionResult:
    """What one attempt did: whether it worked, its output and why not."""

    ok: bool
    output: str = ""
    detail: str = ""


def describe(action: Action, parameters: Mapping[str, Any]) -> str:
    """The action as it will run, for previews, dry runs and the timeline."""
    if action.command is not None:
        argv = [str(arg) for arg in substitute(action.command, parameters)]
        return " ".join(_quote(arg) for arg in argv)
    if action.http is not None:
        return f"{action.http.method} {substitute(action.http.url, parameters)}"
    if action.python is not None:
        args = substitute(action.args, parameters)
        shown = ", ".join(f"{key}={value!r}" for key, value in args.items())
        return f"{action.python}({shown})"
    return f"manual: {substitute(action.manual, parameters)}"


def preflight(action: Action, parameters: Mapping[str, Any], where: str) -> None:
    """Refuse, before any step runs, an action that cannot run here: an
    unset environment variable, a missing program, an unimportable callable."""
    try:
        substitute(action.model_dump(by_alias=True), parameters)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from exc
    if action.command is not None:
        program = str(substitute(action.command[0], parameters))
        if shutil.which(program) is None:
            raise InputError(
                f"{where}: program {program!r} is not installed or not on PATH; "
                "install it or give its full path"
            )
    if action.python is not None:
        resolve_callable(action.python, where)


def perform(
    action: Action, parameters: Mapping[str, Any], timeout: float
) -> ActionResult:
    """Carry out ``action`` once within ``timeout`` seconds."""
    if action.command is not None:
        argv = [str(arg) for arg in substitute(action.command, parameters)]
        return _run_command(argv, timeout)
    if action.http is not None:
        return _request(
            substitute(action.http.model_dump(by_alias=True), parameters), timeout
        )
    if action.python is not None:
        target = resolve_callable(action.python, action.python)
        return _call(target, substitute(action.args, parameters), timeout)
    return ActionResult(True, output=str(substitute(action.manual, parameters)))


def resolve_callable(path: str, where: str) -> Callable[..., Any]:
    """Import ``package.module:function`` (or ``package.module.function``)."""
    module_name, _, attribute = (
        path.partition(":") if ":" in path else path.rpartition(".")
    )
    try:
        module = importlib.import_module(module_name)
        target = getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise InputError(
            f"{where}: cannot import {path!r} ({exc}); check the dotted path and "
            "that its package is installed"
        ) from exc
    if not callable(target):
        raise InputError(f"{where}: {path!r} is not callable")
    return target  # type: ignore[no-any-return]


def _run_command(argv: list[str], timeout: float) -> ActionResult:
    try:
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        return ActionResult(False, detail=f"{argv[0]}: cannot start ({exc})")
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        return ActionResult(
            False, _tail(out), f"still running after {timeout:g} s; stopped"
        )
    if process.returncode != 0:
        return ActionResult(False, _tail(out), f"exit status {process.returncode}")
    return ActionResult(True, _tail(out))


def _request(spec: dict[str, Any], timeout: float) -> ActionResult:
    try:
        response = requests.request(
            spec["method"],
            spec["url"],
            headers=spec["headers"],
            json=spec["json"],
            timeout=timeout,
        )
    except requests.RequestException as exc:
        return ActionResult(False, detail=f"{type(exc).__name__}: {exc}")
    output = f"HTTP {response.status_code}\n{response.text[:OUTPUT_LIMIT]}"
    if response.status_code not in spec["expect_status"]:
        expected = ", ".join(map(str, spec["expect_status"]))
        return ActionResult(
            False, output, f"HTTP {response.status_code}, expected {expected}"
        )
    return ActionResult(True, output)


def _call(
    target: Callable[..., Any], args: dict[str, Any], timeout: float
) -> ActionResult:
    """Call ``target`` in a daemon thread so a hung callable cannot hold the
    runbook past its timeout (the thread itself cannot be stopped)."""
    outcome: list[ActionResult] = []

    def work() -> None:
        try:
            value = target(**args)
        except Exception as exc:
            outcome.append(ActionResult(False, detail=f"{type(exc).__name__}: {exc}"))
            return
        if value is False:
            outcome.append(ActionResult(False, detail="returned False"))
        else:
            text = "" if value is None or value is True else str(value)
            outcome.append(ActionResult(True, text[:OUTPUT_LIMIT]))

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return ActionResult(False, detail=f"no result after {timeout:g} s; abandoned")
    return outcome[0]


def _tail(output: bytes) -> str:
    text = output.decode("utf-8", errors="replace")
    return text if len(text) <= OUTPUT_LIMIT else "…" + text[-OUTPUT_LIMIT:]


def _quote(arg: str) -> str:
    return (
        arg if arg and all(c.isalnum() or c in "-_./=:@," for c in arg) else repr(arg)
    )
