"""Carrying out one action: a command (an argument list, never a shell
string), an HTTP request, a Python callable, or a manual instruction. Each
ends within its timeout and reports success, output and why it failed."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any

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
        spec = substitute(action.http.model_dump(by_alias=True), parameters)
        return _within(lambda: _request(spec, timeout), timeout)
    if action.python is not None:
        target = resolve_callable(action.python, action.python)
        args = substitute(action.args, parameters)
        return _within(lambda: _call(target, args), timeout)
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
    """Run ``argv`` in a process group of its own, output to a temporary
    file (a detached child holding a pipe open cannot hold the step), and
    kill the group at the timeout or when the run is interrupted."""
    with tempfile.TemporaryFile() as output:
        try:
            process = subprocess.Popen(
                argv,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            return ActionResult(False, detail=f"{argv[0]}: cannot start ({exc})")
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return ActionResult(
                False, _read(output), f"still running after {timeout:g} s; stopped"
            )
        except BaseException:
            _kill_group(process)
            raise
        if code != 0:
            return ActionResult(False, _read(output), f"exit status {code}")
        return ActionResult(True, _read(output))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _read(output: IO[bytes]) -> str:
    output.flush()
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - OUTPUT_LIMIT * 4))
    text = output.read().decode("utf-8", errors="replace")
    return text if len(text) <= OUTPUT_LIMIT else "…" + text[-OUTPUT_LIMIT:]


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


def _call(target: Callable[..., Any], args: dict[str, Any]) -> ActionResult:
    """Call ``target``; what it prints becomes the step's output."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            value = target(**args)
    except Exception as exc:
        return ActionResult(
            False, _clip(printed.getvalue()), f"{type(exc).__name__}: {exc}"
        )
    except SystemExit as exc:
        return ActionResult(
            exc.code in (0, None),
            _clip(printed.getvalue()),
            "" if exc.code in (0, None) else f"called sys.exit({exc.code!r})",
        )
    if value is False:
        return ActionResult(False, _clip(printed.getvalue()), "returned False")
    text = "" if value is None or value is True else str(value)
    return ActionResult(True, _clip(printed.getvalue() + text))


def _within(work: Callable[[], ActionResult], timeout: float) -> ActionResult:
    """Run ``work`` in a daemon thread and give up on it at ``timeout`` (wall
    clock), so a trickling server or a hung callable cannot hold the run;
    the thread itself cannot be stopped."""
    outcome: list[ActionResult] = []
    worker = threading.Thread(target=lambda: outcome.append(work()), daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return ActionResult(False, detail=f"no result after {timeout:g} s; abandoned")
    return outcome[0]


def _clip(text: str) -> str:
    return text if len(text) <= OUTPUT_LIMIT else "…" + text[-OUTPUT_LIMIT:]


def _quote(arg: str) -> str:
    return (
        arg if arg and all(c.isalnum() or c in "-_./=:@," for c in arg) else repr(arg)
    )
