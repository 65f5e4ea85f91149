"""Fetching a URL for review: every redirect hop with its headers, and the
final body's start, with failures turned into values the review reports."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy

import requests
from requests.adapters import HTTPAdapter

MAX_BODY_BYTES = 1024 * 1024
USER_AGENT = "opskit-security-review"


@dataclass(frozen=True)
class Hop:
    """One response on the way: URL, status and every header value by
    lower-case name (Set-Cookie and CSP may repeat)."""

    url: str
    status: int
    headers: dict[str, list[str]] = field(default_factory=dict)

    def first(self, name: str) -> str:
        """The first value of header ``name``, or ``""``."""
        values = self.headers.get(name.lower(), [])
        return values[0] if values else ""

    def values(self, name: str) -> list[str]:
        """Every value of header ``name``."""
        return self.headers.get(name.lower(), [])


@dataclass(frozen=True)
class Fetched:
    """What a review saw: the hops, the final body's start, or why it failed."""

    url: str
    hops: list[Hop] = field(default_factory=list)
    body: str = ""
    error: str = ""

    @property
    def final(self) -> Hop:
        """The last response."""
        return self.hops[-1]


def new_session(connections: int = 10, max_redirects: int = 10) -> requests.Session:
    """A session for review requests: keeps connections, keeps no cookies (a
    cookie set by one response must not change the next one)."""
    session = requests.Session()
    session.max_redirects = max_redirects
    session.headers["User-Agent"] = USER_AGENT
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=connections, pool_maxsize=connections)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def fetch(
    url: str,
    *,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
    max_redirects: int = 10,
    session: requests.Session | None = None,
) -> Fetched:
    """GET ``url`` following redirects, within ``timeout`` seconds in all; a
    failure is returned in ``error`` instead of raised, so one bad URL never
    stops a review. A shared ``session`` reuses connections across threads.

    The request runs in a daemon thread: a server that trickles its headers
    or body cannot hold the review (or the process's exit) past the timeout.
    """
    outcome: list[Fetched] = []
    worker = threading.Thread(
        target=lambda: outcome.append(
            _fetch(url, timeout, headers, max_redirects, session)
        ),
        daemon=True,
    )
    worker.start()
    worker.join(timeout + 1)
    if not outcome:
        return Fetched(url, error=f"no complete answer within {timeout:g} s")
    return outcome[0]


def _fetch(
    url: str,
    timeout: float,
    headers: dict[str, str] | None,
    max_redirects: int,
    session: requests.Session | None,
) -> Fetched:
    deadline = time.monotonic() + timeout
    own = session is None
    session = session or new_session(max_redirects=max_redirects)
    try:
        response = session.get(url, headers=headers, timeout=timeout, stream=True)
        body = _read_body(response, deadline)
    except requests.TooManyRedirects:
        return Fetched(
            url, error=f"more than {session.max_redirects} redirects (a loop?)"
        )
    except requests.Timeout:
        return Fetched(url, error=f"no answer within {timeout:g} s")
    except TimeoutError:
        return Fetched(url, error=f"the body took longer than {timeout:g} s")
    except (requests.RequestException, OSError, ValueError) as exc:
        return Fetched(url, error=f"{type(exc).__name__}: {_short(exc)}")
    finally:
        if own:
            session.close()

    hops = [_hop(r) for r in [*response.history, response]]
    return Fetched(url, hops=hops, body=_decode(body, response.encoding))


def _read_body(response: requests.Response, deadline: float) -> bytes:
    """Read at most ``MAX_BODY_BYTES``, giving up at ``deadline``."""
    chunks, size = [], 0
    for chunk in response.raw.stream(65536, decode_content=True):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY_BYTES:
            break
        if time.monotonic() > deadline:
            response.close()
            raise TimeoutError
    response.close()
    return b"".join(chunks)[:MAX_BODY_BYTES]


def _decode(body: bytes, encoding: str | None) -> str:
    try:
        return body.decode(encoding or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _hop(response: requests.Response) -> Hop:
    raw = response.raw.headers
    names = {name.lower() for name in raw}
    return Hop(
        url=response.url,
        status=response.status_code,
        headers={name: list(raw.getlist(name)) for name in sorted(names)},
    )


def _short(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= 200 else text[:200] + "…"
