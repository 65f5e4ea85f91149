"""Health checks against real endpoints: an HTTP server on loopback with a
healthy, slow, failing, hanging and wrong-body endpoint, a closed TCP port,
PostgreSQL, SQLite files, commands and Python functions."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from opskit.errors import InputError, NotFoundError, ParameterError
from opskit.health import (
    COLUMNS,
    CallableCheck,
    CommandCheck,
    HealthMonitor,
    HealthStatus,
    HttpCheck,
    PostgresCheck,
    SqliteCheck,
    TcpCheck,
    load_checks,
    overall,
    run_checks,
    summarize,
)
from tests.servers import PostgresServer, free_port

ROOT = Path(__file__).resolve().parents[1]
SLACK = 0.75  # seconds a round may take beyond the timeout it waits for


# Functions for CallableCheck, imported by their dotted paths.
def returns_true() -> bool:
    return True


def returns_false() -> bool:
    return False


def returns_degraded() -> HealthStatus:
    return HealthStatus.DEGRADED


def returns_pair() -> tuple[str, str]:
    return "degraded", "queue 900 deep"


def returns_junk() -> int:
    return 42


def raises() -> bool:
    raise RuntimeError("queue unreachable")


@dataclass
class Endpoints:
    """The test HTTP server: its base URL, a status that tests may switch, and
    an event that releases requests held by ``/hang``."""

    base: str
    switch_status: int = 200
    released: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return self.base + path


def _handler(endpoints: Endpoints) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/hang":
                endpoints.released.wait(30)
                return
            if self.path == "/slow":
                time.sleep(0.4)
            status, body = {
                "/fail": (503, "down for maintenance"),
                "/wrong-body": (200, "maintenance page"),
                "/switch": (endpoints.switch_status, "status ok"),
            }.get(self.path, (200, "status ok"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    """A threaded HTTP server on 127.0.0.1, stopped after the test."""
    holder = Endpoints(base="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    server.daemon_threads = True
    holder.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder
    holder.released.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def held() -> Iterator[threading.Event]:
    """An event a hanging Python check waits on, released after the test."""
    event = threading.Event()
    yield event
    event.set()


def rows(results: pd.DataFrame) -> dict[str, tuple[str, str]]:
    return {r.name: (r.status, r.detail) for r in results.itertuples()}


def test_http_checks_judge_status_body_and_latency(endpoints: Endpoints) -> None:
    checks = [
        HttpCheck("ok", endpoints.url("/ok"), body_contains="ok"),
        HttpCheck("slow", endpoints.url("/slow"), degraded_after=0.2),
        HttpCheck("fail", endpoints.url("/fail")),
        HttpCheck("body", endpoints.url("/wrong-body"), body_contains="status ok"),
        HttpCheck("either", endpoints.url("/fail"), expect_status=[200, 503]),
    ]

    found = rows(run_checks(checks))

    assert found["ok"][0] == "healthy"
    assert found["ok"][1].startswith("HTTP 200 in ")
    assert found["slow"][0] == "degraded"
    assert "slower than 0.2 s" in found["slow"][1]
    assert found["fail"] == ("unhealthy", "HTTP 503, expected 200")
    assert found["body"] == ("unhealthy", "HTTP 200, no 'status ok'")
    assert found["either"][0] == "healthy"


def test_a_hanging_endpoint_is_cut_off_at_its_timeout_without_holding_others(
    endpoints: Endpoints,
) -> None:
    checks = [
        HttpCheck("hang", endpoints.url("/hang"), timeout=1),
        HttpCheck("ok", endpoints.url("/ok"), timeout=1),
        TcpCheck("closed", "127.0.0.1", free_port(), timeout=1),
    ]

    started = time.monotonic()
    results = run_checks(checks)
    elapsed = time.monotonic() - started

    assert elapsed < 1 + SLACK
    assert list(results.columns) == COLUMNS
    assert list(results["name"]) == ["hang", "ok", "closed"]
    assert list(results["status"]) == ["unhealthy", "healthy", "unhealthy"]
    assert results["detail"][0] == "no answer within 1 s"
    assert "Connection refused" in results["detail"][2]
    assert results["latency"][1] < 1
    assert str(results["checked_at"].dt.tz) == "UTC"


def test_a_check_that_never_returns_is_abandoned_at_the_round_deadline(
    endpoints: Endpoints, held: threading.Event
) -> None:
    checks = [
        CallableCheck("stuck", lambda: held.wait(30), timeout=10),
        HttpCheck("ok", endpoints.url("/ok")),
    ]

    started = time.monotonic()
    results = run_checks(checks, deadline=0.5)

    assert time.monotonic() - started < 0.5 + SLACK
    assert rows(results)["stuck"] == ("unhealthy", "no answer within 0.5 s")
    assert rows(results)["ok"][0] == "healthy"


def test_tcp_check_connects_to_a_listening_port(endpoints: Endpoints) -> None:
    port = int(endpoints.base.rsplit(":", 1)[1])

    result = TcpCheck("web", "127.0.0.1", port).run()

    assert (result.status, result.detail) == (
        "healthy",
        f"connected to 127.0.0.1:{port}",
    )
    assert result.kind == "tcp"
    assert result.checked_at.tzinfo is not None


@pytest.mark.integration
def test_postgres_check_runs_select_1_and_never_shows_the_password(
    postgres: PostgresServer,
) -> None:
    secret = "hunter2-not-shown"
    missing_db = f"postgresql://postgres:{secret}@127.0.0.1:{postgres.port}/nope"
    closed = f"host=127.0.0.1 port={free_port()} password={secret} dbname=x"
    checks = [
        PostgresCheck("db", postgres.dsn),
        PostgresCheck("missing", missing_db, timeout=2),
        PostgresCheck("closed", closed, timeout=2),
    ]

    found = rows(run_checks(checks))

    assert found["db"][0] == "healthy"
    assert found["db"][1].startswith("SELECT 1 answered by PostgreSQL ")
    assert found["missing"][0] == "unhealthy"
    assert 'database "nope" does not exist' in found["missing"][1]
    assert found["closed"][0] == "unhealthy"
    assert "Connection refused" in found["closed"][1]
    assert all(secret not in detail for _, detail in found.values())
    assert secret not in repr(checks[1])


def test_sqlite_check_reads_a_file_and_never_creates_a_missing_one(
    tmp_path: Path,
) -> None:
    present, missing, junk = (tmp_path / n for n in ("app.db", "gone.db", "x.db"))
    with sqlite3.connect(present) as db:
        db.execute("create table orders (id integer)")
    db.close()
    junk.write_text("not a database, just text long enough to hold a header")

    found = rows(
        run_checks(
            [
                SqliteCheck("present", present),
                SqliteCheck("missing", str(missing)),
                SqliteCheck("junk", junk),
            ]
        )
    )

    assert found["present"] == ("healthy", "read-only SELECT answered; 1 tables")
    assert found["missing"] == ("unhealthy", f"{missing}: no such file")
    assert not missing.exists()
    assert found["junk"] == ("unhealthy", f"{junk}: file is not a database")


def test_command_checks_judge_the_exit_code_and_kill_at_the_timeout() -> None:
    checks = [
        CommandCheck("true", ["true"]),
        CommandCheck("false", ["false"]),
        CommandCheck("said", ["sh", "-c", "echo checking; echo disk full; exit 3"]),
        CommandCheck("expected", ["false"], expect_exit=1),
        CommandCheck("sleep", ["sleep", "10"], timeout=0.5),
        CommandCheck("absent", ["no-such-program-here"]),
    ]

    started = time.monotonic()
    found = rows(run_checks(checks))

    assert time.monotonic() - started < 0.5 + SLACK
    assert found["true"] == ("healthy", "exit 0")
    assert found["false"] == ("unhealthy", "exit 1, expected 0")
    assert found["said"] == ("unhealthy", "exit 3, expected 0: disk full")
    assert found["expected"] == ("healthy", "exit 1")
    assert found["sleep"] == ("unhealthy", "killed after 0.5 s")
    assert found["absent"][0] == "unhealthy"
    assert found["absent"][1].startswith("cannot start no-such-program-here: ")


def test_a_command_must_be_an_argument_list_not_a_shell_string() -> None:
    with pytest.raises(ValueError, match="valid list"):
        CommandCheck("shell", "true && false")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("target", "status", "detail"),
    [
        ("tests.test_health:returns_true", "healthy", "returned True"),
        ("tests.test_health.returns_false", "unhealthy", "returned False"),
        ("tests.test_health:returns_degraded", "degraded", "returned degraded"),
        ("tests.test_health:returns_pair", "degraded", "queue 900 deep"),
        ("tests.test_health:raises", "unhealthy", "RuntimeError: queue unreachable"),
        (
            "tests.test_health:returns_junk",
            "unhealthy",
            "returned 42; return a bool, a HealthStatus or (status, detail)",
        ),
    ],
)
def test_a_python_check_reads_what_the_function_returns(
    target: str, status: str, detail: str
) -> None:
    result = CallableCheck("queue", target).run()

    assert (result.status, result.detail) == (status, detail)
    assert result.kind == "python"


def test_overall_and_summarize_report_the_worst_first(endpoints: Endpoints) -> None:
    checks = [
        HttpCheck("web", endpoints.url("/ok")),
        HttpCheck("api", endpoints.url("/fail")),
        CallableCheck("queue", returns_true),
    ]

    results = run_checks(checks)

    assert overall(results) is HealthStatus.UNHEALTHY
    assert summarize(results) == (
        "3 checks: 2 healthy, 1 unhealthy (api: HTTP 503, expected 200)"
    )
    assert overall(results[results["name"] != "api"]) is HealthStatus.HEALTHY
    assert overall(run_checks([])) is HealthStatus.HEALTHY
    assert summarize(run_checks([])) == "0 checks"
    assert list(run_checks([]).columns) == COLUMNS


def test_the_monitor_keeps_at_most_keep_rounds_oldest_first() -> None:
    monitor = HealthMonitor([CallableCheck("queue", returns_true)], 0.01, keep=3)

    polled = monitor.poll(5)

    assert list(polled["round"]) == [1, 2, 3, 4, 5]
    assert list(monitor.history["round"]) == [3, 4, 5]
    assert list(monitor.history.columns) == ["round", *COLUMNS]
    assert monitor.history["status"].eq("healthy").all()


def test_the_monitor_reports_status_changes_between_rounds(
    endpoints: Endpoints,
) -> None:
    monitor = HealthMonitor([HttpCheck("api", endpoints.url("/switch"))], 0.01)
    assert monitor.history.empty
    assert list(monitor.history.columns) == ["round", *COLUMNS]

    monitor.check_once()
    assert monitor.changes() == []
    endpoints.switch_status = 503
    monitor.check_once()

    assert monitor.changes() == ["api: healthy -> unhealthy (HTTP 503, expected 200)"]
    monitor.check_once()
    assert monitor.changes() == []


def test_the_monitor_polls_in_the_background_until_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[int] = []

    def on_round(frame: pd.DataFrame) -> None:
        seen.append(int(frame["round"][0]))
        if len(seen) == 2:
            raise RuntimeError("board closed")

    monitor = HealthMonitor([CallableCheck("queue", returns_true)], 0.05)
    monitor.start(on_round)
    with pytest.raises(InputError, match="already polling"):
        monitor.start()
    deadline = time.monotonic() + 5
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    monitor.stop()
    rounds = len(monitor.history)
    time.sleep(0.15)

    assert seen[:3] == [1, 2, 3]
    assert len(monitor.history) == rounds
    assert "on_round failed" in caplog.text


EXAMPLE_ENV = {
    "API_URL": "http://127.0.0.1:9",
    "API_TOKEN": "t0ken",
    "CACHE_HOST": "127.0.0.1",
    "DATABASE_URL": "postgresql://app:pw@127.0.0.1:9/orders",
    "SESSIONS_DB": "/srv/app/sessions.db",
}


def test_the_shipped_example_loads_one_check_of_each_kind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "ops_checks.py").write_text(
        "def queue_is_draining():\n    return True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    checks = load_checks(ROOT / "runbooks" / "checks-example.yaml")

    assert [c.kind for c in checks] == [
        "http", "tcp", "postgres", "sqlite", "command", "python"
    ]  # fmt: skip
    api = checks[0]
    assert isinstance(api, HttpCheck)
    assert api.url == "http://127.0.0.1:9/health"
    assert api.headers == {"Authorization": "Bearer t0ken"}
    assert api.expect_status == [200, 204]
    assert checks[5].run().status == "healthy"


def test_checks_load_from_yaml_text_and_from_parsed_data() -> None:
    text = "checks:\n  - {name: up, type: command, command: ['true'], timeout: 1}\n"
    data = {"checks": [{"name": "up", "type": "command", "command": ["true"]}]}

    from_text, from_data = load_checks(text), load_checks(data)

    assert from_text[0] == CommandCheck("up", ["true"], timeout=1)
    assert from_data == load_checks(data["checks"]) == [CommandCheck("up", ["true"])]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "checks:\n  - {name: web, type: http, url: http://x}\n"
            "  - {name: api, type: htttp, url: http://x}\n",
            "check 2 ('api'), field type: unknown type 'htttp' (did you mean "
            "'http'?); use one of http, tcp, postgres, sqlite, command, python",
        ),
        (
            "checks:\n  - {name: db, type: tcp, host: db.internal}\n",
            "check 1 ('db'), field port: field required; a tcp check takes "
            "name, host, port, timeout",
        ),
        (
            "checks:\n  - {name: db, type: tcp, host: db, port: five}\n",
            "check 1 ('db'), field port: input should be a valid integer",
        ),
        (
            "checks:\n  - {name: api, type: http, url: http://x, timout: 3}\n",
            "check 1 ('api'), field timout: unknown field (did you mean "
            "'timeout'?); a http check takes name, url, expect_status",
        ),
        (
            "checks:\n  - {name: db, type: postgres, dsn: '${OPSKIT_NO_SUCH_VAR}'}\n",
            "check 1 ('db'), field dsn: environment variable OPSKIT_NO_SUCH_VAR "
            "is not set",
        ),
        (
            "checks:\n  - {name: api, type: http\n",
            "not valid YAML at line 3",
        ),
        (
            "checks:\n  name: api\n  type: http\n",
            "`checks` must be a list of mappings, got dict",
        ),
        (
            "checks:\n  - {url: http://x}\n",
            "check 1, field type: missing; use one of http, tcp",
        ),
        (
            "checks:\n  - {name: a, type: command, command: 'true'}\n"
            "  - {name: b, type: command, command: ['true']}\n",
            "field command: input should be a valid list",
        ),
        (
            "check:\n  - {name: a, type: command, command: ['true']}\n",
            "holds one `checks:` list and nothing else, found check",
        ),
    ],
    ids=[
        "unknown-type",
        "missing-field",
        "wrong-type",
        "unknown-field",
        "missing-env-var",
        "not-yaml",
        "not-a-list",
        "no-type",
        "shell-string",
        "misspelt-top-level",
    ],
)
def test_a_malformed_checks_file_is_named_with_its_check_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "checks.yaml"
    path.write_text(text)

    with pytest.raises(InputError) as caught:
        load_checks(path)

    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_repeated_names_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    twice = {"checks": [{"name": "a", "type": "command", "command": ["true"]}] * 2}

    with pytest.raises(InputError, match="check names repeat \\(a\\)"):
        load_checks(twice)
    with pytest.raises(NotFoundError, match="no such checks file"):
        load_checks(tmp_path / "absent.yaml")
    with pytest.raises(NotFoundError, match="no such checks file"):
        load_checks(str(tmp_path / "absent.yaml"))


def test_a_key_repeated_in_a_check_is_refused_not_last_one_wins(
    tmp_path: Path,
) -> None:
    path = tmp_path / "checks.yaml"
    path.write_text(
        "checks:\n  - name: db\n    type: tcp\n    host: localhost\n"
        "    port: 1\n    port: 2\n"
    )

    with pytest.raises(InputError) as caught:
        load_checks(path)

    assert str(caught.value) == (
        f"{path}:6: checks[0] 'db': key 'port' repeated (first on line 5); keep one"
    )


def test_a_yaml_alias_in_a_checks_file_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "checks.yaml"
    laughs = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)
    ]
    path.write_text("\n".join(laughs) + "\n")
    started = time.monotonic()

    with pytest.raises(InputError) as caught:
        load_checks(path)

    assert str(caught.value) == (
        f"{path}:2: YAML aliases (*l0) are not supported; write the value out"
    )
    assert time.monotonic() - started < 2
    with pytest.raises(InputError, match=r"checks text:1: YAML aliases \(\*a\)"):
        load_checks("a: &a [*a]\n")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "{name: db, type: tcp, host: localhost, port: 1, timeout: 1e308}",
            "check 1 ('db'), field timeout: input should be less than or equal to 3600",
        ),
        (
            "{name: api, type: http, url: 'http://x', degraded_after: 1e308}",
            "check 1 ('api'), field degraded_after: input should be less than",
        ),
        (
            "{name: api, type: http, url: 'not a url'}",
            "check 1 ('api'), field url: 'not a url' is not an http(s) URL with a host",
        ),
        (
            "{name: api, type: http, url: 'ftp://x/health'}",
            "check 1 ('api'), field url: 'ftp://x/health' is not an http(s) URL",
        ),
        (
            "{name: api, type: http, url: 'https:///health'}",
            "check 1 ('api'), field url: 'https:///health' is not an http(s) URL",
        ),
    ],
    ids=["huge-timeout", "huge-degraded-after", "not-a-url", "ftp", "no-host"],
)
def test_a_timeout_too_long_or_a_url_without_host_is_refused_at_load(
    entry: str, expected: str
) -> None:
    with pytest.raises(InputError) as caught:
        load_checks(f"checks:\n  - {entry}\n")

    assert str(caught.value).startswith(f"checks text: {expected}")


def test_the_longest_allowed_timeout_runs_without_raising() -> None:
    checks = load_checks(
        "checks:\n  - {name: db, type: tcp, host: 127.0.0.1, port: "
        f"{free_port()}, timeout: 3600}}\n"
    )

    assert run_checks(checks)["status"].tolist() == ["unhealthy"]


@pytest.mark.parametrize(
    ("interval", "keep", "expected"),
    [
        ("5", 10, "interval: '5' is not a number of seconds"),
        (True, 10, "interval: True is not a number of seconds"),
        (1e308, 10, "interval: 1e+308 is not a number of seconds"),
        (float("nan"), 10, "interval: nan is not a number of seconds"),
        (5, "10", "keep: '10' is not a whole number of rounds"),
        (5, 2.5, "keep: 2.5 is not a whole number of rounds"),
    ],
)
def test_the_monitor_refuses_an_interval_or_keep_of_the_wrong_type(
    interval: object, keep: object, expected: str
) -> None:
    check = CallableCheck("queue", returns_true)

    with pytest.raises(ParameterError, match=expected.replace("+", r"\+")):
        HealthMonitor([check], interval, keep=keep)  # type: ignore[arg-type]
