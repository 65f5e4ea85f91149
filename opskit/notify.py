"""Notifications: tell a chat webhook when a run failed or broke.

The message is Slack-compatible JSON: ``text`` for plain readers and phone
notifications, ``blocks`` for Slack's layout. ``post`` never raises; whether a
message went out is a ``Delivery`` value that the runner puts in the record
before saving it, so an alert that cannot be delivered never costs the record.

A webhook URL is a secret (Slack's carry a token in their path): only its
masked form is logged, recorded or put in an error message, and urllib3's own
log lines about it are masked too.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from opskit.errors import ParameterError
from opskit.masking import MASK
from opskit.record_model import Record, RecordStatus

logger = logging.getLogger(__name__)

NOTIFY_ENV = "OPSKIT_NOTIFY_URL"
RETRY_AFTER_CAP = 10.0
"""The longest wait between attempts, in seconds; a receiver asking for more
(``Retry-After``) is not retried."""

_DEFAULT_WHEN = (RecordStatus.FAILED, RecordStatus.ERROR)
# A path part of 8 or more characters with a digit or a capital letter (or of
# 16 or more) reads as a token: Slack, Discord and Teams put theirs there.
_SECRET_PART = re.compile(r"^(?=.*[A-Z0-9]).{8,}$|^.{16,}$")
_URLLIB3_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.response",
    "urllib3.util.retry",
)
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


@dataclass(frozen=True)
class Delivery:
    """The outcome of posting one message: ``url`` is masked, ``status`` the
    last HTTP status (``None`` when nothing answered), ``at`` the UTC time the
    first attempt started and ``seconds`` how long posting took in all."""

    url: str
    delivered: bool
    attempts: int
    status: int | None
    error: str
    at: datetime
    seconds: float = 0.0

    def as_details(self) -> dict[str, Any]:
        """Return this delivery as JSON-ready data for ``record.details``."""
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


def time_bound(timeout: float = 5.0, attempts: int = 3) -> float:
    """The most seconds ``post`` can take: every attempt is cut off after
    ``timeout`` and every wait between attempts after ``RETRY_AFTER_CAP``
    (35 s with the defaults; 18 s when the receiver sends no Retry-After)."""
    return attempts * timeout + (attempts - 1) * RETRY_AFTER_CAP


def resolve_url(url: str | None = None) -> str | None:
    """Return ``url``, else $OPSKIT_NOTIFY_URL, else ``None``; a URL that is not
    http(s) with a host is a ``ParameterError`` (naming it masked)."""
    found = url or os.environ.get(NOTIFY_ENV) or None
    if found is None:
        return None
    try:
        parts = urlsplit(found)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        usable = False
    if not usable:
        raise ParameterError(
            f"notify: {mask_url(found)} is not an http(s) URL; give the webhook "
            f"URL (--notify or ${NOTIFY_ENV}), e.g. https://hooks.slack.com/..."
        )
    return found


def mask_url(url: str) -> str:
    """Return ``url`` fit to show: no credentials, no query string, and path
    parts that look like tokens cut to their first four characters."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return MASK
    netloc = ("***@" if "@" in parts.netloc else "") + (parts.hostname or "")
    netloc += f":{port}" if port else ""
    path = "/".join(_shorten(part) for part in parts.path.split("/"))
    return urlunsplit((parts.scheme, netloc, path, MASK if parts.query else "", ""))


def mask_in(text: str, url: str) -> str:
    """Return ``text`` with every secret part of ``url`` in it masked."""
    for secret, masked in sorted(_secret_parts(url).items(), key=lambda p: -len(p[0])):
        text = text.replace(secret, masked)
    return text


