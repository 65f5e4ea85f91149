"""Notifications: a failed or broken run posts to a webhook, against a real
receiver on loopback (one that answers, one that is down, one that hangs)."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import nbformat
import pytest

from opskit.demo import FRESHNESS_QUERY, Demo, prepare_demo
from opskit.errors import ParameterError
from opskit.notebooks import RunOutcome, run_notebook
from opskit.notify import (
    NOTIFY_ENV,
    mask_url,
    notify,
    notify_record,
    post,
    resolve_url,
    slack_message,
    time_bound,
)
from opskit.records import Record, RecordStatus, RecordStore, current_environment
from opskit.targets import TargetResult
from tests.helpers import Invoke
from tests.servers import free_port

SECRET = "s3cretW3bhookT0ken0123456789"
HOOK_PATH = f"/services/T0TEST00/B0TEST00/{SECRET}"
FAST = {"timeout": 1.0, "attempts": 2, "backoff": 0.1}

pytestmark = pytest.mark.slow


class Receiver:
    """A webhook receiver on 127.0.0.1 that keeps what it is sent and answers
    with the scripted statuses (then 200); ``hang`` accepts and never answers."""

    def __init__(self, answers: list[tuple[int, dict[str, str]]], hang: bool) -> None:
        self.answers, self.hang = answers, hang
        self.received: list[dict[str, Any]] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        )
        self.thread.start()

    def url(self, path: str = HOOK_PATH) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length", 0)))
        self.received.append(
            {
                "path": request.path,
                "type": request.headers.get("Content-Type"),
                "json": json.loads(body),
            }
        )
        if self.hang:
            self.release.wait(30)
            return
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", "12")
        request.end_headers()
        request.wfile.write(b"no_service\r\n" if status == 404 else b"ok          ")

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


Answer = int | tuple[int, dict[str, str]]
Receivers = Callable[..., Receiver]


class FailedRun(NamedTuple):
    """A drill run that missed its RTO, the receiver it told and its store."""

    outcome: RunOutcome
    receiver: Receiver
    store: Path


@pytest.fixture(scope="module")
def receivers() -> Iterator[Receivers]:
    """Start receivers: ``receivers(500, 500)``, ``receivers(hang=True)``."""
    with ExitStack() as stack:

        def start(*statuses: Answer, hang: bool = False) -> Receiver:
            answers = [s if isinstance(s, tuple) else (s, {}) for s in statuses]
            receiver = Receiver(answers, hang)
            stack.callback(receiver.stop)
            return receiver

        yield start


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo shop, and a tier whose RTO no drill can meet (``tight``)."""
    tiers = tmp_path_factory.mktemp("tiers") / "tiers.yaml"
    tiers.write_text("tight: {rto: 0.001s, rpo: 1d}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPSKIT_TIERS", str(tiers))
        patch.delenv(NOTIFY_ENV, raising=False)
        yield prepare_demo(tmp_path_factory.mktemp("shop"))


def drill(shop: Demo, store: Path, tier: str = "tight", **options: Any) -> RunOutcome:
    parameters = {
        "service": "shop",
        "backup_store": str(shop.backup_store),
        "freshness_query": FRESHNESS_QUERY,
        "tier": tier,
    }
    return run_notebook("restore_drill", parameters, record_store=str(store), **options)


def write_notebook(path: Path, *sources: str) -> Path:
    """Write a notebook of code cells for the local python3 kernel."""
    kernel = {"name": "python3", "language": "python", "display_name": "Python 3"}
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": kernel})
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def failed_run(
    shop: Demo, receivers: Receivers, tmp_path_factory: pytest.TempPathFactory
) -> FailedRun:
    """One drill that misses its RTO, its webhook given by $OPSKIT_NOTIFY_URL."""
    receiver, store = receivers(), tmp_path_factory.mktemp("records")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(NOTIFY_ENV, receiver.url())
        outcome = drill(shop, store)
    return FailedRun(outcome, receiver, store)


def test_a_failed_drill_posts_one_slack_message(failed_run: FailedRun) -> None:
    outcome, receiver, _ = failed_run

    (sent,) = receiver.received
    message = sent["json"]
    assert outcome.record.status is RecordStatus.FAILED
    assert sent["type"] == "application/json"
    assert sent["path"] == HOOK_PATH
    assert set(message) == {"text", "blocks"}
    assert message["blocks"][0]["type"] == "header"
    for fact in ("restore-drill shop: FAILED", "RTO", "MISSED", outcome.record.id):
        assert fact in message["text"]
    assert outcome.record.reason.split(" (")[0] in message["text"]
    assert outcome.location in message["text"]
    assert "via opskit run" in message["text"]


