"""Response headers of a site, judged: the redirect chain, HSTS, MIME
sniffing, clickjacking, Referrer-Policy, Permissions-Policy, version
disclosure, and the CSP and cookies the final response carries."""

from __future__ import annotations

import re

from opskit.records import Finding, Severity
from opskit.security import cookies, csp
from opskit.security.findings import new_finding
from opskit.security.http import Fetched, Hop

CHECK = "headers"
REFERENCE = "https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers"
YEAR_SECONDS = 31_536_000
_UNSAFE_REFERRER = {"unsafe-url", "no-referrer-when-downgrade"}
_VERSION = re.compile(r"\d+\.\d+")


def review(fetched: Fetched) -> list[Finding]:
    """All header findings for one fetched URL."""
    if fetched.error:
        chain = " -> ".join(f"{h.status} {h.url}" for h in fetched.hops)
        return [
            _finding(
                "fetch-failed",
                Severity.HIGH,
                "the site could not be reviewed",
                fetched.error + (f" (after {chain})" if chain else ""),
                "check the URL and that the site answers",
                fetched.url,
            )
        ]

    final = fetched.final
    findings = _redirects(fetched) + _hsts(final) + _basics(final)
    html = "html" in final.first("content-type").lower()
    findings += csp.evaluate(
        final.values("content-security-policy"),
        final.values("content-security-policy-report-only"),
        csp.meta_policies(fetched.body) if html else [],
        location=final.url,
    )
    findings += cookies.review(final.values("set-cookie"), final.url)
    return findings


def _redirects(fetched: Fetched) -> list[Finding]:
    chain = " -> ".join(f"{h.status} {h.url}" for h in fetched.hops)
    findings = []
    if fetched.url.startswith("http://") and fetched.final.url.startswith("http://"):
        findings.append(
            _finding(
                "http-no-redirect",
                Severity.HIGH,
                "plain http is served without a redirect to https",
                chain,
                "redirect every http request to https",
                fetched.url,
            )
        )
    elif len(fetched.hops) > 1:
        findings.append(
            _finding(
                "redirect-chain",
                Severity.INFO,
                f"{len(fetched.hops) - 1} redirect(s)",
                chain,
                "",
                fetched.url,
            )
        )
    return findings


def _hsts(final: Hop) -> list[Finding]:
    value = final.first("strict-transport-security")
    if not final.url.startswith("https://"):
        if value:
            return [
                _finding(
                    "hsts-over-http",
                    Severity.INFO,
                    "HSTS sent over http is ignored by browsers",
                    value,
                    "",
                    final.url,
                )
            ]
        return []
    if not value:
        return [
            _finding(
                "hsts-missing",
                Severity.HIGH,
                "no Strict-Transport-Security",
                "",
                "send max-age=31536000; includeSubDomains",
                final.url,
            )
        ]

    parts = {p.strip().split("=")[0].lower(): p.strip() for p in value.split(";")}
    findings = []
    age = re.search(r"max-age\s*=\s*\"?(\d+)", value, re.I)
    if not age or int(age.group(1)) < YEAR_SECONDS:
        findings.append(
            _finding(
                "hsts-short",
                Severity.MEDIUM,
                "HSTS max-age under a year",
                value,
                "use max-age=31536000 or more",
                final.url,
            )
        )
    if "includesubdomains" not in parts:
        findings.append(
            _finding(
                "hsts-no-subdomains",
                Severity.LOW,
                "HSTS does not include subdomains",
                value,
                "add includeSubDomains",
                final.url,
            )
        )
    if "preload" not in parts:
        findings.append(
            _finding(
                "hsts-no-preload",
                Severity.INFO,
                "HSTS is not preload-ready",
                value,
                "add preload once every subdomain serves https",
                final.url,
            )
        )
    return findings


def _basics(final: Hop) -> list[Finding]:
    url, findings = final.url, []
    if final.first("x-content-type-options").lower().strip() != "nosniff":
        findings.append(
            _finding(
                "xcto-missing",
                Severity.LOW,
                "MIME sniffing is allowed",
                final.first("x-content-type-options"),
                "send X-Content-Type-Options: nosniff",
                url,
            )
        )
    framing = final.first("x-frame-options").upper().strip()
    ancestors = any(
        "frame-ancestors" in v.lower() for v in final.values("content-security-policy")
    )
    if framing not in ("DENY", "SAMEORIGIN") and not ancestors:
        findings.append(
            _finding(
                "clickjacking",
                Severity.MEDIUM,
                "the page can be framed by any site",
                framing,
                "send frame-ancestors 'self' (or X-Frame-Options: DENY)",
                url,
            )
        )
    referrer = final.first("referrer-policy").lower().split(",")[-1].strip()
    if not referrer or referrer in _UNSAFE_REFERRER:
        findings.append(
            _finding(
                "referrer-policy",
                Severity.LOW,
                "full URLs may leak in the Referer header",
                referrer,
                "send Referrer-Policy: strict-origin-when-cross-origin",
                url,
            )
        )
    if not final.first("permissions-policy"):
        findings.append(
            _finding(
                "permissions-policy-missing",
                Severity.INFO,
                "no Permissions-Policy",
                "",
                "switch off features the site does not use, e.g. camera=()",
                url,
            )
        )
    for name in ("server", "x-powered-by", "x-aspnet-version"):
        value = final.first(name)
        if _VERSION.search(value):
            findings.append(
                _finding(
                    "version-disclosure",
                    Severity.LOW,
                    f"{name} reveals a version",
                    f"{name}: {value}",
                    "remove the version from the header",
                    url,
                )
            )
    return findings


def _finding(
    rule: str, severity: Severity, title: str, evidence: str, advice: str, location: str
) -> Finding:
    return new_finding(
        CHECK,
        rule,
        severity,
        title,
        evidence=evidence,
        advice=advice,
        location=location,
        reference=REFERENCE,
    )
