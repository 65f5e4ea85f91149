"""Header, cookie and CORS review against a real HTTP server on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from opskit.records import Severity
from opskit.security import cors, headers
from opskit.security.http import Hop, fetch
from tests.security.conftest import Route, Site

GOOD = [
    ("Content-Type", "text/html"),
    (
        "Content-Security-Policy",
        "default-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", "camera=()"),
]


def review(site: Site, path: str = "/") -> dict[str, str]:
    found = headers.review(fetch(site.url(path), timeout=5))
    return {f.id: f.evidence for f in found}


def test_a_well_configured_page_over_http_only_misses_https(site: Site) -> None:
    site.routes["/"] = Route(headers=GOOD)

    assert set(review(site)) == {"http-no-redirect"}


def test_a_bare_page_earns_the_usual_findings(site: Site) -> None:
    site.routes["/"] = Route(
        headers=[
            ("Content-Type", "text/html"),
            ("Server", "nginx/1.18.0"),
            ("X-Powered-By", "PHP/8.1.2"),
        ]
    )

    found = review(site)

    assert set(found) == {
        "http-no-redirect",
        "csp-missing",
        "xcto-missing",
        "clickjacking",
        "referrer-policy",
        "permissions-policy-missing",
        "version-disclosure",
    }


def test_each_redirect_hop_is_reported(site: Site) -> None:
    site.routes["/old"] = Route(status=301, headers=[("Location", "/mid")])
    site.routes["/mid"] = Route(status=302, headers=[("Location", "/new")])
    site.routes["/new"] = Route(headers=GOOD)

    evidence = review(site, "/old")["http-no-redirect"]

    assert evidence.count("->") == 2
    assert evidence.startswith("301 ") and "302 " in evidence and "200 " in evidence


def test_x_frame_options_or_frame_ancestors_prevent_clickjacking(site: Site) -> None:
    no_ancestors = [(k, v.replace("; frame-ancestors 'none'", "")) for k, v in GOOD]
    site.routes["/xfo"] = Route(headers=[*no_ancestors, ("X-Frame-Options", "DENY")])
    site.routes["/none"] = Route(headers=no_ancestors)

    assert "clickjacking" not in review(site, "/xfo")
    assert "clickjacking" in review(site, "/none")


def test_a_meta_policy_in_the_page_is_noted(site: Site) -> None:
    body = (
        "<html><head><meta http-equiv='Content-Security-Policy' "
        "content=\"default-src 'self'\"></head></html>"
    )
    site.routes["/"] = Route(headers=[("Content-Type", "text/html")], body=body)

    found = review(site)

    assert "csp-meta" in found and "csp-missing" not in found


def test_hsts_over_plain_http_is_ignored(site: Site) -> None:
    site.routes["/"] = Route(
        headers=[*GOOD, ("Strict-Transport-Security", "max-age=60")]
    )

    assert "hsts-over-http" in review(site)
    assert "hsts-short" not in review(site)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", {"hsts-missing"}),
        ("max-age=60", {"hsts-short", "hsts-no-subdomains", "hsts-no-preload"}),
        ("max-age=31536000; includeSubDomains", {"hsts-no-preload"}),
        ("max-age=63072000; includeSubDomains; preload", set()),
    ],
)
def test_hsts_is_judged_on_https_responses(value: str, expected: set[str]) -> None:
    hop = Hop(
        url="https://shop.example/",
        status=200,
        headers={k.lower(): [v] for k, v in GOOD}
        | ({"strict-transport-security": [value]} if value else {}),
    )

    found = {f.id for f in headers._hsts(hop)}

    assert found == expected


def test_cookies_are_judged_and_their_values_masked(site: Site) -> None:
    site.routes["/"] = Route(
        headers=[
            *GOOD,
            ("Set-Cookie", "sessionid=abcdef123456; Path=/"),
            ("Set-Cookie", "theme=dark; Secure; SameSite=Lax"),
            (
                "Set-Cookie",
                "__Host-token=xyz; Secure; Path=/app; HttpOnly; SameSite=Strict",
            ),
            ("Set-Cookie", "__Secure-pref=1; SameSite=None"),
        ]
    )

    found = headers.review(fetch(site.url("/"), timeout=5))

    by_rule = {(f.id, f.title.split(":")[0]) for f in found if f.check == "cookies"}
    assert by_rule == {
        ("cookie-not-secure", "cookie sessionid"),
        ("cookie-not-httponly", "cookie sessionid"),
        ("cookie-no-samesite", "cookie sessionid"),
        ("cookie-host-prefix", "cookie __Host-token"),
        ("cookie-not-secure", "cookie __Secure-pref"),
        ("cookie-samesite-none-insecure", "cookie __Secure-pref"),
        ("cookie-secure-prefix", "cookie __Secure-pref"),
    }
    evidence = " ".join(f.evidence for f in found)
    assert "abcdef123456" not in evidence and "sessionid=abc*********" in evidence


@pytest.mark.parametrize(
    ("reflect", "credentials", "expected"),
    [
        (
            True,
            True,
            {
                ("cors-any-origin-with-credentials", Severity.CRITICAL),
                ("cors-null-origin", Severity.HIGH),
            },
        ),
        (True, False, {("cors-reflects-origin", Severity.MEDIUM)}),
        (False, False, set()),
    ],
)
def test_cors_probes_with_a_foreign_and_a_null_origin(
    site: Site, reflect: bool, credentials: bool, expected: set[tuple[str, Severity]]
) -> None:
    site.routes["/api"] = Route(cors_reflect=reflect, cors_credentials=credentials)

    found = {(f.id, f.severity) for f in cors.probe(site.url("/api"), timeout=5)}

    assert found == expected


def test_a_redirect_loop_is_a_finding(site: Site) -> None:
    site.routes["/a"] = Route(status=302, headers=[("Location", "/b")])
    site.routes["/b"] = Route(status=302, headers=[("Location", "/a")])

    assert "redirects (a loop?)" in review(site, "/a")["fetch-failed"]


def test_a_redirect_that_cannot_be_followed_keeps_the_hops_before_it(
    site: Site,
) -> None:
    site.routes["/old"] = Route(status=301, headers=[("Location", "/new")])
    site.routes["/new"] = Route(status=302, headers=[("Location", "ftp://files/x")])

    evidence = review(site, "/old")["fetch-failed"]

    assert "a redirect to 'ftp://files/x' cannot be followed" in evidence
    assert f"301 {site.url('/old')} -> 302 {site.url('/new')}" in evidence


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (None, "no answer within 1 s"),
        (b"\x00\xff\x13garbage that is not http\r\n\r\n", "not a valid HTTP answer"),
        (
            b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
            "not a valid HTTP answer",
        ),
    ],
)
def test_hostile_servers_give_a_finding_within_the_timeout(
    raw_server: Callable[[bytes | None], str], reply: bytes | None, message: str
) -> None:
    url = raw_server(reply)
    started = time.monotonic()

    fetched = fetch(url, timeout=1)
    found = headers.review(fetched)

    assert time.monotonic() - started < 5
    assert [f.id for f in found] == ["fetch-failed"]
    assert message in found[0].evidence
