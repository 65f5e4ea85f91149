"""JWT sanity checks on tokens made here with known secrets and claims."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from opskit.errors import InputError
from opskit.security import jwt


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(claims: dict[str, Any], secret: str = "x" * 40, alg: str = "HS256") -> str:
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    if alg == "none":
        return f"{head}.{body}."
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


GOOD = {"iss": "auth", "aud": "shop", "iat": 1_700_000_000, "exp": 1_700_000_600}


@pytest.mark.parametrize(
    ("made", "expected"),
    [
        (token(GOOD), set()),
        (token(GOOD, secret="secret"), {"jwt-weak-secret"}),
        (token(GOOD, secret="your-256-bit-secret"), {"jwt-weak-secret"}),
        (token(GOOD, alg="none"), {"jwt-alg-none"}),
        (token({k: v for k, v in GOOD.items() if k != "exp"}), {"jwt-no-exp"}),
        (token(GOOD | {"exp": GOOD["iat"] + 86_400}), {"jwt-long-lifetime"}),
        (token({"iat": 1, "exp": 2}), {"jwt-no-iss", "jwt-no-aud"}),
    ],
)
def test_tokens_earn_the_expected_findings(made: str, expected: set[str]) -> None:
    assert {f.id for f in jwt.review(made)} == expected


def test_the_lifetime_limit_is_configurable() -> None:
    made = token(GOOD | {"exp": GOOD["iat"] + 3600})

    assert "jwt-long-lifetime" in {f.id for f in jwt.review(made)}
    assert jwt.review(made, max_lifetime=7200) == []


def test_the_token_is_never_shown() -> None:
    made = token(GOOD, secret="secret")

    assert all(made not in f.evidence for f in jwt.review(made))


@pytest.mark.parametrize("bad", ["abc", "a.b", "!!!.???.***", "e30.W10.sig"])
def test_something_that_is_not_a_jwt_is_named(bad: str) -> None:
    with pytest.raises(InputError, match="jwt:"):
        jwt.review(bad)


@pytest.mark.parametrize("exp", ["9999", float("inf")])
def test_an_expiry_that_is_not_a_time_is_high(exp: object) -> None:
    claims = GOOD | {"exp": exp}
    head = b64(json.dumps({"alg": "HS256"}).encode())
    body = b64(json.dumps(claims).encode())

    found = {f.id for f in jwt.review(f"{head}.{body}.c2ln")}

    assert "jwt-bad-exp" in found
