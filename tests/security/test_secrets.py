"""Secrets in built bundles and client-exposed environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from opskit.errors import InputError
from opskit.security import envvars, secrets

# Published documentation examples, not live credentials; the provider tokens
# are assembled at run time so no token-shaped literal sits in the repository.
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
GITHUB = "ghp" + "_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
STRIPE = "sk" + "_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
CLEAN = (
    'function n(e){return e&&e.__esModule?e:{default:e}}var r=n(require("react"));'
    'const t={apiBase:"/api",retries:3,theme:"dark"};export{t as config};'
)


@pytest.fixture
def build(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "assets" / "vendor.js").write_text(CLEAN * 2000)  # long minified line
    (root / "assets" / "app.js").write_text(
        CLEAN + f'\nconst k="{AWS_KEY_ID}";\nvar aws_secret_key = "{AWS_SECRET}";\n'
        f'const session="{JWT}";const gh="{GITHUB}";'
    )
    (root / "assets" / "pay.mjs").write_text(f'export const key = "{STRIPE}";')
    (root / "assets" / "app.js.map").write_text('{"version":3,"sources":["src/a.ts"]}')
    page = "<html><script>window.cfg={client_secret:'Zr8Qv2Lm9Xw4Tn7Bk1Yp'}</script>"
    (root / "index.html").write_text(page + "</html>")
    (root / "config.json").write_text('{"privateKey": "-----BEGIN PRIVATE KEY-----"}')
    (root / "logo.png").write_bytes(AWS_KEY_ID.encode())  # not a bundle file
    return root


def test_every_planted_key_is_found_with_file_and_line(build: Path) -> None:
    found = {(f.id, f.location) for f in secrets.scan(build)}

    assert found == {
        ("aws-access-key-id", "assets/app.js:2:10"),
        ("aws-secret-key", "assets/app.js:3:23"),
        ("jwt", "assets/app.js:4:16"),
        ("github-token", "assets/app.js:4:183"),
        ("stripe-secret-key", "assets/pay.mjs:1:21"),
        ("sourcemap-shipped", "assets/app.js.map"),
        ("high-entropy-secret", "index.html:1:42"),
        ("private-key", "config.json:1:17"),
    }


def test_secrets_are_never_shown_whole(build: Path) -> None:
    evidence = " ".join(f.evidence for f in secrets.scan(build))

    for secret in (AWS_KEY_ID, AWS_SECRET, JWT, GITHUB, STRIPE):
        assert secret not in evidence
    assert "AKIA****" in evidence


def test_clean_minified_code_has_no_findings(tmp_path: Path) -> None:
    (tmp_path / "main.js").write_text(CLEAN * 5000)

    assert secrets.scan(tmp_path) == []


def test_an_allowlist_silences_accepted_findings(build: Path, tmp_path: Path) -> None:
    jwt = next(f for f in secrets.scan(build) if f.id == "jwt")
    allow = tmp_path / "allow.txt"
    allow.write_text(f"{jwt.fingerprint}  # demo token in the docs page\n")

    remaining = secrets.scan(build, secrets.load_allowlist(allow))

    assert "jwt" not in {f.id for f in remaining}
    assert len(remaining) == 7


def test_a_missing_build_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        secrets.scan(tmp_path / "dist")


def test_client_exposed_secrets_in_env_files(tmp_path: Path) -> None:
    env = tmp_path / ".env.production"
    env.write_text(
        "# build settings\n"
        "VITE_API_BASE=/api\n"
        "export VITE_STRIPE_SECRET='sk_test_abcdef0123456789'\n"
        f'REACT_APP_ANALYTICS="{AWS_KEY_ID}"\n'
        "NEXT_PUBLIC_DB=postgresql://app:hunter2@db:5432/shop\n"
        "DATABASE_PASSWORD=server-side-only\n"
    )

    found = envvars.review(envvars.read_env_file(env), str(env))

    assert [(f.title.split(" ")[0], f.evidence) for f in found] == [
        ("NEXT_PUBLIC_DB", "NEXT_PUBLIC_DB=post************"),
        ("REACT_APP_ANALYTICS", "REACT_APP_ANALYTICS=AKIA************"),
        ("VITE_STRIPE_SECRET", "VITE_STRIPE_SECRET=sk_t************"),
    ]


def test_prefixes_are_configurable() -> None:
    found = envvars.review({"PUBLIC_TOKEN": "abcdefgh"}, "env", prefixes=["PUBLIC_"])

    assert [f.evidence for f in found] == ["PUBLIC_TOKEN=ab******"]
