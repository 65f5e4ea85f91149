"""Sanity checks of a JSON Web Token the user supplies: ``alg`` none, an HMAC
secret from a list of weak ones, no expiry, a lifetime over a limit, no
issuer or audience. The token is decoded, never trusted, and never shown."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from typing import Any

from opskit.errors import InputError
from opskit.records import Finding, Severity
from opskit.security.findings import new_finding

CHECK = "jwt"
DEFAULT_MAX_LIFETIME = 15 * 60
WEAK_SECRETS = (
    "",
    "secret",
    "password",
    "changeme",
    "123456",
    "12345678",
    "jwt",
    "jwtsecret",
    "key",
    "test",
    "admin",
    "your-256-bit-secret",
    "supersecret",
    "default",
    "token",
)
_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def review(
    token: str, location: str = "token", max_lifetime: int = DEFAULT_MAX_LIFETIME
) -> list[Finding]:
    """Findings for one token; a token that is not a JWT is an ``InputError``."""
    header, claims, signing_input, signature = _decode(token.strip())
    alg = str(header.get("alg", ""))
    findings = []

    def add(
        rule: str, severity: Severity, title: str, evidence: str, advice: str
    ) -> None:
        findings.append(
            new_finding(
                CHECK,
                rule,
                severity,
                title,
                evidence=evidence,
                advice=advice,
                location=location,
                reference="https://www.rfc-editor.org/rfc/rfc8725",
            )
        )

    if alg.lower() == "none":
        add(
            "jwt-alg-none",
            Severity.CRITICAL,
            "the token is not signed (alg none)",
            "alg: none",
            "reject unsigned tokens; pin the algorithm on the server",
        )
    weak = _weak_secret(alg, signing_input, signature)
    if weak is not None:
        add(
            "jwt-weak-secret",
            Severity.CRITICAL,
            "the HMAC secret is a well-known weak one",
            f"{alg} secret of {len(weak)} characters from the weak list",
            "use a random secret of 32 bytes or more, and rotate it",
        )
    exp, iat = claims.get("exp"), claims.get("iat")
    if "exp" in claims and not _is_time(exp):
        add(
            "jwt-bad-exp",
            Severity.HIGH,
            "the expiry is not a time",
            f"exp: {exp!r}",
            "set exp to a NumericDate (seconds since 1970)",
        )
    elif "exp" not in claims:
        add(
            "jwt-no-exp",
            Severity.HIGH,
            "the token never expires",
            "no exp claim",
            "set exp",
        )
    elif _is_time(iat) and _is_time(exp):
        lifetime = float(exp) - float(iat)  # type: ignore[arg-type]
        if lifetime > max_lifetime:
            add(
                "jwt-long-lifetime",
                Severity.MEDIUM,
                f"the token lives {int(lifetime)} s",
                f"exp - iat = {int(lifetime)} s, limit {max_lifetime} s",
                "issue short-lived access tokens and refresh them",
            )
    for claim in ("iss", "aud"):
        if claim not in claims:
            add(
                f"jwt-no-{claim}",
                Severity.LOW,
                f"no {claim} claim",
                f"no {claim}",
                f"set {claim} and check it on the server",
            )
    return findings


def _decode(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    parts = token.split(".")
    if len(parts) != 3:
        raise InputError(
            "jwt: not a JSON Web Token (expected three dot-separated parts)"
        )
    try:
        header = json.loads(_b64(parts[0]))
        claims = json.loads(_b64(parts[1]))
        signature = _b64(parts[2])
    except (ValueError, binascii.Error) as exc:
        raise InputError(
            f"jwt: cannot be decoded ({exc}); give the whole token"
        ) from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InputError("jwt: header and claims must be JSON objects")
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), signature


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _weak_secret(alg: str, signing_input: bytes, signature: bytes) -> str | None:
    digest = _HMAC.get(alg.upper())
    if digest is None:
        return None
    for secret in WEAK_SECRETS:
        expected = hmac.new(secret.encode(), signing_input, digest).digest()
        if hmac.compare_digest(expected, signature):
            return secret
    return None


def _is_time(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )
