"""Running runbooks for real: commands, HTTP, callables, confirmations,
critical failures, rollbacks, retries, dry runs, resumption and records."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from opskit.errors import InputError, ParameterError, StorageError
from opskit.record_store import RecordStore
from opskit.records import RecordStatus
from opskit.runbooks import (
    Decision,
    Outcome,
    RunbookError,
    RunbookRun,
    load_runbook,
    policy,
)

CALLS: list[dict[str, object]] = []


def remember(**kwargs: object) -> str:
    """A runbook callable: notes its arguments."""
    CALLS.append(kwargs)
    return f"noted {sorted(kwargs)}"


def explode(reason: str) -> None:
    """A runbook callable that fails."""
    raise RuntimeError(reason)


def write(folder: Path, text: str, name: str = "ops") -> Path:
    path = folder / f"{name}.runbook.yaml"
    path.write_text(text)
    return path


def approved(folder: Path, text: str, **options: Any) -> RunbookRun:
    """A run of ``text`` with ``dir`` set to ``folder``, approved by policy."""
    return RunbookRun(
        load_runbook(write(folder, text)),
        {"dir": str(folder)},
        confirm=policy("approve"),
        **options,
    )


def outcomes(run: RunbookRun) -> dict[str, str]:
    return {s.step.name: s.outcome.value for s in run.steps}


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The record store runs file into."""
    monkeypatch.setenv("OPSKIT_RECORD_STORE", str(tmp_path / "records"))
    return tmp_path / "records"


ROLLBACKS = """\
name: rollbacks
parameters:
  dir: {type: str}
steps:
  - name: Create A
    action: {command: [touch, "${dir}/A"]}
    rollback: {action: {command: [rm, "${dir}/A"]}}
  - name: Create B
    action: {command: [touch, "${dir}/B"]}
    rollback: {action: {command: [rm, "${dir}/B"]}}
  - name: Optional check
    critical: false
    action: {command: [sh, -c, "echo optional broke; exit 4"]}
  - name: Break
    action: {command: [sh, -c, "echo about to fail; exit 3"]}
  - name: Never
    action: {command: [touch, "${dir}/never"]}
"""


def test_a_critical_failure_stops_the_run_and_rolls_back_in_reverse(
    tmp_path: Path, store: Path
) -> None:
    run = approved(tmp_path, ROLLBACKS)

    result = run.run(rollback_on_failure=True)

    assert result.status == RecordStatus.FAILED
    assert "critical step 'Break' failed: exit status 3" in result.record.reason
    assert outcomes(run) == {
        "Create A": "rolled-back",
        "Create B": "rolled-back",
        "Optional check": "failed",
        "Break": "failed",
        "Never": "pending",
    }
    assert not (tmp_path / "A").exists()
    assert not (tmp_path / "B").exists()
    assert not (tmp_path / "never").exists()
    rollbacks = [e.step for e in result.record.timeline if e.kind == "rollback"]
    assert rollbacks == ["Create B", "Create A"]
    broke = next(e for e in result.record.timeline if e.step == "Break")
    assert broke.output.strip() == "about to fail"
    assert broke.author == "policy: approve"


def test_each_rollback_asks_the_confirmation_hook(tmp_path: Path, store: Path) -> None:
    asked: list[str] = []

    def only_b(step: Any, preview: str) -> Decision:
        asked.append(step.name)
        return Decision(step.name != "Create A (rollback)", "alice (terminal)")

    run = RunbookRun(
        load_runbook(write(tmp_path, ROLLBACKS)), {"dir": str(tmp_path)}, confirm=only_b
    )
    result = run.run(rollback_on_failure=True)

    assert asked[-2:] == ["Create B (rollback)", "Create A (rollback)"]
    assert outcomes(run)["Create B"] == "rolled-back"
    assert outcomes(run)["Create A"] == "succeeded"
    assert (tmp_path / "A").exists() and not (tmp_path / "B").exists()
    texts = [e.text for e in result.record.timeline]
    assert "Create A: rollback denied by alice (terminal); left as it is" in texts
    undone = next(e for e in result.record.timeline if e.kind == "rollback")
    assert undone.author == "alice (terminal)"