def slack_message(record: Record, location: str) -> dict[str, Any]:
    """Build a Slack-compatible message about ``record``, filed at ``location``.

    ``text`` says it all in plain lines; ``blocks`` lays the same out for
    Slack: kind, name, status, reason, missed targets, failed checks, who
    started the run, and where its record is.
    """
    title = f"{record.kind} {record.name}: {record.status.value.upper()}"
    started = f"{record.started_by}, {record.started_at:%Y-%m-%d %H:%M:%S} UTC"
    where = f"{location} (record id {record.id})"
    problems = [p for p in _problems(record) if p not in record.reason]

    lines = [title]
    lines += [f"Reason: {record.reason}"] if record.reason else []
    lines += [*problems, f"Started by: {started}", f"Record: {where}"]

    fields = [("Kind", record.kind), ("Name", record.name)]
    fields += [("Status", record.status.value), ("Started by", started)]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "fields": [_mrkdwn(f"*{k}*\n{v}") for k, v in fields]},
    ]
    if record.reason:
        blocks.append(_section(f"*Reason*\n{record.reason}"))
    if problems:
        blocks.append(_section("*Missed*\n" + "\n".join(problems)))
    blocks.append({"type": "context", "elements": [_mrkdwn(f"Record: {where}")]})
    return {"text": "\n".join(lines), "blocks": blocks}


def post(
    url: str,
    payload: Mapping[str, Any],
    *,
    timeout: float = 5.0,
    attempts: int = 3,
    backoff: float = 1.0,
) -> Delivery:
    """POST ``payload`` as JSON to ``url``; never raises.

    Connection errors, attempts with no answer within ``timeout`` seconds, 429
    and 5xx are retried up to ``attempts`` times, waiting ``backoff`` seconds
    doubled each time, or what ``Retry-After`` asks up to ``RETRY_AFTER_CAP``.
    Other answers are final. The whole takes at most ``time_bound()``.
    """
    _guard_logs(url)
    at, began = datetime.now(UTC), time.monotonic()
    tried, status, error = 0, None, ""
    try:
        body = json.dumps(payload).encode("utf-8")
        for tried in range(1, max(1, attempts) + 1):
            status, wait, error = _attempt(url, body, timeout)
            if not error or wait is None or tried >= attempts:
                break
            if wait > RETRY_AFTER_CAP:
                error += f"; asked to retry after {wait:g} s, more than opskit waits"
                break
            logger.debug("notification attempt %d: %s; retrying", tried, error)
            time.sleep(wait if wait >= 0 else _backoff(backoff, tried))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    return _delivery(url, tried, status, mask_in(error, url), at, began)


def notify(
    record: Record,
    location: str,
    url: str,
    *,
    when: Collection[RecordStatus] = _DEFAULT_WHEN,
    **post_options: Any,
) -> Delivery | None:
    """Post a message about ``record`` when its status is in ``when`` (failed
    or error by default); return ``None`` when its status calls for none."""
    if record.status not in when:
        return None
    return post(url, slack_message(record, location), **post_options)


def notify_record(
    record: Record, location: str, url: str | None, **post_options: Any
) -> Record:
    """Notify about ``record`` and return it with the delivery noted in
    ``details["notifications"]`` (and its reason, when not delivered).

    Never raises: an unexpected error while notifying is noted as an
    undelivered notification, so the record can still be saved.
    """
    if url is None:
        return record
    try:
        delivery = notify(record, location, url, **post_options)
    except (Exception, KeyboardInterrupt) as exc:
        # The record matters more than the alert: note the failure, keep going.
        logger.debug("notification failed unexpectedly", exc_info=True)
        error = mask_in(f"{type(exc).__name__}: {exc}", url)
        if isinstance(exc, KeyboardInterrupt):
            error = "interrupted (Ctrl-C or SIGTERM) while posting"
        delivery = Delivery(mask_url(url), False, 0, None, error, datetime.now(UTC))
        logger.warning("%s", describe(delivery.as_details()))
    if delivery is None:
        return record

    noted = [*record.details.get("notifications", []), delivery.as_details()]
    update: dict[str, Any] = {"details": {**record.details, "notifications": noted}}
    if not delivery.delivered:
        note = describe(delivery.as_details())
        update["reason"] = f"{record.reason} ({note})" if record.reason else note
    return record.model_copy(update=update)


def describe(noted: Mapping[str, Any]) -> str:
    """Say in words what a noted delivery (``Delivery.as_details()``) did."""
    tries = f"{noted['attempts']} attempt{'s' if noted['attempts'] != 1 else ''}"
    if noted["delivered"]:
        return f"alert delivered to {noted['url']} (HTTP {noted['status']}, {tries})"
    return f"alert NOT delivered to {noted['url']} after {tries}: {noted['error']}"


