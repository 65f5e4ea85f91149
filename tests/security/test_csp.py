"""CSP parsed as browsers parse it, and the findings each policy earns."""

from __future__ import annotations

import pytest

from opskit.records import Severity
from opskit.security.csp import (
    evaluate,
    meta_policies,
    parse_policies,
    parse_policy,
    repeated_nonces,
)

STRONG = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
NONCED = (
    "script-src 'nonce-r4nd0m' 'strict-dynamic' https: 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)


def ids(
    *enforced: str, report_only: tuple[str, ...] = (), meta: tuple[str, ...] = ()
) -> set[str]:
    return {f.id for f in evaluate(enforced, report_only, meta)}


CASES = [
    # (name, enforced header values, expected finding ids)
    ("none at all", [], {"csp-missing"}),
    ("strong default-src", [STRONG], set()),
    ("nonce and strict-dynamic make https: and unsafe-inline inert", [NONCED], set()),
    (
        "only img-src",
        ["img-src 'self'"],
        {
            "csp-no-script-src",
            "csp-object-src",
            "csp-no-base-uri",
            "csp-no-frame-ancestors",
        },
    ),
    (
        "unsafe-inline",
        [STRONG.replace("'self'", "'self' 'unsafe-inline'", 1)],
        {"csp-unsafe-inline"},
    ),
    (
        "unsafe-inline beside a hash is ignored",
        [STRONG + "; script-src 'self' 'unsafe-inline' 'sha256-abc='"],
        set(),
    ),
    (
        "unsafe-inline beside a nonce is ignored",
        [STRONG + "; script-src 'unsafe-inline' 'nonce-x'"],
        set(),
    ),
    (
        "unsafe-eval",
        [STRONG + "; script-src 'self' 'unsafe-eval'"],
        {"csp-unsafe-eval"},
    ),
    ("wildcard", [STRONG + "; script-src *"], {"csp-wildcard-source"}),
    ("https: scheme", [STRONG + "; script-src https:"], {"csp-wildcard-source"}),
    ("data: scheme", [STRONG + "; script-src 'self' data:"], {"csp-wildcard-source"}),
    (
        "http: scheme",
        [STRONG + "; script-src http:"],
        {"csp-wildcard-source", "csp-http-source"},
    ),
    (
        "http host in img-src",
        [STRONG + "; img-src http://cdn.example"],
        {"csp-http-source"},
    ),
    (
        "object-src self",
        [STRONG.replace("object-src 'none'", "object-src 'self'")],
        {"csp-object-src"},
    ),
    (
        "object-src from default-src none",
        ["default-src 'none'; base-uri 'none'; frame-ancestors 'none'"],
        set(),
    ),
    ("no base-uri", [STRONG.replace("; base-uri 'none'", "")], {"csp-no-base-uri"}),
    (
        "no frame-ancestors",
        [STRONG.replace("; frame-ancestors 'none'", "")],
        {"csp-no-frame-ancestors"},
    ),
    (
        "directive names are case-insensitive",
        [STRONG.upper().replace("'SELF'", "'self'").replace("'NONE'", "'none'")],
        set(),
    ),
    (
        "keywords are case-insensitive",
        [STRONG + "; script-src 'UNSAFE-EVAL'"],
        {"csp-unsafe-eval"},
    ),
    (
        "a repeated directive is ignored after its first",
        [STRONG + "; script-src 'self'; script-src *"],
        {"csp-duplicate-directive"},
    ),
    (
        "a repeat cannot loosen",
        [STRONG + "; script-src 'self'; script-src 'unsafe-eval'"],
        {"csp-duplicate-directive"},
    ),
    ("unknown directive", [STRONG + "; scrpit-src 'self'"], {"csp-unknown-directive"}),
    (
        "strict-dynamic without a nonce",
        [STRONG + "; script-src 'strict-dynamic'"],
        {"csp-strict-dynamic-alone"},
    ),
    (
        "strict-dynamic with a hash ignores host lists",
        [STRONG + "; script-src 'strict-dynamic' 'sha384-x' *"],
        set(),
    ),
    ("two policies: the stricter one wins", [STRONG + "; script-src *", STRONG], set()),
    (
        "two policies in one header, comma-separated",
        [STRONG + "; script-src *, " + STRONG],
        set(),
    ),
    (
        "two weak policies stay weak",
        [
            STRONG + "; script-src * 'unsafe-eval'",
            STRONG + "; script-src 'unsafe-eval' 'self'",
        ],
        {"csp-unsafe-eval"},
    ),
    ("empty directives and stray semicolons", [";;" + STRONG + ";;"], set()),
    (
        "script-src overrides a strong default-src",
        [STRONG + "; script-src 'self' 'unsafe-inline'"],
        {"csp-unsafe-inline"},
    ),
    ("script-src none is fine", [STRONG + "; script-src 'none'"], set()),
    (
        "upgrade-insecure-requests is known",
        [STRONG + "; upgrade-insecure-requests"],
        set(),
    ),
    ("invalid directive names are dropped", [STRONG + "; scr!pt-src *"], set()),
]


@pytest.mark.parametrize(
    ("name", "headers", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_policies_earn_the_expected_findings(
    name: str, headers: list[str], expected: set[str]
) -> None:
    assert ids(*headers) == expected


def test_there_are_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


def test_report_only_policies_are_reported_apart_at_info() -> None:
    findings = evaluate([STRONG], report_only=["script-src * 'unsafe-eval'"])

    report = [f for f in findings if f.check == "csp-report-only"]
    assert {f.id for f in report} >= {"csp-report-only", "csp-unsafe-eval"}
    assert {f.severity for f in report} == {Severity.INFO}
    assert not [f for f in findings if f.check == "csp"]


def test_a_meta_policy_is_enforced_but_cannot_set_frame_ancestors() -> None:
    html = (
        '<html><head><META http-equiv="content-security-policy" '
        f'content="{STRONG}"></head></html>'
    )

    found = ids(meta=tuple(meta_policies(html)))

    assert found == {"csp-meta", "csp-no-frame-ancestors"}


def test_a_nonce_served_twice_is_high() -> None:
    first = ["script-src 'nonce-abc123'"]

    assert repeated_nonces(first, ["script-src 'nonce-zzz'"], "u") == []
    (finding,) = repeated_nonces(first, ["script-src 'nonce-abc123'"], "u")
    assert (finding.id, finding.severity) == ("csp-nonce-reuse", Severity.HIGH)


def test_parsing_keeps_the_first_of_repeated_directives() -> None:
    policy = parse_policy("Script-Src 'self'; SCRIPT-SRC *; img-src a b")

    assert policy.directives == {"script-src": ("'self'",), "img-src": ("a", "b")}
    assert policy.duplicates == ("script-src",)


def test_a_policy_of_ten_thousand_directives_parses_quickly() -> None:
    huge = "; ".join(f"x-{n}-src 'self'" for n in range(10_000))

    (policy,) = parse_policies(huge)

    assert len(policy.directives) == 10_000
    assert "csp-unknown-directive" in {f.id for f in evaluate([huge])}
