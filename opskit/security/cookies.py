"""Cookies set by a response: Secure, HttpOnly on session-like cookies,
SameSite, and the rules of the ``__Host-`` and ``__Secure-`` prefixes."""

from __future__ import annotations

import re

from opskit.records import Finding, Severity
from opskit.security.findings import masked

CHECK = "cookies"
_SESSION = re.compile(r"sess|sid|auth|token|jwt|login|remember", re.I)


def review(set_cookies: list[str], url: str) -> list[Finding]:
    """Findings for every Set-Cookie value of a response from ``url``."""
    https = url.startswith("https://")
    return [f for value in set_cookies for f in _cookie(value, https, url)]


def _cookie(value: str, https: bool, url: str) -> list[Finding]:
    name = value.split("=", 1)[0].strip()
    attrs = {
        p.split("=", 1)[0].strip().lower(): p.split("=", 1)[-1].strip()
        for p in value.split(";")[1:]
        if p.strip()
    }
    findings = []

    def add(rule: str, severity: Severity, title: str, advice: str) -> None:
        findings.append(
            Finding(
                id=rule,
                check=CHECK,
                severity=severity,
                title=f"cookie {name}: {title}",
                evidence=_masked(value),
                advice=advice,
                location=url,
                reference="https://developer.mozilla.org/en-US/docs/Web/HTTP/Cookies",
            )
        )

    session_like = bool(_SESSION.search(name))
    if "secure" not in attrs:
        add(
            "cookie-not-secure",
            Severity.MEDIUM if https else Severity.LOW,
            "sent without Secure",
            "add Secure",
        )
    if session_like and "httponly" not in attrs:
        add(
            "cookie-not-httponly",
            Severity.MEDIUM,
            "session-like but readable by scripts",
            "add HttpOnly",
        )
    samesite = attrs.get("samesite", "").lower()
    if not samesite:
        add("cookie-no-samesite", Severity.LOW, "no SameSite", "add SameSite=Lax")
    elif samesite == "none" and "secure" not in attrs:
        add(
            "cookie-samesite-none-insecure",
            Severity.MEDIUM,
            "SameSite=None without Secure is rejected by browsers",
            "add Secure",
        )
    if name.startswith("__Host-") and (
        "secure" not in attrs or "domain" in attrs or attrs.get("path") != "/"
    ):
        add(
            "cookie-host-prefix",
            Severity.MEDIUM,
            "breaks the __Host- prefix rules "
            "(Secure, Path=/, no Domain); browsers drop it",
            "fix the attributes",
        )
    if name.startswith("__Secure-") and "secure" not in attrs:
        add(
            "cookie-secure-prefix",
            Severity.MEDIUM,
            "breaks the __Secure- prefix rule (Secure); browsers drop it",
            "add Secure",
        )
    return findings


def _masked(value: str) -> str:
    """The cookie with its value masked, never shown whole."""
    name, _, rest = value.partition("=")
    secret, _, attrs = rest.partition(";")
    return f"{name}={masked(secret) if secret else ''}" + (f";{attrs}" if attrs else "")
