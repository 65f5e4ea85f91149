"""Environment variables exposed to client code: names with a client prefix
(``VITE_``, ``REACT_APP_``, ``NEXT_PUBLIC_``) are baked into the bundle, so a
secret among them is published. Values are never shown whole."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from opskit.errors import InputError
from opskit.records import Finding, Severity
from opskit.security.findings import masked, new_finding
from opskit.security.secrets import PATTERNS

CHECK = "envvars"
CLIENT_PREFIXES: tuple[str, ...] = ("REACT_APP_", "VITE_", "NEXT_PUBLIC_")
_SENSITIVE = re.compile(
    r"pass(word|wd)?|secret|key|token|private|credential|auth", re.I
)
_DSN_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^:/@\s]+:[^@\s]+@", re.I)
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def read_env_file(path: str | Path) -> dict[str, str]:
    """Parse a ``.env`` file: KEY=value lines, ``export``, quotes, comments."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the env file ({exc})") from exc
    values = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            values[match.group(1)] = _unquote(match.group(2))
    return values


def review(
    variables: Mapping[str, str],
    source: str,
    prefixes: Iterable[str] = CLIENT_PREFIXES,
) -> list[Finding]:
    """Findings for client-exposed variables whose name or value is sensitive."""
    wanted = tuple(prefixes)
    findings = []
    for name, value in sorted(variables.items()):
        if not name.startswith(wanted) or not value:
            continue
        why = _why_sensitive(name, value)
        if why:
            findings.append(
                new_finding(
                    CHECK,
                    "env-client-secret",
                    Severity.HIGH,
                    f"{name} is exposed to client code and {why}",
                    evidence=f"{name}={masked(value)}",
                    location=source,
                    advice="keep secrets server-side: drop the client prefix and "
                    "call an API that holds the secret; rotate the value",
                )
            )
    return findings


def _why_sensitive(name: str, value: str) -> str:
    if _SENSITIVE.search(name.split("_", 1)[-1]):
        return "its name says it is a secret"
    if _DSN_WITH_PASSWORD.match(value):
        return "its value is a connection string with a password"
    if any(p.regex.search(value.encode()) for p in PATTERNS):
        return "its value looks like a credential"
    return ""


def _unquote(raw: str) -> str:
    """The value of a .env line: the text between matching quotes, or up to a
    `` #`` comment; a lone opening quote is dropped."""
    value = raw.strip()
    if value[:1] in ("'", '"'):
        closing = value.find(value[0], 1)
        return value[1:closing] if closing > 0 else value[1:]
    return value.split(" #", 1)[0].strip()
