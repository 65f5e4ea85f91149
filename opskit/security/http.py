"""Fetching a URL for review: every redirect hop with its headers, and the
final body's start, with failures turned into values the review reports."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies

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
    cookie set by one response must not change the next one).

    The environment (proxies, CA bundle) is read once per review rather than
    on every request, which is most of requests' own cost per request; netrc
    credentials are never sent to a reviewed site.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = _environment_ca_bundle()
    session.max_redirects = max_redirects
    session.headers["User-Agent"] = USER_AGENT
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=connections, pool_maxsize=connections)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass(frozen=True)
class Request:
    """One GET to make: the URL and any extra headers."""

    url: str
    headers: dict[str, str] | None = None


def fetch(
    url: str,
    *,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
    max_redirects: int = 10,
) -> Fetched:
    """GET ``url`` following redirects, within ``timeout`` seconds in all; a
    failure is returned in ``error`` instead of raised, so one bad URL never
    stops a review."""
    with new_session(1, max_redirects) as session:
        return fetch_all([Request(url, headers)], session, timeout=timeout)[0]


def fetch_all(
    requests_: Sequence[Request],
    session: requests.Session,
    *,
    timeout: float = 10.0,
    limit: int = 1024,
) -> list[Fetched]:
    """Make every request at once (at most ``limit`` in flight), each within
    ``timeout`` seconds, and return the answers in order.

    Each request runs in a daemon thread of its own: a server that trickles
    its headers or body cannot hold the review, or the process's exit, past
    the timeout.
    """
    proxies = {
        origin: get_environ_proxies(origin)
        for origin in {_origin(r.url) for r in requests_}
    }
    answers: list[Fetched | None] = [None] * len(requests_)
    slots = threading.BoundedSemaphore(limit)

    def work(index: int, request: Request) -> None:
        with slots:
            answers[index] = _fetch(
                request, timeout, session, proxies[_origin(request.url)]
            )

    workers = [
        threading.Thread(target=work, args=(index, request), daemon=True)
        for index, request in enumerate(requests_)
    ]
    for worker in workers:
        worker.start()
    waves = math.ceil(len(requests_) / limit)
    deadline = time.monotonic() + waves * (timeout + 1)
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))

    return [
        answer or Fetched(r.url, error=f"no complete answer within {timeout:g} s")
        for r, answer in zip(requests_, answers, strict=True)
    ]


def _fetch(
    request: Request,
    timeout: float,
    session: requests.Session,
    proxies: dict[str, str],
) -> Fetched:
    url = request.url
    deadline = time.monotonic() + timeout
    try:
        response = session.get(
            url, headers=request.headers, timeout=timeout, stream=True, proxies=proxies
        )
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

    hops = [_hop(r) for r in [*response.history, response]]
    return Fetched(url, hops=hops, body=_decode(body, response.encoding))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _environment_ca_bundle() -> str | bool:
    """The CA bundle requests would take from the environment, else ``True``."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return bundle or True


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
