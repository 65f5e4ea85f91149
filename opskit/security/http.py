"""Fetching a URL for review: every redirect hop with its headers, and the
final body's start, with failures turned into values the review reports.

Requests go through aiohttp on one event loop in a thread of its own, with
proxies and the CA bundle read from the environment as requests reads them. A
review makes three requests per URL at once; with one thread per request (as
through requests or urllib3) the interpreter lock made the start of 600
requests take a third of a second on two cores, which was most of a 200-URL
review's fixed cost; see benchmarks/README.md.
"""

from __future__ import annotations

import asyncio
import math
import os
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import aiohttp
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_environ_proxies
from yarl import URL

from opskit.errors import ParameterError
from opskit.masking import mask_text

MAX_BODY_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 65536
"""The longest header line accepted, as Python's own HTTP client allows."""
MAX_HEADERS = 1000
USER_AGENT = "opskit-security-review"
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
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
    A fetch that failed after a redirect keeps the hops before the failure.
    URLs here have any password in them masked; requests use them whole."""

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
    """Settings for one review's requests: how many at once, how many
    redirects, and the environment's proxy for each origin, read once. No
    cookies and no netrc credentials are ever sent, so one response never
    changes the next request. A context manager, as connection pools are."""

    def __init__(self, connections: int = 10, max_redirects: int = 10) -> None:
        self.connections = max(1, connections)
        self.max_redirects = max_redirects
        self.ca_bundle = _environment_ca_bundle()
        self._proxies: dict[str, str] = {}
        self._trusted: ssl.SSLContext | None = None
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
        """Forget the proxies read; each fetch closes its own connections."""
        with self._lock:
            self._proxies.clear()

    def tls_for(self, url: str) -> ssl.SSLContext | bool:
        """The CAs an https URL is checked against, loaded on first use (a
        review of http URLs never reads them); ``True`` for other URLs."""
        if not url.lower().startswith("https:"):
            return True
        with self._lock:
            if self._trusted is None:
                self._trusted = _trusted_context(self.ca_bundle)
            return self._trusted

    def proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for ``url``'s origin, if any."""
        origin = _origin(url)
        with self._lock:
            if origin not in self._proxies:
                proxies = get_environ_proxies(origin)
                scheme = urlsplit(url).scheme
                self._proxies[origin] = proxies.get(scheme) or proxies.get("all", "")
            return self._proxies[origin] or None


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
    ``timeout`` seconds from when it may start, and return the answers in
    order.

    The requests run on an event loop in a daemon thread of its own, so this
    works inside a notebook's running loop, and a server that trickles its
    headers or body cannot hold the review, or the process's exit, past the
    timeout.
    """
    answers: list[Fetched | None] = [None] * len(requests_)
    in_flight = max(1, min(limit, client.connections))
    broke: list[BaseException] = []

    def work() -> None:
        try:
            asyncio.run(_fetch_every(requests_, client, timeout, in_flight, answers))
        except Exception as exc:  # re-raised below, in the caller's thread
            broke.append(exc)

    loop = threading.Thread(target=work, name="opskit-review-fetch", daemon=True)
    loop.start()
    waves = math.ceil(len(requests_) / in_flight)
    loop.join(waves * (timeout + 1) + 5)
    if broke:
        raise broke[0]

    return [
        answer
        or Fetched(mask_text(r.url), error=f"no complete answer within {timeout:g} s")
        for r, answer in zip(requests_, answers, strict=True)
    ]


async def _fetch_every(
    requests_: Sequence[Request],
    client: Client,
    timeout: float,
    in_flight: int,
    answers: list[Fetched | None],
) -> None:
    slots = asyncio.Semaphore(in_flight)
    connector = aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True)
    session = aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        max_line_size=MAX_HEADER_BYTES,
        max_field_size=MAX_HEADER_BYTES,
        max_headers=MAX_HEADERS,
    )

    async def one(index: int, request: Request) -> None:
        async with slots:
            answers[index] = await _follow(session, request, client, timeout)

    async with session:
        await asyncio.gather(*(one(i, r) for i, r in enumerate(requests_)))


async def _follow(
    session: aiohttp.ClientSession, request: Request, client: Client, timeout: float
) -> Fetched:
    """GET the URL and every redirect after it, keeping each hop."""
    hops: list[Hop] = []
    reading = [False]  # the final answer's headers came; its body is on the way
    try:
        async with asyncio.timeout(timeout):
            return await _hops(session, request, client, hops, reading)
    except TimeoutError:
        if reading[0]:
            return _failed(request, hops, f"the body took longer than {timeout:g} s")
        return _failed(request, hops, f"no answer within {timeout:g} s")
    except _BadRedirect as exc:
        return _failed(request, hops, str(exc))
    except aiohttp.ClientSSLError as exc:
        return _failed(request, hops, f"TLS error: {_short(exc)}")
    except aiohttp.ClientConnectorError as exc:  # a proxy that fails is one too
        return _failed(request, hops, f"connection failed: {_short(exc.os_error)}")
    except aiohttp.ClientResponseError as exc:
        # aiohttp files a reply it cannot parse as a 400 of its own making.
        return _failed(request, hops, f"not a valid HTTP answer: {_short(exc.message)}")
    except aiohttp.ClientPayloadError as exc:
        return _failed(request, hops, f"not a valid HTTP answer: {_short(exc)}")
    except aiohttp.ServerDisconnectedError:
        return _failed(request, hops, "not a valid HTTP answer: the server hung up")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return _failed(request, hops, f"{type(exc).__name__}: {_short(exc)}")


async def _hops(
    session: aiohttp.ClientSession,
    request: Request,
    client: Client,
    hops: list[Hop],
    reading: list[bool],
) -> Fetched:
    url = request.url
    headers = {**_DEFAULT_HEADERS, **(request.headers or {})}
    while True:
        async with session.get(
            url,
            headers=headers,
            allow_redirects=False,
            proxy=client.proxy_for(url),
            ssl=client.tls_for(url),
        ) as response:
            hops.append(_hop(url, response))
            location = response.headers.get("Location", "")
            if response.status not in REDIRECTS or not location:
                reading[0] = True
                body = await _read_body(response)
                return Fetched(
                    mask_text(request.url), hops=hops, body=_decode(body, response)
                )
        if len(hops) > client.max_redirects:
            return _failed(
                request, hops, f"more than {client.max_redirects} redirects (a loop?)"
            )
        url = _next_url(url, location)


def _next_url(url: str, location: str) -> str:
    """Where a redirect points, as a browser resolves it."""
    try:
        target = urljoin(url, location.strip())
        parts = urlsplit(target)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        URL(target)
    except ValueError:
        usable = False
    if not usable:
        raise _BadRedirect(f"a redirect to {location!r} cannot be followed")
    return target


class _BadRedirect(Exception):
    """A Location that is not an http(s) URL."""


def _failed(request: Request, hops: list[Hop], error: str) -> Fetched:
    return Fetched(mask_text(request.url), hops=hops, error=error)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _trusted_context(bundle: str) -> ssl.SSLContext:
    """A TLS context trusting ``bundle`` (a file of certificates, or a folder
    of them as OpenSSL's c_rehash leaves it); a bundle that cannot be read is
    a ``ParameterError`` naming the variable that chose it."""
    chosen = next(
        (f"${name}" for name in CA_VARIABLES if os.environ.get(name) == bundle),
        "the default CA bundle",
    )
    try:
        if Path(bundle).is_dir():
            return ssl.create_default_context(capath=bundle)
        return ssl.create_default_context(cafile=bundle)
    except (OSError, ssl.SSLError) as exc:
        raise ParameterError(
            f"{chosen}: {bundle} cannot be read as CA certificates ({exc}); point "
            "it at a PEM file or a folder of them, or unset it"
        ) from exc


def _environment_ca_bundle() -> str:
    """The CA bundle requests would use: from the environment, else certifi's."""
    bundle = next((os.environ[n] for n in CA_VARIABLES if os.environ.get(n)), "")
    return bundle or DEFAULT_CA_BUNDLE_PATH


async def _read_body(response: aiohttp.ClientResponse) -> bytes:
    """Read at most ``MAX_BODY_BYTES`` of the (decompressed) body."""
    chunks, size = [], 0
    while size < MAX_BODY_BYTES:
        chunk = await response.content.read(MAX_BODY_BYTES - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _decode(body: bytes, response: aiohttp.ClientResponse) -> str:
    kind = response.headers.get("Content-Type", "")
    charset = ""
    for part in kind.split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'")
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _hop(url: str, response: aiohttp.ClientResponse) -> Hop:
    raw = response.headers
    names = {name.lower() for name in raw}
    return Hop(
        url=mask_text(url),
        status=response.status,
        headers={name: list(raw.getall(name)) for name in sorted(names)},
    )


def _short(exc: object) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= 200 else text[:200] + "…"