MANUAL_ROLLBACK = """\
name: manual-rollback
parameters:
  dir: {type: str}
steps:
  - name: Switch traffic
    changes: false
    action: {command: [touch, "${dir}/switched"]}
    rollback: {action: {manual: Point the load balancer back at the primary}}
  - name: Break
    action: {command: ["false"]}
"""


def test_a_manual_rollback_is_rolled_back_only_when_someone_says_so(
    tmp_path: Path, store: Path
) -> None:
    denied = RunbookRun(
        load_runbook(write(tmp_path, MANUAL_ROLLBACK)),
        {"dir": str(tmp_path)},
        confirm=policy("deny"),
    )
    denied.run(rollback_on_failure=True)
    assert outcomes(denied)["Switch traffic"] == "succeeded"

    unattended = RunbookRun(
        load_runbook(write(tmp_path, MANUAL_ROLLBACK)), {"dir": str(tmp_path)}
    )
    unattended.run_step("Switch traffic")
    with pytest.raises(ParameterError, match="rollback of 'Switch traffic' needs"):
        unattended.rollback()
    assert unattended.rollback(by="bob")[0].decided_by == "bob"
    assert outcomes(unattended)["Switch traffic"] == "rolled-back"


def test_a_resumed_run_runs_rolled_back_steps_again(
    tmp_path: Path, store: Path
) -> None:
    stopped = approved(tmp_path, ROLLBACKS).run(rollback_on_failure=True)
    assert not (tmp_path / "A").exists()

    again = RunbookRun.resume(stopped.location, store=store, confirm=policy("approve"))

    assert again.next_step() is not None
    assert again.next_step().step.name == "Create A"  # type: ignore[union-attr]
    again.run_step()
    assert (tmp_path / "A").exists()


FAILING_ROLLBACK = """\
name: failing-rollback
parameters:
  dir: {type: str}
steps:
  - name: Create A
    action: {command: [touch, "${dir}/A"]}
    rollback: {action: {command: [sh, -c, "echo cannot undo; exit 5"]}}
  - name: Break
    action: {command: [sh, -c, "exit 3"]}
"""


def test_a_failed_rollback_is_in_the_reason_and_not_run_again_on_resume(
    tmp_path: Path, store: Path
) -> None:
    stopped = approved(tmp_path, FAILING_ROLLBACK).run(rollback_on_failure=True)

    assert stopped.record.reason.endswith("; rollback failed: Create A")
    again = RunbookRun.resume(stopped.location, store=store, confirm=policy("approve"))
    assert again.next_step().step.name == "Break"  # type: ignore[union-attr]


def test_without_rollback_completed_steps_stay_done(
    tmp_path: Path, store: Path
) -> None:
    run = approved(tmp_path, ROLLBACKS)

    run.run()

    assert (tmp_path / "A").exists()
    assert outcomes(run)["Create A"] == "succeeded"


def test_the_record_lists_every_step_as_a_phase_and_a_check(
    tmp_path: Path, store: Path
) -> None:
    run = approved(tmp_path, ROLLBACKS)

    result = run.run()
    saved = RecordStore.open(store).load(result.location).record

    assert saved.kind == "runbook"
    assert [p.name for p in saved.phases] == [
        "Create A",
        "Create B",
        "Optional check",
        "Break",
    ]
    assert {c.name: c.status.value for c in saved.checks}["Break"] == "failed"
    assert saved.details["runbook"]["steps"][4]["outcome"] == "pending"


def test_a_non_critical_failure_is_recorded_and_the_run_goes_on(
    tmp_path: Path, store: Path
) -> None:
    text = ROLLBACKS.replace(
        '    action: {command: [sh, -c, "echo about to fail; exit 3"]}',
        '    action: {command: ["true"]}',
    )
    run = approved(tmp_path, text)

    result = run.run()

    assert result.status == RecordStatus.PASSED
    assert result.record.reason == "non-critical steps failed: Optional check"
    assert (tmp_path / "never").exists()