def test_the_record_says_the_alert_went_out(failed_run: FailedRun) -> None:
    outcome, _, store = failed_run

    (noted,) = outcome.record.details["notifications"]
    assert noted["delivered"] is True
    assert (noted["attempts"], noted["status"], noted["error"]) == (1, 200, "")
    assert noted["url"].endswith("/services/T0TE***/B0TE***/s3cr***")
    assert "not delivered" not in outcome.record.reason
    assert RecordStore.open(store).verify(outcome.record.id) == []


def test_the_webhook_secret_stays_out_of_record_notebook_and_html(
    failed_run: FailedRun,
) -> None:
    folder = Path(failed_run.outcome.location)

    for name in ("record.json", "notebook.ipynb", "report.html"):
        text = (folder / name).read_text()
        assert SECRET not in text, name
        assert SECRET[:8] not in text, name


def test_a_passed_drill_posts_nothing(
    shop: Demo, receivers: Receivers, record_store: Path
) -> None:
    receiver = receivers()

    outcome = drill(shop, record_store, "critical", notify=receiver.url())

    assert outcome.record.status is RecordStatus.PASSED, outcome.record.reason
    assert receiver.received == []
    assert "notifications" not in outcome.record.details


def test_a_receiver_failing_twice_gets_a_third_attempt(
    shop: Demo, receivers: Receivers, record_store: Path
) -> None:
    receiver = receivers(500, 502)

    outcome = drill(
        shop, record_store, notify=receiver.url(), notify_options=FAST | {"attempts": 3}
    )

    (noted,) = outcome.record.details["notifications"]
    assert len(receiver.received) == 3
    assert (noted["delivered"], noted["attempts"], noted["status"]) == (True, 3, 200)


@pytest.mark.parametrize("down", [True, False], ids=["down", "hanging"])
def test_an_unreachable_receiver_costs_no_record(
    shop: Demo, receivers: Receivers, record_store: Path, down: bool
) -> None:
    url = (
        f"http://127.0.0.1:{free_port()}{HOOK_PATH}"
        if down
        else receivers(hang=True).url()
    )

    outcome = drill(shop, record_store, notify=url, notify_options=FAST)

    (noted,) = outcome.record.details["notifications"]
    stored = RecordStore.open(record_store).load(outcome.record.id).record
    assert stored.status is RecordStatus.FAILED
    assert noted["delivered"] is False and noted["attempts"] == 2
    assert ("refused" if down else "no answer within 1 s") in noted["error"]
    assert noted["seconds"] <= time_bound(FAST["timeout"], FAST["attempts"])
    assert down or noted["seconds"] >= 2 * FAST["timeout"]
    assert "alert NOT delivered" in stored.reason
    assert SECRET not in (Path(outcome.location) / "record.json").read_text()


def test_a_broken_notebook_posts_and_its_kernel_never_sees_the_webhook(
    receivers: Receivers,
    record_store: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = receivers()
    monkeypatch.setenv(NOTIFY_ENV, receiver.url())
    notebook = write_notebook(
        tmp_path / "peeks_then_breaks.ipynb",
        f"import os; print(os.environ.get({NOTIFY_ENV!r}))",
        "raise ValueError('broken on purpose')",
    )

    outcome = run_notebook(str(notebook), {}, record_store=str(record_store))

    (sent,) = receiver.received
    assert outcome.record.status is RecordStatus.ERROR
    assert (
        "ERROR" in sent["json"]["text"] and "broken on purpose" in sent["json"]["text"]
    )
    executed = (Path(outcome.location) / "notebook.ipynb").read_text()
    assert "None" in executed and SECRET not in executed


def test_an_unexpected_error_while_notifying_is_noted_and_the_record_saved(
    receivers: Receivers, record_store: Path, tmp_path: Path
) -> None:
    notebook = write_notebook(tmp_path / "breaks.ipynb", "raise ValueError('x')")

    outcome = run_notebook(
        str(notebook),
        {},
        record_store=str(record_store),
        notify=receivers().url(),
        notify_options={"retries": 3},
    )

    (noted,) = outcome.record.details["notifications"]
    assert outcome.record.status is RecordStatus.ERROR
    assert noted["delivered"] is False and "TypeError" in noted["error"]
    assert RecordStore.open(record_store).verify(outcome.record.id) == []


def test_a_404_is_not_retried_and_urllib3_logs_stay_masked(
    receivers: Receivers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = receivers(404)

    delivery = post(receiver.url(), {"text": "hello"}, **FAST | {"attempts": 3})

    assert len(receiver.received) == 1
    assert (delivery.delivered, delivery.attempts, delivery.status) == (False, 1, 404)
    assert delivery.error == "HTTP 404: no_service"
    assert "POST" in caplog.text and SECRET not in caplog.text


def test_retry_after_is_honoured_up_to_its_cap(receivers: Receivers) -> None:
    soon = receivers((429, {"Retry-After": "0"}))
    later = receivers((503, {"Retry-After": "3600"}))

    quick = post(soon.url(), {"text": "x"}, **FAST)
    refused = post(later.url(), {"text": "x"}, **FAST)

    assert (quick.delivered, quick.attempts) == (True, 2)
    assert (refused.delivered, refused.attempts, refused.status) == (False, 1, 503)
    assert "asked to retry after 3600 s" in refused.error


def test_post_never_raises() -> None:
    delivery = post("http://127.0.0.1:1/x", {"text": object()}, **FAST)

    assert not delivery.delivered
    assert delivery.error.startswith("TypeError")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://hooks.slack.com/services/T0A1B2C3D/B0A1B2C3D/abcdefghijklmnop",
            "https://hooks.slack.com/services/T0A1***/B0A1***/abcd***",
        ),
        (
            "https://bot:pa55@chat.example/hook?token=abc",
            "https://***@chat.example/hook?***",
        ),
        ("http://127.0.0.1:8080/hook#frag", "http://127.0.0.1:8080/hook"),
    ],
)
def test_mask_url_hides_credentials_tokens_and_secret_path_parts(
    url: str, shown: str
) -> None:
    assert mask_url(url) == shown


