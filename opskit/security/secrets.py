"""Secrets in a built front-end bundle: cloud keys, private key blocks, JWTs,
provider tokens and high-entropy values assigned to sensitive names, with
file and line; shipped source maps too.

Files are scanned whole, pattern by pattern, and line numbers are counted
only for matches, so time grows with size and not with line length.
"""

from __future__ import annotations

import re
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
    lead: bytes = b""  # one of these bytes must come first and belongs to the secret


PATTERNS = (
    Pattern(
        "aws-access-key-id",
        "AWS access key id",
        Severity.HIGH,
        re.compile(rb"(?P<s>(?:AKIA|ASIA)[0-9A-Z]{16})\b"),
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
            rb"(?P<s>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
        ),
    ),
    Pattern(
        "github-token",
        "GitHub token",
        Severity.HIGH,
        re.compile(rb"(?P<s>gh[pousr]_[A-Za-z0-9]{36,})\b"),
    ),
    Pattern(
        "slack-token",
        "Slack token",
        Severity.HIGH,
        re.compile(rb"(?P<s>xox[abprs]-[A-Za-z0-9-]{10,})"),
    ),
    Pattern(
        "stripe-secret-key",
        "Stripe secret key",
        Severity.CRITICAL,
        re.compile(rb"(?P<s>k_live_[0-9a-zA-Z]{20,})"),
        lead=b"rs",  # sk_live_ or rk_live_, matched from the literal for speed
    ),
    Pattern(
        "google-api-key",
        "Google API key",
        Severity.MEDIUM,
        re.compile(rb"(?P<s>AIza[0-9A-Za-z_-]{35})"),
    ),
    Pattern(
        "sendgrid-key",
        "SendGrid API key",
        Severity.HIGH,
        re.compile(rb"(?P<s>SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})"),
    ),
)

# Quoted values of 16+ characters after '=' or ':'; the name before each is
# checked afterwards, which keeps the scan fast on long minified lines.
_QUOTED = (
    re.compile(rb"=\s*[\"'](?P<s>[^\"'\s]{16,200})[\"']"),
    re.compile(rb":\s*[\"'](?P<s>[^\"'\s]{16,200})[\"']"),
)
_SENSITIVE_NAME = re.compile(
    rb"(?i)(?P<name>[a-z0-9_$]*(?:secret|token|passw(?:or)?d|api_?key|private_?key|"
    rb"aws_?key)[a-z0-9_$]*)[\"']?\s*$"
)
_AWS_SECRET = re.compile(r"^[A-Za-z0-9/+=]{40}$")
_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


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
            begin = match.start("s")
            if pattern.lead:
                if not begin or data[begin - 1] not in pattern.lead:
                    continue
                begin -= 1
            if begin and data[begin - 1] in _WORD:
                continue  # inside a longer word, not a token of its own
            spans.append(match.span("s"))
            findings.append(
                _hit(
                    pattern.rule,
                    pattern.title,
                    pattern.severity,
                    data,
                    begin,
                    match.end("s"),
                    relative,
                )
            )
    for regex in _QUOTED:
        for match in regex.finditer(data):
            found = _assigned(match, data, spans, relative)
            if found is not None:
                findings.append(found)
    return findings


def _assigned(
    match: re.Match[bytes], data: bytes, spans: list[tuple[int, int]], relative: str
) -> Finding | None:
    """A quoted value after a sensitive name: an AWS secret key when it has that
    shape and the name says AWS, else a secret when it looks random enough."""
    start, end = match.span("s")
    if any(start < e and s < end for s, e in spans):
        return None
    name = _SENSITIVE_NAME.search(data[max(0, match.start() - 64) : match.start()])
    if name is None:
        return None
    label = name.group("name").decode("utf-8", "replace")
    value = match.group("s").decode("utf-8", "replace")
    if "aws" in label.lower() and _AWS_SECRET.match(value):
        return _hit(
            "aws-secret-key",
            "AWS secret access key",
            Severity.CRITICAL,
            data,
            start,
            end,
            relative,
        )
    if entropy(value) < MIN_ENTROPY:
        return None
    return _hit(
        "high-entropy-secret",
        f"random-looking value in {label}",
        Severity.HIGH,
        data,
        start,
        end,
        relative,
    )


def _hit(
    rule: str,
    title: str,
    severity: Severity,
    data: bytes,
    start: int,
    end: int,
    relative: str,
) -> Finding:
    line = data.count(b"\n", 0, start) + 1
    column = start - (data.rfind(b"\n", 0, start) + 1) + 1
    secret = data[start:end].decode("utf-8", "replace")
    return new_finding(
        CHECK,
        rule,
        severity,
        f"{title} in the bundle",
        evidence=masked(secret),
        location=f"{relative}:{line}:{column}",
        advice="remove it from the client code and rotate it now",
    )