def _attempt(
    url: str, body: bytes, timeout: float
) -> tuple[int | None, float | None, str]:
    """One POST cut off after ``timeout`` seconds, whatever hangs (DNS, connect,
    a slow answer). Returns the status, the wait before a retry (``None``:
    do not retry; negative: the usual backoff) and the error, if any."""
    outcome: list[tuple[int | None, float | None, str]] = []
    worker = threading.Thread(
        target=lambda: outcome.append(_send(url, body, timeout)),
        name="opskit-notify",
        daemon=True,
    )
    worker.start()
    worker.join(timeout)
    if not outcome:
        return None, -1.0, f"no answer within {timeout:g} s"
    return outcome[0]


def _send(
    url: str, body: bytes, timeout: float
) -> tuple[int | None, float | None, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "opskit-notify"}
    try:
        with requests.Session() as session:
            response = session.post(
                url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            )
            excerpt = response.content[:200].decode("utf-8", "replace").strip()
    except (requests.ConnectionError, requests.Timeout) as exc:
        return None, -1.0, f"{type(exc).__name__}: {_reason_of(exc)}"
    except Exception as exc:
        return None, None, f"{type(exc).__name__}: {exc}"

    code = response.status_code
    if 200 <= code < 300:
        return code, None, ""
    error = f"HTTP {code}" + (f": {excerpt}" if excerpt else "")
    if code == 429 or code >= 500:
        return code, _retry_after(response.headers.get("Retry-After")), error
    return code, None, error


def _backoff(backoff: float, tried: int) -> float:
    """The wait after attempt ``tried``: ``backoff`` doubled each time, capped."""
    return float(min(backoff * 2 ** (tried - 1), RETRY_AFTER_CAP))


def _reason_of(exc: Exception) -> str:
    """The innermost cause of a requests error, which names what failed."""
    inner: BaseException = exc
    while inner.args and isinstance(inner.args[0], BaseException):
        inner = inner.args[0]
    reason = getattr(inner, "reason", None)
    return str(reason or inner)


def _retry_after(value: str | None) -> float:
    """Seconds a ``Retry-After`` header asks for; -1 when absent or unreadable."""
    if not value:
        return -1.0
    if value.strip().isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return -1.0
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _delivery(
    url: str, tried: int, status: int | None, error: str, at: datetime, began: float
) -> Delivery:
    seconds = round(time.monotonic() - began, 3)
    delivery = Delivery(mask_url(url), not error, tried, status, error, at, seconds)
    if delivery.delivered:
        logger.info("%s in %.1f s", describe(delivery.as_details()), seconds)
    else:
        logger.warning("%s", describe(delivery.as_details()))
    return delivery


def _problems(record: Record) -> list[str]:
    missed = [t.describe() for t in record.targets if t.met is False]
    failed = [c.name for c in record.checks if c.status.value == "failed"]
    if failed:
        missed.append(f"Failed checks: {', '.join(failed[:10])}")
    return missed


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text[:2900])}


def _mrkdwn(text: str) -> dict[str, str]:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {"type": "mrkdwn", "text": escaped}


def _shorten(part: str) -> str:
    return part[:4] + MASK if _SECRET_PART.match(part) else part


def _secret_parts(url: str) -> dict[str, str]:
    """Map each secret piece of ``url`` to what is shown instead."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return {url: MASK}
    found = {url: mask_url(url)}
    found |= {p: _shorten(p) for p in parts.path.split("/") if _shorten(p) != p}
    userinfo = parts.netloc.rpartition("@")[0]
    for piece in (parts.query, parts.fragment, userinfo, parts.password or ""):
        if piece:
            found[piece] = MASK
    return found


class _MaskWebhooks(logging.Filter):
    """Masks the webhook URLs opskit posted to in urllib3's log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        with _secrets_lock:
            urls = list(_secrets)
        message = record.getMessage()
        masked = message
        for url in urls:
            masked = mask_in(masked, url)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _guard_logs(url: str) -> None:
    """Install the masking filter on urllib3's loggers, once per process."""
    with _secrets_lock:
        first = not _secrets
        _secrets.add(url)
    if first:
        for name in _URLLIB3_LOGGERS:
            logging.getLogger(name).addFilter(_MaskWebhooks())