def test_a_notify_url_must_be_http_and_is_named_masked() -> None:
    with pytest.raises(
        ParameterError, match=r"ftp://chat\.example/s3cr\*\*\*"
    ) as caught:
        resolve_url(f"ftp://chat.example/{SECRET}")

    assert SECRET not in str(caught.value)


def failed_record(**changes: Any) -> Record:
    now = datetime.now(UTC)
    return Record(
        kind="restore-drill",
        name="orders",
        started_by="cron@ops",
        started_at=now,
        ended_at=now,
        status=RecordStatus.FAILED,
        reason="<b>truncated</b> & refused",
        environment=current_environment(),
        targets=[
            TargetResult(
                name="rpo",
                target_seconds=300,
                actual_seconds=900,
                met=False,
                margin_seconds=-600,
            )
        ],
    ).model_copy(update=changes)


def test_slack_message_reads_as_text_and_escapes_markup() -> None:
    message = slack_message(failed_record(), "records/restore-drill/x")

    assert message["text"].splitlines()[:3] == [
        "restore-drill orders: FAILED",
        "Reason: <b>truncated</b> & refused",
        "RPO 15 min against 5 min: MISSED, 10 min over",
    ]
    reason = message["blocks"][2]["text"]["text"]
    assert reason == "*Reason*\n&lt;b&gt;truncated&lt;/b&gt; &amp; refused"
    assert "records/restore-drill/x" in message["blocks"][-1]["elements"][0]["text"]


def test_ctrl_c_while_posting_is_noted_and_the_record_kept(
    receivers: Receivers,
) -> None:
    silent = receivers(hang=True)
    # A shell that starts jobs in the background ignores SIGINT for them;
    # press Ctrl-C as a terminal would, whatever this process inherited.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    try:
        record = notify_record(
            failed_record(), "records/x", silent.url(), timeout=20.0, attempts=1
        )
    finally:
        signal.signal(signal.SIGINT, previous)

    (noted,) = record.details["notifications"]
    assert record.status is RecordStatus.FAILED
    assert noted["delivered"] is False and "interrupted" in noted["error"]
    assert "alert NOT delivered" in record.reason


def test_a_passed_record_calls_for_no_message() -> None:
    passed = failed_record(status=RecordStatus.PASSED)

    assert notify(passed, "records/x", "http://127.0.0.1:1/x") is None


def test_opskit_run_notifies_from_the_environment_and_masks_the_url(
    opskit: Invoke,
    shop: Demo,
    receivers: Receivers,
    record_store: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = receivers()
    monkeypatch.setenv(NOTIFY_ENV, receiver.url())

    helped = opskit("run", "--help")
    refused = opskit("run", "restore_drill", "--notify", f"ftp://x/{SECRET}")
    done = opskit(
        "run", "restore_drill", "-p", "service", "shop", "-p", "backup_store",
        str(shop.backup_store), "-p", "tier", "platinum",
        "--record-store", str(record_store),
    )  # fmt: skip

    assert NOTIFY_ENV in helped.stdout and SECRET not in helped.stdout
    assert "--notify URL" in opskit("demo", "--help").stdout
    assert refused.code == 2 and "not an http(s) URL" in refused.stderr
    assert done.code == 2
    assert "restore-drill shop: ERROR" in receiver.received[0]["json"]["text"]
    assert "alert delivered to" in done.stderr
    for output in (helped, refused, done):
        assert SECRET not in output.stdout + output.stderr


def test_a_token_in_capitals_is_masked_too() -> None:
    masked = mask_url("https://example.com/hooks/SECRETCCCCCCCC")

    assert "SECRETCCCCCCCC" not in masked
    assert masked == "https://example.com/hooks/SECR***"
    assert mask_url("http://127.0.0.1:9/webhooks/alerts") == (
        "http://127.0.0.1:9/webhooks/alerts"
    )