def test_retries_try_again_after_the_delay(tmp_path: Path, store: Path) -> None:
    marker = tmp_path / "tried"
    text = f"""\
name: flaky
steps:
  - name: Flaky
    changes: false
    retries: {{attempts: 3, delay: 0.2}}
    action:
      command: [sh, -c, "test -f {marker} || {{ touch {marker}; exit 1; }}"]
"""
    run = RunbookRun(load_runbook(write(tmp_path, text)))

    started = time.monotonic()
    state = run.run_step()

    assert state.outcome == Outcome.SUCCEEDED
    assert state.attempts == 2
    assert time.monotonic() - started >= 0.2


def test_a_step_past_its_timeout_is_stopped(tmp_path: Path, store: Path) -> None:
    text = """\
name: slow
steps:
  - name: Sleep
    changes: false
    timeout: 0.5
    action: {command: [sh, -c, "sleep 30 & sleep 30"]}
"""
    run = RunbookRun(load_runbook(write(tmp_path, text)))

    started = time.monotonic()
    state = run.run_step()

    assert time.monotonic() - started < 5
    assert state.outcome == Outcome.FAILED
    assert state.detail == "still running after 0.5 s; stopped"


def test_parameters_reach_a_command_as_single_arguments(
    tmp_path: Path, store: Path
) -> None:
    text = """\
name: quoting
parameters:
  label: {type: str}
steps:
  - name: Print
    changes: false
    action: {command: [printf, "%s|", "${label}", "x-${label}"]}
"""
    run = RunbookRun(
        load_runbook(write(tmp_path, text)), {"label": "a b; rm -rf / $(id)"}
    )

    state = run.run_step()

    assert state.output == "a b; rm -rf / $(id)|x-a b; rm -rf / $(id)|"


