"""Fetching a URL for review: every redirect hop with its headers, and the
final body's start, with failures turned into values the review reports.

Requests go through urllib3, the HTTP engine under requests, with proxies and
the CA bundle read from the environment as requests reads them. A review makes
three requests per URL at once, and requests' own layer (sessions, hooks,
cookie jars, settings merged per request) doubled the CPU time of each, which
on two cores was most of a 200-URL review; see benchmarks/README.md.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import urllib3
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_environ_proxies
from urllib3.exceptions import HTTPError, LocationParseError
from urllib3.exceptions import TimeoutError as TransportTimeout

MAX_BODY_BYTES = 1024 * 1024
USER_AGENT = "opskit-security-review"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "*/*",
    **urllib3.util.make_headers(accept_encoding=True),
}


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
    """What a review saw: the hops, the final body's start, or why it failed.
    A fetch that failed after a redirect keeps the hops before the failure."""

    url: str
    hops: list[Hop] = field(default_factory=list)
    body: str = ""
    error: str = ""

    @property
    def final(self) -> Hop:
        """The last response."""
        return self.hops[-1]


@dataclass(frozen=True)
class Request:
    """One GET to make: the URL and any extra headers."""

    url: str
    headers: dict[str, str] | None = None


class Client:
    """Connection pools for one review: sends no cookies and no netrc
    credentials, so one response never changes the next request.

    The environment (proxies, CA bundle) is read once per origin rather than
    on every request. Use it as a context manager to close its connections.
    """

    def __init__(self, connections: int = 10, max_redirects: int = 10) -> None:
        self.max_redirects = max_redirects
        self._connections = connections
        self._ca_bundle = _environment_ca_bundle()
        self._pools: dict[str, urllib3.PoolManager] = {}
        self._proxies: dict[str, str] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            for pool in self._pools.values():
                pool.clear()
            self._pools.clear()

    def get(
        self, url: str, headers: dict[str, str], timeout: float
    ) -> urllib3.BaseHTTPResponse:
        """One GET of ``url`` without following redirects; the body is left
        to be streamed. urllib3's errors pass through."""
        return self._pool_for(url).request(
            "GET",
            url,
            headers={**_DEFAULT_HEADERS, **headers},
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,
            redirect=False,
            preload_content=False,
        )

    def _pool_for(self, url: str) -> urllib3.PoolManager:
        origin = _origin(url)
        with self._lock:
            if origin not in self._proxies:
                proxies = get_environ_proxies(origin)
                scheme = urlsplit(url).scheme
                self._proxies[origin] = proxies.get(scheme) or proxies.get("all", "")
            proxy = self._proxies[origin]
            if proxy not in self._pools:
                self._pools[proxy] = self._new_pool(proxy)
            return self._pools[proxy]

    def _new_pool(self, proxy: str) -> urllib3.PoolManager:
        if proxy:
            return urllib3.ProxyManager(
                proxy,
                num_pools=64,
                maxsize=self._connections,
                ca_certs=self._ca_bundle,
                cert_reqs="CERT_REQUIRED",
            )
        return urllib3.PoolManager(
            num_pools=64,
            maxsize=self._connections,
            ca_certs=self._ca_bundle,
            cert_reqs="CERT_REQUIRED",
        )


def new_client(connections: int = 10, max_redirects: int = 10) -> Client:
    """A client for review requests (see ``Client``)."""
    return Client(connections, max_redirects)


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
    with new_client(1, max_redirects) as client:
        return fetch_all([Request(url, headers)], client, timeout=timeout)[0]


def fetch_all(
    requests_: Sequence[Request],
    client: Client,
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
    answers: list[Fetched | None] = [None] * len(requests_)
    slots = threading.BoundedSemaphore(limit)

    def work(index: int, request: Request) -> None:
        with slots:
            answers[index] = _follow(request, client, timeout)

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


def _follow(request: Request, client: Client, timeout: float) -> Fetched:
    """GET the URL and every redirect after it, keeping each hop."""
    deadline = time.monotonic() + timeout
    hops: list[Hop] = []
    url = request.url
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            response = client.get(url, request.headers or {}, left)
            hops.append(_hop(url, response))
            location = response.headers.get("location", "")
            if response.status not in REDIRECTS or not location:
                body = _read_body(response, deadline)
                return Fetched(request.url, hops=hops, body=_decode(body, response))
            response.drain_conn()
            if len(hops) > client.max_redirects:
                return _failed(
                    request,
                    hops,
                    f"more than {client.max_redirects} redirects (a loop?)",
                )
            url = _next_url(url, location)
    except urllib3.exceptions.NewConnectionError as exc:
        # urllib3 files a refused or unresolvable connection under timeouts.
        reason = str(exc).rpartition("new connection: ")[2][:200]
        return _failed(request, hops, f"connection failed: {reason}")
    except (TimeoutError, TransportTimeout):
        return _failed(request, hops, f"no answer within {timeout:g} s")
    except _SlowBody:
        return _failed(request, hops, f"the body took longer than {timeout:g} s")
    except _BadRedirect as exc:
        return _failed(request, hops, str(exc))
    except (HTTPError, OSError, ValueError) as exc:
        return _failed(request, hops, f"{_error_name(exc)}: {_short(exc)}")


def _next_url(url: str, location: str) -> str:
    """Where a redirect points, as a browser resolves it."""
    try:
        target = urljoin(url, location.strip())
        usable = urlsplit(target).scheme in ("http", "https")
        urllib3.util.parse_url(target)
    except (ValueError, LocationParseError):
        usable = False
    if not usable:
        raise _BadRedirect(f"a redirect to {location!r} cannot be followed")
    return target


class _BadRedirect(Exception):
    """A Location that is not an http(s) URL."""


def _failed(request: Request, hops: list[Hop], error: str) -> Fetched:
    return Fetched(request.url, hops=hops, error=error)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _environment_ca_bundle() -> str:
    """The CA bundle requests would use: from the environment, else certifi's."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return bundle or DEFAULT_CA_BUNDLE_PATH


def _read_body(response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
    """Read at most ``MAX_BODY_BYTES``, giving up at ``deadline``."""
    chunks, size = [], 0
    for chunk in response.stream(65536, decode_content=True):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY_BYTES:
            response.close()
            break
        if time.monotonic() > deadline:
            response.close()
            raise _SlowBody
    response.release_conn()
    return b"".join(chunks)[:MAX_BODY_BYTES]


class _SlowBody(Exception):
    """The headers came in time but the body did not."""


def _decode(body: bytes, response: urllib3.BaseHTTPResponse) -> str:
    kind = response.headers.get("content-type", "")
    charset = ""
    for part in kind.split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'")
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _hop(url: str, response: urllib3.BaseHTTPResponse) -> Hop:
    raw = response.headers
    names = {name.lower() for name in raw}
    return Hop(
        url=url,
        status=response.status,
        headers={name: list(raw.getlist(name)) for name in sorted(names)},
    )


def _error_name(exc: BaseException) -> str:
    """A reader's name for what failed: the connection, TLS or the answer."""
    text = type(exc).__name__
    if isinstance(exc, urllib3.exceptions.SSLError):
        return "TLS error"
    if isinstance(exc, urllib3.exceptions.NewConnectionError | ConnectionError):
        return "connection failed"
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return "not a valid HTTP answer"
    return text


def _short(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= 200 else text[:200] + "…"
