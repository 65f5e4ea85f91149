"""Content Security Policy, parsed as browsers parse it and judged.

Parsing follows CSP Level 3: a header value holds one or more policies
separated by commas; directives are separated by semicolons; directive names
are case-insensitive; a repeated directive is ignored after its first. When
several policies are enforced, a resource must pass all of them, so a weakness
is reported only when every enforced policy has it. Report-only policies are
judged apart, at severity info; a policy in a ``<meta>`` tag is enforced but
cannot set ``frame-ancestors``, ``report-uri`` or ``sandbox``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from opskit.records import Finding, Severity
from opskit.security.findings import new_finding

CHECK = "csp"
REFERENCE = "https://www.w3.org/TR/CSP3/"
_NAME = re.compile(r"^[a-z0-9-]+$")
_SCHEMES = {"http:", "https:", "data:", "blob:", "filesystem:", "ws:", "wss:"}
_KNOWN = {
    "default-src",
    "script-src",
    "script-src-elem",
    "script-src-attr",
    "style-src",
    "style-src-elem",
    "style-src-attr",
    "img-src",
    "font-src",
    "connect-src",
    "media-src",
    "object-src",
    "frame-src",
    "child-src",
    "worker-src",
    "manifest-src",
    "prefetch-src",
    "base-uri",
    "form-action",
    "frame-ancestors",
    "sandbox",
    "report-uri",
    "report-to",
    "upgrade-insecure-requests",
    "block-all-mixed-content",
    "require-trusted-types-for",
    "trusted-types",
    "plugin-types",
    "navigate-to",
    "webrtc",
}
_META_IGNORED = ("frame-ancestors", "report-uri", "sandbox")


@dataclass(frozen=True)
class Policy:
    """One parsed policy: directive name to source tokens, in order."""

    directives: dict[str, tuple[str, ...]]
    duplicates: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    text: str = ""

    def sources(self, name: str) -> tuple[str, ...] | None:
        """The tokens of ``name``, or ``None`` when the policy lacks it."""
        return self.directives.get(name)

    def script_sources(self) -> tuple[str, ...] | None:
        """What governs scripts: script-src, else default-src."""
        return self.directives.get("script-src", self.directives.get("default-src"))


@dataclass
class _Rule:
    id: str
    severity: Severity
    title: str
    advice: str
    weak: Callable[[Policy], str]  # evidence when weak, "" when not
    evidences: list[str] = field(default_factory=list)


def parse_policies(value: str) -> list[Policy]:
    """Parse one header value, which may hold several comma-separated policies."""
    return [parse_policy(text) for text in value.split(",") if text.strip()]


def parse_policy(text: str) -> Policy:
    """Parse one serialized policy."""
    directives: dict[str, tuple[str, ...]] = {}
    duplicates, unknown = [], []
    for part in text.split(";"):
        tokens = part.split()
        if not tokens:
            continue
        name = tokens[0].lower()
        if not _NAME.match(name):
            continue
        if name in directives:
            duplicates.append(name)
            continue
        if name not in _KNOWN:
            unknown.append(name)
        directives[name] = tuple(tokens[1:])
    return Policy(directives, tuple(duplicates), tuple(unknown), text.strip())


def meta_policies(html: str) -> list[str]:
    """The policies set by ``<meta http-equiv="Content-Security-Policy">`` tags."""
    finder = _MetaFinder()
    finder.feed(html)
    return finder.policies


def evaluate(
    enforced: Iterable[str],
    report_only: Iterable[str] = (),
    meta: Iterable[str] = (),
    location: str = "",
) -> list[Finding]:
    """Judge a response's policies: header values, report-only header values
    and ``<meta>`` policies. Returns findings; no policy at all is one."""
    policies = [p for value in enforced for p in parse_policies(value)]
    meta_list = [_without_meta_ignored(parse_policy(text)) for text in meta]
    findings = [_meta_note(text, location) for text in meta]
    findings += _judge(policies + meta_list, location, Severity.HIGH)

    reports = [p for value in report_only for p in parse_policies(value)]
    if reports:
        findings.append(
            _finding(
                "csp-report-only",
                Severity.INFO,
                "a report-only policy is present; it blocks nothing",
                "; ".join(p.text for p in reports),
                "enforce it once its reports are clean",
                location,
                check="csp-report-only",
            )
        )
        for item in _judge(reports, location, Severity.INFO):
            if item.id != "csp-missing":
                findings.append(
                    item.model_copy(
                        update={
                            "severity": Severity.INFO,
                            "check": "csp-report-only",
                            "title": "report-only: " + item.title,
                        }
                    )
                )
    return findings


def nonces(values: Iterable[str]) -> set[str]:
    """Every nonce named in the given header values."""
    found = set()
    for value in values:
        for policy in parse_policies(value):
            for tokens in policy.directives.values():
                found |= {t[7:-1] for t in tokens if t.lower().startswith("'nonce-")}
    return found


def repeated_nonces(
    first: Iterable[str], second: Iterable[str], location: str
) -> list[Finding]:
    """A nonce seen in two responses is no nonce: it can be copied by an attacker."""
    shared = nonces(first) & nonces(second)
    if not shared:
        return []
    return [
        _finding(
            "csp-nonce-reuse",
            Severity.HIGH,
            "the same nonce was served twice",
            f"nonce {sorted(shared)[0]!r} in two responses",
            "generate a fresh random nonce for every response",
            location,
        )
    ]


def _judge(policies: list[Policy], location: str, missing: Severity) -> list[Finding]:
    if not policies:
        return [
            _finding(
                "csp-missing",
                missing,
                "no Content-Security-Policy",
                "",
                "send a policy "
                "such as default-src 'self'; object-src 'none'; base-uri 'none'",
                location,
            )
        ]

    findings = [f for p in policies for f in _hygiene(p, location)]
    for rule in _RULES:
        evidence = [rule.weak(p) for p in policies]
        if all(evidence):
            findings.append(
                _finding(
                    rule.id,
                    rule.severity,
                    rule.title,
                    "; ".join(sorted(set(evidence))),
                    rule.advice,
                    location,
                )
            )
    return findings


def _hygiene(policy: Policy, location: str) -> list[Finding]:
    """One finding per repeated directive and one per unknown one, however many
    times each occurs, so a flood of repeats cannot sink the grade."""
    found = []
    for name in dict.fromkeys(policy.duplicates):
        count = policy.duplicates.count(name)
        found.append(
            _finding(
                "csp-duplicate-directive",
                Severity.LOW,
                f"directive {name} repeats; browsers ignore the repeat",
                f"{name} repeated {count} time(s)",
                "merge the sources into the first occurrence",
                location,
            )
        )
    unknown = list(dict.fromkeys(policy.unknown))
    if unknown:
        shown = ", ".join(unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        )
        found.append(
            _finding(
                "csp-unknown-directive",
                Severity.INFO,
                f"unknown directives: {shown}",
                shown,
                "remove them or fix their spelling",
                location,
            )
        )
    return found


def _lower(tokens: Iterable[str]) -> set[str]:
    return {t.lower() for t in tokens}


def _has_nonce_or_hash(tokens: Iterable[str]) -> bool:
    return any(
        t.startswith(("'nonce-", "'sha256-", "'sha384-", "'sha512-"))
        for t in _lower(tokens)
    )


def _strict(tokens: Iterable[str]) -> bool:
    """'strict-dynamic' with a nonce or hash: allowlists and 'self' are ignored."""
    return "'strict-dynamic'" in _lower(tokens) and _has_nonce_or_hash(tokens)


def _no_script_src(p: Policy) -> str:
    return "" if p.script_sources() is not None else "no script-src or default-src"


def _unsafe_inline(p: Policy) -> str:
    tokens = p.script_sources() or ()
    if "'unsafe-inline'" in _lower(tokens) and not _has_nonce_or_hash(tokens):
        return "script-src allows 'unsafe-inline'"
    return ""


def _unsafe_eval(p: Policy) -> str:
    return (
        "script-src allows 'unsafe-eval'"
        if "'unsafe-eval'" in _lower(p.script_sources() or ())
        else ""
    )


def _wide_sources(p: Policy) -> str:
    tokens = p.script_sources()
    if tokens is None or _strict(tokens):
        return ""
    wide = sorted(t for t in _lower(tokens) if t == "*" or t in _SCHEMES)
    return f"script-src allows {' '.join(wide)}" if wide else ""


def _http_sources(p: Policy) -> str:
    plain = sorted(
        {
            f"{name} {t}"
            for name, tokens in p.directives.items()
            for t in tokens
            if t.lower() == "http:" or t.lower().startswith("http://")
        }
    )
    return ", ".join(plain)


def _object_src(p: Policy) -> str:
    tokens = p.directives.get("object-src", p.directives.get("default-src"))
    if tokens is not None and _lower(tokens) == {"'none'"}:
        return ""
    return "object-src is not 'none'"


def _no_base_uri(p: Policy) -> str:
    return (
        ""
        if "base-uri" in p.directives
        else "no base-uri (default-src does not cover it)"
    )


def _no_frame_ancestors(p: Policy) -> str:
    return "" if "frame-ancestors" in p.directives else "no frame-ancestors"


def _strict_dynamic_alone(p: Policy) -> str:
    tokens = p.script_sources() or ()
    if "'strict-dynamic'" in _lower(tokens) and not _has_nonce_or_hash(tokens):
        return "'strict-dynamic' without a nonce or hash"
    return ""


_RULES = (
    _Rule(
        "csp-no-script-src",
        Severity.HIGH,
        "scripts are not restricted",
        "add script-src or default-src",
        _no_script_src,
    ),
    _Rule(
        "csp-unsafe-inline",
        Severity.HIGH,
        "inline scripts are allowed",
        "use nonces or hashes instead of 'unsafe-inline'",
        _unsafe_inline,
    ),
    _Rule(
        "csp-unsafe-eval",
        Severity.MEDIUM,
        "eval() is allowed",
        "remove 'unsafe-eval'",
        _unsafe_eval,
    ),
    _Rule(
        "csp-wildcard-source",
        Severity.HIGH,
        "scripts may load from any host or scheme",
        "list hosts, or use nonces with 'strict-dynamic'",
        _wide_sources,
    ),
    _Rule(
        "csp-http-source",
        Severity.MEDIUM,
        "sources over plain http",
        "use https sources",
        _http_sources,
    ),
    _Rule(
        "csp-object-src",
        Severity.MEDIUM,
        "plugins are not blocked",
        "add object-src 'none'",
        _object_src,
    ),
    _Rule(
        "csp-no-base-uri",
        Severity.MEDIUM,
        "the base URL can be changed",
        "add base-uri 'none' or 'self'",
        _no_base_uri,
    ),
    _Rule(
        "csp-no-frame-ancestors",
        Severity.LOW,
        "framing is not restricted by CSP",
        "add frame-ancestors 'none' or 'self'",
        _no_frame_ancestors,
    ),
    _Rule(
        "csp-strict-dynamic-alone",
        Severity.MEDIUM,
        "'strict-dynamic' without a nonce or hash blocks every script",
        "add a nonce or hash beside 'strict-dynamic'",
        _strict_dynamic_alone,
    ),
)


def _finding(
    rule: str,
    severity: Severity,
    title: str,
    evidence: str,
    advice: str,
    location: str,
    check: str = CHECK,
) -> Finding:
    return new_finding(
        check,
        rule,
        severity,
        title,
        evidence=evidence,
        advice=advice,
        location=location,
        reference=REFERENCE,
    )


def _meta_note(text: str, location: str) -> Finding:
    return _finding(
        "csp-meta",
        Severity.INFO,
        "a policy is set in a <meta> tag",
        text,
        "send it as a header too: a <meta> policy cannot set "
        "frame-ancestors, report-uri or sandbox",
        location,
    )


def _without_meta_ignored(policy: Policy) -> Policy:
    kept = {k: v for k, v in policy.directives.items() if k not in _META_IGNORED}
    return Policy(kept, policy.duplicates, policy.unknown, policy.text)


class _MetaFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.policies: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): v or "" for k, v in attrs}
        if (
            tag == "meta"
            and values.get("http-equiv", "").lower() == "content-security-policy"
        ):
            self.policies.append(values.get("content", ""))