def test_secrets_are_masked_in_output_timeline_and_record(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_API_TOKEN", "tok-from-the-environment")
    text = """\
name: secrets
parameters:
  password: {type: secret}
steps:
  - name: Leak
    changes: false
    action:
      command: [sh, -c, 'echo "pw=$0 token=$1"', "${password}", "${env.OPS_API_TOKEN}"]
"""
    run = RunbookRun(load_runbook(write(tmp_path, text)), {"password": "hunter22"})

    result = run.run()
    saved = (Path(result.location) / "record.json").read_text()

    assert run.steps[0].output.strip() == "pw=*** token=***"
    assert "tok-from-the-environment" not in saved
    assert "hunter22" not in saved
    assert result.record.parameters == {"password": "***"}


def test_a_missing_environment_variable_stops_the_run_before_any_step(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPS_NOT_SET", raising=False)
    text = f"""\
name: env
steps:
  - name: First
    changes: false
    action: {{command: [touch, "{tmp_path}/first"]}}
  - name: Second
    action: {{command: [echo, "${{env.OPS_NOT_SET}}"]}}
"""
    with pytest.raises(InputError, match=r"Second.*OPS_NOT_SET is not set"):
        RunbookRun(load_runbook(write(tmp_path, text)))

    assert not (tmp_path / "first").exists()


def test_a_missing_program_is_refused_before_any_step(tmp_path: Path) -> None:
    text = f"""\
name: missing
steps:
  - name: First
    changes: false
    action: {{command: [touch, "{tmp_path}/first"]}}
  - name: Second
    action: {{command: [no-such-program-here, --now]}}
"""
    with pytest.raises(InputError, match="'no-such-program-here' is not installed"):
        RunbookRun(load_runbook(write(tmp_path, text)))

    assert not (tmp_path / "first").exists()


def test_an_unimportable_callable_is_refused_before_any_step(tmp_path: Path) -> None:
    text = """\
name: missing
steps:
  - name: Call
    action: {python: "tests.runbooks.test_runner:no_such_function"}
"""
    with pytest.raises(
        InputError, match=r"cannot import 'tests\.runbooks\.test_runner"
    ):
        RunbookRun(load_runbook(write(tmp_path, text)))


def test_callables_get_their_arguments_and_exceptions_fail_the_step(
    tmp_path: Path,
) -> None:
    text = """\
name: calls
parameters:
  size: {type: int, default: 3}
steps:
  - name: Remember
    changes: false
    action:
      python: tests.runbooks.test_runner:remember
      args: {size: "${size}", label: "size ${size}"}
  - name: Explode
    changes: false
    action:
      python: tests.runbooks.test_runner.explode
      args: {reason: disk full}
"""
    CALLS.clear()
    run = RunbookRun(load_runbook(write(tmp_path, text)), {"size": 5})

    first = run.run_step()
    second = run.run_step()

    assert CALLS == [{"size": 5, "label": "size 5"}]
    assert first.output == "noted ['label', 'size']"
    assert second.outcome == Outcome.FAILED
    assert second.detail == "RuntimeError: disk full"


class _Api(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        status = 202 if b'"scale"' in body else 409
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_http_actions_check_the_status(tmp_path: Path, api: str) -> None:
    text = f"""\
name: http
steps:
  - name: Scale
    changes: false
    action:
      http: {{method: POST, url: "{api}/scale", json: {{action: scale}}}}
  - name: Conflict
    changes: false
    action:
      http: {{method: POST, url: "{api}/x", json: {{action: x}}, expect_status: 202}}
"""
    run = RunbookRun(load_runbook(write(tmp_path, text)))

    assert run.run_step().outcome == Outcome.SUCCEEDED
    conflict = run.run_step()
    assert conflict.outcome == Outcome.FAILED
    assert conflict.detail == "HTTP 409, expected 202"


CONFIRMED = """\
name: confirmed
parameters:
  dir: {type: str}
steps:
  - name: Look
    changes: false
    action: {command: [ls, "${dir}"]}
  - name: Change
    action: {command: [touch, "${dir}/changed"]}
  - name: Tell people
    critical: false
    action: {manual: Post in the incident channel}
"""


def test_policy_deny_refuses_changing_steps_and_says_so(
    tmp_path: Path, store: Path
) -> None:
    run = RunbookRun(
        load_runbook(write(tmp_path, CONFIRMED)),
        {"dir": str(tmp_path)},
        confirm=policy("deny"),
    )

    result = run.run()

    assert outcomes(run) == {
        "Look": "succeeded",
        "Change": "denied",
        "Tell people": "pending",
    }
    assert not (tmp_path / "changed").exists()
    assert result.status == RecordStatus.FAILED
    denied = next(e for e in result.record.timeline if e.step == "Change")
    assert denied.text == "Change: denied by policy: deny"


def test_policy_fail_ends_the_run_as_an_error(tmp_path: Path, store: Path) -> None:
    run = RunbookRun(
        load_runbook(write(tmp_path, CONFIRMED)),
        {"dir": str(tmp_path)},
        confirm=policy("fail"),
    )

    result = run.run()

    assert result.status == RecordStatus.ERROR
    assert "step 'Change' needs confirmation" in result.record.reason
    assert not (tmp_path / "changed").exists()


def test_a_person_decides_step_by_step(tmp_path: Path) -> None:
    run = RunbookRun(load_runbook(write(tmp_path, CONFIRMED)), {"dir": str(tmp_path)})

    run.run_step("Look")
    with pytest.raises(ParameterError, match="'Change' needs confirmation"):
        run.run_step("Change")
    changed = run.run_step("Change", decision=Decision(True, "alice"))
    told = run.run_step("Tell people", decision=Decision(True, "bob"))

    assert changed.outcome == Outcome.SUCCEEDED
    assert changed.decided_by == "alice"
    assert told.output == "Post in the incident channel"
    assert [e.author for e in run.timeline][-2:] == ["alice", "bob"]
    assert run.status == RecordStatus.PASSED


def test_a_dry_run_changes_nothing(tmp_path: Path, store: Path) -> None:
    run = RunbookRun(
        load_runbook(write(tmp_path, ROLLBACKS)),
        {"dir": str(tmp_path)},
        dry_run=True,
    )

    result = run.run()

    assert sorted(p.name for p in tmp_path.iterdir()) == ["ops.runbook.yaml", "records"]
    assert set(outcomes(run).values()) == {"dry-run"}
    assert result.status == RecordStatus.PASSED
    assert result.record.reason == "dry run: nothing was changed"
    assert result.record.timeline[0].text == f"Create A: would run: touch {tmp_path}/A"


STEADY = """\
name: steady
parameters:
  dir: {type: str}
steady_state:
  checks:
    - {name: db, type: sqlite, path: "${dir}/shop.sqlite", timeout: 2}
steps:
  - name: Touch
    action: {command: [touch, "${dir}/touched"]}
"""


def test_a_broken_steady_state_stops_the_run_before_the_first_step(
    tmp_path: Path, store: Path
) -> None:
    run = approved(tmp_path, STEADY)

    result = run.run()

    assert result.status == RecordStatus.FAILED
    assert result.record.reason.startswith("the steady state did not hold")
    assert not (tmp_path / "touched").exists()


def test_a_forced_run_goes_on_and_checks_again_after_the_last_step(
    tmp_path: Path, store: Path
) -> None:
    run = approved(tmp_path, STEADY, force=True)

    result = run.run()

    assert (tmp_path / "touched").exists()
    assert result.status == RecordStatus.FAILED
    assert "steady state does not hold after" in result.record.reason
    assert [
        e.text.split(":")[0] for e in result.record.timeline if e.kind == "check"
    ] == [
        "steady state before",
        "steady state after",
    ]


RESUMABLE = """\
name: resumable
parameters:
  dir: {type: str}
  token: {type: secret, default: ""}
steps:
  - name: Count
    changes: false
    action: {command: [sh, -c, 'echo x >> "$0/count"', "${dir}"]}
  - name: Needs ready
    changes: false
    action: {command: [test, -f, "${dir}/ready"]}
  - name: Finish
    changes: false
    action: {command: [touch, "${dir}/finished"]}
"""


def test_a_stopped_run_resumes_from_its_first_unfinished_step(
    tmp_path: Path, store: Path
) -> None:
    path = write(tmp_path, RESUMABLE)
    first = RunbookRun(load_runbook(path), {"dir": str(tmp_path), "token": "s3cret"})
    stopped = first.run()
    assert stopped.status == RecordStatus.FAILED

    (tmp_path / "ready").touch()
    with pytest.raises(ParameterError, match="token: masked in the record"):
        RunbookRun.resume(stopped.location, store=store)
    again = RunbookRun.resume(
        stopped.location, store=store, parameters={"token": "s3cret"}
    )
    result = again.run()

    assert result.status == RecordStatus.PASSED
    assert (tmp_path / "count").read_text() == "x\n"
    assert (tmp_path / "finished").exists()
    assert result.record.details["resumed_from"] == stopped.record.id
    assert any("resumed from" in e.text for e in result.record.timeline)


def test_a_run_of_a_relative_runbook_path_resumes_from_another_folder(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    write(work, RESUMABLE)
    monkeypatch.chdir(work)
    stopped = RunbookRun(load_runbook("ops.runbook.yaml"), {"dir": str(work)}).run()

    monkeypatch.chdir(tmp_path)
    again = RunbookRun.resume(stopped.location, store=store)

    assert again.loaded.source == str(work / "ops.runbook.yaml")
    assert again.next_step().step.name == "Needs ready"  # type: ignore[union-attr]


def test_a_changed_runbook_is_not_resumed_unless_forced(
    tmp_path: Path, store: Path
) -> None:
    path = write(tmp_path, RESUMABLE)
    stopped = RunbookRun(load_runbook(path), {"dir": str(tmp_path)}).run()
    path.write_text(RESUMABLE.replace("Finish", "Finish up"))

    with pytest.raises(RunbookError, match="changed since the run"):
        RunbookRun.resume(stopped.location, store=store)
    resumed = RunbookRun.resume(stopped.location, store=store, force=True)

    assert resumed.next_step() is not None
    assert resumed.next_step().step.name == "Needs ready"  # type: ignore[union-attr]


def test_the_demo_runbook_runs_against_the_demo(
    demo: object, tmp_path: Path, store: Path
) -> None:
    workdir = tmp_path / "demo"
    run = RunbookRun(
        load_runbook("demo-database"),
        {"workdir": str(workdir)},
        confirm=policy("approve"),
    )

    result = run.run()

    assert result.status == RecordStatus.PASSED
    assert set(outcomes(run).values()) == {"succeeded"}
    assert not (workdir / "MAINTENANCE").exists()
    assert len(list((workdir / "backups").iterdir())) == 2
    assert run.steps[0].output.startswith("2500 orders, newest written ")


def test_a_detached_child_holding_the_output_cannot_hold_the_step(
    tmp_path: Path,
) -> None:
    text = """\
name: detached
steps:
  - name: Start
    changes: false
    timeout: 10
    action: {command: [sh, -c, "setsid sleep 30 & echo started"]}
"""
    run = RunbookRun(load_runbook(write(tmp_path, text)))

    started = time.monotonic()
    state = run.run_step()

    assert time.monotonic() - started < 5
    assert state.outcome == Outcome.SUCCEEDED
    assert state.output.strip() == "started"


def test_an_http_step_against_a_trickling_server_ends_at_its_timeout(
    tmp_path: Path,
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while not stop.wait(0.3):
            with contextlib.suppress(OSError):
                conn.sendall(b"X-Slow: 1\r\n")
        conn.close()

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    port = listener.getsockname()[1]
    text = f"""\
name: trickle
steps:
  - name: Ask
    changes: false
    timeout: 1
    action: {{http: {{url: "http://127.0.0.1:{port}/"}}}}
"""
    try:
        run = RunbookRun(load_runbook(write(tmp_path, text)))
        started = time.monotonic()
        state = run.run_step()
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        server.join(5)
        listener.close()

    assert elapsed < 3
    assert state.detail == "no result after 1 s; abandoned"


def test_what_a_callable_prints_is_its_output(tmp_path: Path) -> None:
    text = """\
name: prints
steps:
  - name: Talk
    changes: false
    action: {python: "tests.runbooks.test_runner:chatty"}
  - name: Leave
    changes: false
    action: {python: "tests.runbooks.test_runner:leave", args: {code: 3}}
"""
    run = RunbookRun(load_runbook(write(tmp_path, text)))

    talk = run.run_step()
    leave = run.run_step()

    assert talk.output == "hello from the step\ndone"
    assert leave.outcome == Outcome.FAILED
    assert leave.detail == "called sys.exit(3)"


def leave(code: int) -> None:
    """A runbook callable that exits."""
    sys.exit(code)


def chatty() -> str:
    """A runbook callable that prints."""
    print("hello from the step")
    return "done"


def test_a_run_whose_store_cannot_be_written_does_not_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store should be")
    monkeypatch.setenv("OPSKIT_RECORD_STORE", str(blocker / "records"))
    run = approved(tmp_path, ROLLBACKS)

    with pytest.raises(StorageError, match="cannot be written"):
        run.run()

    assert not (tmp_path / "A").exists()


def test_a_finished_run_is_not_run_again(tmp_path: Path, store: Path) -> None:
    run = approved(tmp_path, ROLLBACKS)
    run.run()

    with pytest.raises(InputError, match="this run has ended"):
        run.run()
    assert not (tmp_path / "never").exists()


def test_dry_runs_and_runs_resumed_already_are_not_resumed(
    tmp_path: Path, store: Path
) -> None:
    path = write(tmp_path, RESUMABLE)
    dry = RunbookRun(load_runbook(path), {"dir": str(tmp_path)}, dry_run=True).run()
    stopped = RunbookRun(load_runbook(path), {"dir": str(tmp_path)}).run()
    RunbookRun.resume(stopped.location, store=store).run()

    with pytest.raises(InputError, match="is a dry run"):
        RunbookRun.resume(dry.location, store=store)
    with pytest.raises(InputError, match="was resumed already"):
        RunbookRun.resume(stopped.location, store=store)
    assert (tmp_path / "count").read_text() == "x\n"


def test_parameters_keep_their_declared_types(tmp_path: Path) -> None:
    text = """\
name: typed
parameters:
  version: {type: str}
  dry: {type: bool, default: false}
  replicas: {type: int, default: 1}
steps:
  - name: Show
    changes: false
    action: {command: [echo, "v${version} dry=${dry} x${replicas}"]}
"""
    run = RunbookRun(
        load_runbook(write(tmp_path, text)),
        {"version": "1.10", "dry": "true", "replicas": "007"},
    )

    assert run.run_step().output.strip() == "v1.10 dry=true x7"
    with pytest.raises(ParameterError, match=r"replicas: '2\.9' is not a valid int"):
        RunbookRun(
            load_runbook(write(tmp_path, text)), {"version": "1", "replicas": "2.9"}
        )
