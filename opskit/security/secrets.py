"""Secrets in a built front-end bundle: cloud keys, private key blocks, JWTs,
provider tokens and high-entropy values assigned to sensitive names, with
file and line; shipped source maps too.

Files are scanned whole, pattern by pattern, and line numbers are counted
only for matches, so time grows with size and not with line length.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from opskit.errors import InputError
from opskit.records import Finding, Severity
from opskit.security.findings import entropy, masked, new_finding

CHECK = "secrets"
EXTENSIONS = {".js", ".mjs", ".cjs", ".map", ".html", ".json", ".css"}
MIN_ENTROPY = 3.5


@dataclass(frozen=True)
class Pattern:
    """A kind of secret: its rule id, severity and regular expression; the
    secret is group ``s``."""

    rule: str
    title: str
    severity: Severity
    regex: re.Pattern[bytes]


PATTERNS = (
    Pattern(
        "aws-access-key-id",
        "AWS access key id",
        Severity.HIGH,
        re.compile(rb"\b(?P<s>(?:AKIA|ASIA)[0-9A-Z]{16})\b"),
    ),
    Pattern(
        "aws-secret-key",
        "AWS secret access key",
        Severity.CRITICAL,
        re.compile(
            rb"(?i)aws.{0,20}?(?:secret|key).{0,20}?[:=]\s*[\"'](?P<s>[A-Za-z0-9/+=]{40})[\"']"
        ),
    ),
    Pattern(
        "private-key",
        "private key block",
        Severity.CRITICAL,
        re.compile(
            rb"(?P<s>-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?"
            rb"PRIVATE KEY(?: BLOCK)?-----)"
        ),
    ),
    Pattern(
        "jwt",
        "JSON Web Token",
        Severity.MEDIUM,
        re.compile(
            rb"\b(?P<s>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
        ),
    ),
    Pattern(
        "github-token",
        "GitHub token",
        Severity.HIGH,
        re.compile(rb"\b(?P<s>gh[pousr]_[A-Za-z0-9]{36,})\b"),
    ),
    Pattern(
        "slack-token",
        "Slack token",
        Severity.HIGH,
        re.compile(rb"\b(?P<s>xox[abprs]-[A-Za-z0-9-]{10,})"),
    ),
    Pattern(
        "stripe-secret-key",
        "Stripe secret key",
        Severity.CRITICAL,
        re.compile(rb"\b(?P<s>[rs]k_live_[0-9a-zA-Z]{20,})"),
    ),
    Pattern(
        "google-api-key",
        "Google API key",
        Severity.MEDIUM,
        re.compile(rb"\b(?P<s>AIza[0-9A-Za-z_-]{35})"),
    ),
    Pattern(
        "sendgrid-key",
        "SendGrid API key",
        Severity.HIGH,
        re.compile(rb"\b(?P<s>SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})"),
    ),
)

_ASSIGNED = re.compile(
    rb"(?i)(?P<name>[a-z0-9_$]*(?:secret|token|passw(?:or)?d|api_?key|private_?key|"
    rb"client_?secret)[a-z0-9_$]*)[\"']?\s*[:=]\s*[\"'](?P<s>[^\"'\s]{16,200})[\"']"
)


def scan(folder: str | Path, allow: set[str] | None = None) -> list[Finding]:
    """Scan every bundle file under ``folder``; ``allow`` holds fingerprints of
    accepted false positives (see ``load_allowlist``)."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"build folder {root}: not a folder; give the built output")
    findings = []
    for path in _files(root):
        findings += _scan_file(path, path.relative_to(root).as_posix())
    allowed = allow or set()
    return [f for f in findings if f.fingerprint not in allowed]


def load_allowlist(path: str | Path) -> set[str]:
    """Fingerprints of accepted findings, one per line; ``#`` starts a comment."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the allowlist ({exc})") from exc
    return {line.split("#", 1)[0].strip() for line in lines} - {""}


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in EXTENSIONS:
            yield path


def _scan_file(path: Path, relative: str) -> list[Finding]:
    data = path.read_bytes()
    newlines = [m.start() for m in re.finditer(rb"\n", data)] if b"\n" in data else []
    findings = []
    if path.suffix == ".map":
        findings.append(
            new_finding(
                CHECK,
                "sourcemap-shipped",
                Severity.MEDIUM,
                "a source map is shipped",
                evidence=relative,
                location=relative,
                advice="do not deploy .map files; they publish the original source",
            )
        )

    spans = []
    for pattern in PATTERNS:
        for match in pattern.regex.finditer(data):
            spans.append(match.span("s"))
            findings.append(
                _hit(
                    pattern.rule,
                    pattern.title,
                    pattern.severity,
                    match,
                    data,
                    newlines,
                    relative,
                )
            )
    for match in _ASSIGNED.finditer(data):
        value = match.group("s").decode("utf-8", "replace")
        start, end = match.span("s")
        known = any(start < e and s < end for s, e in spans)
        if entropy(value) >= MIN_ENTROPY and not known:
            name = match.group("name").decode("utf-8", "replace")
            findings.append(
                _hit(
                    "high-entropy-secret",
                    f"random-looking value in {name}",
                    Severity.HIGH,
                    match,
                    data,
                    newlines,
                    relative,
                )
            )
    return findings


def _hit(
    rule: str,
    title: str,
    severity: Severity,
    match: re.Match[bytes],
    data: bytes,
    newlines: list[int],
    relative: str,
) -> Finding:
    offset = match.start("s")
    line = bisect_right(newlines, offset) + 1
    column = offset - (newlines[line - 2] + 1 if line > 1 else 0) + 1
    secret = match.group("s").decode("utf-8", "replace")
    return new_finding(
        CHECK,
        rule,
        severity,
        f"{title} in the bundle",
        evidence=masked(secret),
        location=f"{relative}:{line}:{column}",
        advice="remove it from the client code and rotate it now",
    )
