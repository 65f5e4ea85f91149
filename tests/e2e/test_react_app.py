"""A real React application, created with Vite from the npm registry, built
with a secret planted through a VITE_ variable, served from a local server
with a realistic header set, and reviewed end to end.

Needs node and npm and the npm registry, so it is out of the default run:
    .venv/bin/pytest -m react
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from opskit.records import RecordStatus
from opskit.security.review import run_review

pytestmark = [pytest.mark.react, pytest.mark.slow]

CREATE_VITE = "create-vite@9.3.0"
# Assembled at run time so no token-shaped literal sits in the repository.
PLANTED = "sk" + "_live_" + "51HqLyjWDarjtT1zdp7dcQa9"
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=()",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not shutil.which("npm"):
        pytest.fail("npm is needed for this test: apt-get install -y nodejs npm")
    root = tmp_path_factory.mktemp("react")
    npm = ["npm", "--no-audit", "--no-fund", "--loglevel=error"]
    subprocess.run(
        [*npm, "exec", "-y", CREATE_VITE, "--", "shop", "--template", "react"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    app = root / "shop"
    subprocess.run([*npm, "install"], cwd=app, check=True, capture_output=True)
    (app / ".env.production").write_text(
        f"VITE_API_BASE=/api\nVITE_STRIPE_KEY={PLANTED}\n"
    )
    main = app / "src" / "main.jsx"
    main.write_text(
        main.read_text() + "\nwindow.payments = import.meta.env.VITE_STRIPE_KEY\n"
    )
    subprocess.run([*npm, "run", "build"], cwd=app, check=True, capture_output=True)
    return app


@pytest.fixture
def served(app: Path) -> Iterator[str]:
    class Handler(SimpleHTTPRequestHandler):
        server_version = "shop"
        sys_version = ""

        def end_headers(self) -> None:
            for name, value in HEADERS.items():
                self.send_header(name, value)
            super().end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(Handler, directory=str(app / "dist"))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_the_planted_vite_secret_is_found_in_the_bundle_and_the_env(
    app: Path, served: str
) -> None:
    result = run_review(
        urls=[served], env_files=[str(app / ".env.production")], build=str(app / "dist")
    )

    by_check = {(f.check, f.id) for f in result.findings}
    assert ("secrets", "stripe-secret-key") in by_check
    assert ("envvars", "env-client-secret") in by_check
    bundle_hit = next(f for f in result.findings if f.id == "stripe-secret-key")
    assert (
        bundle_hit.location.startswith("assets/index-")
        and PLANTED not in bundle_hit.evidence
    )
    header_rules = {f.id for f in result.findings if f.check in ("headers", "csp")}
    assert header_rules == {"http-no-redirect", "hsts-over-http"}
    assert result.status is RecordStatus.FAILED
