"""CORS probes: ask as a foreign origin and as ``null`` and see what the site
allows. Reflecting any origin with credentials lets every site read a
signed-in user's data."""

from __future__ import annotations

from opskit.records import Finding, Severity
from opskit.security.findings import new_finding
from opskit.security.http import Fetched, Request, fetch_all, new_client

CHECK = "cors"
FOREIGN = "https://attacker.example"
ORIGINS = (FOREIGN, "null")


def probe(url: str, timeout: float = 10.0) -> list[Finding]:
    """Findings from two requests to ``url``: foreign Origin and ``null``."""
    asks = [Request(url, {"Origin": origin}) for origin in ORIGINS]
    with new_client(len(asks)) as client:
        answers = fetch_all(asks, client, timeout=timeout)
    return [
        f
        for origin, fetched in zip(ORIGINS, answers, strict=True)
        for f in judge(origin, fetched, url)
    ]


def judge(origin: str, fetched: Fetched, url: str) -> list[Finding]:
    """Findings from one response to a request sent with ``Origin: origin``."""
    if fetched.error:
        return []  # the header review reports an unreachable site once
    final = fetched.final
    allowed = final.first("access-control-allow-origin").strip()
    credentials = final.first("access-control-allow-credentials").lower() == "true"
    return _judge(origin, allowed, credentials, url)


def _judge(origin: str, allowed: str, credentials: bool, url: str) -> list[Finding]:
    evidence = f"Origin: {origin} -> Access-Control-Allow-Origin: {allowed}" + (
        ", Allow-Credentials: true" if credentials else ""
    )
    if allowed == origin and credentials:
        foreign = origin == FOREIGN
        rule = "cors-any-origin-with-credentials" if foreign else "cors-null-origin"
        who = "any site" if foreign else "any sandboxed page (Origin: null)"
        title = f"{who} can read responses with the user's cookies"
        severity = Severity.CRITICAL if foreign else Severity.HIGH
        return [_finding(rule, severity, title, evidence, url)]
    if allowed == origin:
        return [
            _finding(
                "cors-reflects-origin",
                Severity.MEDIUM,
                "the site echoes any Origin back",
                evidence,
                url,
            )
        ]
    if allowed == "*":
        return [
            _finding(
                "cors-wildcard",
                Severity.LOW,
                "any site may read responses (without cookies)",
                evidence,
                url,
            )
        ]
    return []


def _finding(
    rule: str, severity: Severity, title: str, evidence: str, url: str
) -> Finding:
    return new_finding(
        CHECK,
        rule,
        severity,
        title,
        evidence=evidence,
        location=url,
        advice="allow only the origins that need access, from a fixed list",
        reference="https://developer.mozilla.org/en-US/docs/Web/HTTP/CORS",
    )
