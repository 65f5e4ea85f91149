"""Fetching for the review: many requests at once, the environment's proxy
settings, answers kept in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from opskit.security.http import Request, fetch, fetch_all, new_client
from tests.security.conftest import Route, Site

PROXY_REPLY = (
    b"HTTP/1.1 200 OK\r\nX-Answered-By: proxy\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n"
)


def test_answers_come_back_in_order_and_a_silent_server_costs_one_timeout(
    site: Site, raw_server: Callable[[bytes | None], str]
) -> None:
    site.routes["/a"] = Route(headers=[("X-Name", "a")])
    site.routes["/b"] = Route(headers=[("X-Name", "b")])
    silent = raw_server(None)
    asks = [Request(site.url("/a")), Request(silent), Request(site.url("/b"))]

    started = time.monotonic()
    with new_client(3) as client:
        answers = fetch_all(asks, client, timeout=1)

    assert time.monotonic() - started < 3
    assert [a.url for a in answers] == [r.url for r in asks]
    assert answers[0].final.first("x-name") == "a"
    assert answers[2].final.first("x-name") == "b"
    assert "within 1 s" in answers[1].error


def test_a_limit_below_the_request_count_still_answers_every_request(
    site: Site,
) -> None:
    site.routes["/"] = Route(headers=[("X-Name", "root")])
    asks = [Request(site.url("/"), {"X-Ask": str(n)}) for n in range(7)]

    with new_client(2) as client:
        answers = fetch_all(asks, client, timeout=5, limit=2)

    assert [a.error for a in answers] == [""] * 7
    assert {a.final.first("x-name") for a in answers} == {"root"}


def test_the_proxy_named_in_the_environment_is_used(
    monkeypatch: pytest.MonkeyPatch, raw_server: Callable[[bytes | None], str]
) -> None:
    proxy = raw_server(PROXY_REPLY)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    fetched = fetch("http://shop.invalid/", timeout=5)

    assert fetched.error == ""
    assert fetched.final.first("x-answered-by") == "proxy"


def test_hosts_in_no_proxy_are_fetched_directly(
    monkeypatch: pytest.MonkeyPatch,
    site: Site,
    raw_server: Callable[[bytes | None], str],
) -> None:
    site.routes["/"] = Route(headers=[("X-Name", "direct")])
    monkeypatch.setenv("HTTP_PROXY", raw_server(PROXY_REPLY))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    fetched = fetch(site.url("/"), timeout=5)

    assert fetched.final.first("x-name") == "direct"
    assert fetched.final.first("x-answered-by") == ""


def test_each_host_on_a_redirect_chain_gets_its_own_proxy_choice(
    monkeypatch: pytest.MonkeyPatch,
    site: Site,
    raw_server: Callable[[bytes | None], str],
) -> None:
    site.routes["/"] = Route(status=302, headers=[("Location", "http://shop.invalid/")])
    monkeypatch.setenv("HTTP_PROXY", raw_server(PROXY_REPLY))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    fetched = fetch(site.url("/"), timeout=5)

    assert [h.status for h in fetched.hops] == [302, 200]
    assert fetched.hops[0].first("x-answered-by") == ""
    assert fetched.final.url == "http://shop.invalid/"
    assert fetched.final.first("x-answered-by") == "proxy"


def test_fetching_works_inside_a_running_event_loop(site: Site) -> None:
    """As in a notebook, whose kernel runs its own loop."""
    site.routes["/"] = Route(headers=[("X-Name", "in-loop")])

    async def from_a_cell() -> str:
        return fetch(site.url("/"), timeout=5).final.first("x-name")

    assert asyncio.run(from_a_cell()) == "in-loop"
