"""A real JupyterLab server on loopback and a real headless Chromium to drive it.

Chromium is Debian's ``chromium`` package, driven by Playwright with its
executable path set, so Playwright never downloads a browser of its own;
``scripts/ensure-chromium.sh`` installs the package. JupyterLab runs in its own
process with temporary config, runtime and settings folders, makes no request
beyond loopback, and is stopped by its process id.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.servers import free_port, wait_for

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"

# Chromium as root in a container: no sandbox, no GPU, and nothing fetched from
# the internet behind the test's back (updates, field trials, first-run pages).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# JupyterLab's own user settings: fetch no news, check for no updates and show
# no notification toasts over the page being photographed.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
}
NEVER_CHECK = "jupyterlab.handlers.announcements.NeverCheckForUpdate"


@dataclass
class JupyterLab:
    """JupyterLab in its own process on a free loopback port.

    ``folder`` is the server's root: notebooks copied there open as
    ``/lab/tree/<name>``. Everything else the server and its kernels write
    (config, runtime files, settings, records, the log) stays under ``home``.
    """

    folder: Path
    home: Path
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(24))
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        """The file the server writes its stdout and stderr to."""
        return self.home / "jupyterlab.log"

    def url(self, path: str) -> str:
        """The address of ``path`` on this server, token included."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}?token={self.token}"

    def start(self, timeout: float = 60.0) -> JupyterLab:
        """Start the server and wait until its API answers, at most ``timeout`` s."""
        self._prepare_home()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self._command(), env=self._environment(), stdout=out, stderr=out
            )
        wait_for(self._answers, f"JupyterLab on port {self.port}", timeout)
        return self

    def stop(self) -> None:
        """Stop the server (and so its kernels) by its pid; kill it if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_text(self) -> str:
        """What the server has logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _command(self) -> list[str]:
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ip=127.0.0.1", f"--port={self.port}", "--port-retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.folder}",
            "--LabApp.news_url=None",
            f"--LabApp.check_for_updates_class={NEVER_CHECK}",
            "--LabApp.extension_manager=readonly",
            f"--LabApp.user_settings_dir={self.home / 'settings'}",
            f"--LabApp.workspaces_dir={self.home / 'workspaces'}",
            f"--NotebookNotary.data_dir={self.home / 'notary'}",
        ]  # fmt: skip
        if os.geteuid() == 0:
            command.append("--allow-root")
        return command

    def _environment(self) -> dict[str, str]:
        # Only config and runtime folders move: the data path must still find
        # the venv's python3 kernelspec and the ipywidgets lab extension.
        env = dict(os.environ)
        for name in ("JUPYTER_TOKEN", "JUPYTER_PATH", "JUPYTER_DATA_DIR"):
            env.pop(name, None)
        env["JUPYTER_CONFIG_DIR"] = str(self.home / "config")
        env["JUPYTER_RUNTIME_DIR"] = str(self.home / "runtime")
        env["IPYTHONDIR"] = str(self.home / "ipython")
        env["OPSKIT_RECORD_STORE"] = str(self.home / "records")
        env["TMPDIR"] = str(self.home / "tmp")  # what kernels leave stays here
        return env

    def _prepare_home(self) -> None:
        for folder in ("notary", "tmp"):
            (self.home / folder).mkdir(exist_ok=True)
        for name, values in LAB_SETTINGS.items():
            path = self.home / "settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with code {self.process.returncode}; "
                f"its log:\n{self.log_text()}"
            )
        with urllib.request.urlopen(self.url("api/status"), timeout=2) as reply:
            return bool(reply.status == 200)


@pytest.fixture
def jupyter_lab(tmp_path: Path) -> Iterator[JupyterLab]:
    """A JupyterLab server of the test's own, serving an empty folder.

    One per test (it starts in about 2 s), so no open tab, workspace or kernel
    is carried from one test into the next.
    """
    (tmp_path / "root").mkdir()
    (tmp_path / "home").mkdir()
    lab = JupyterLab(tmp_path / "root", tmp_path / "home")
    try:
        yield lab.start()
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver, which talks to the browser it is pointed at."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser(playwright: Playwright) -> Iterator[BrowserContext]:
    """Debian's headless Chromium with a fresh profile; fails if it is missing."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "chromium: not on PATH; run scripts/ensure-chromium.sh (as root it "
            "installs Debian's chromium package), then run the tests again"
        )
    with tempfile.TemporaryDirectory(prefix="opskit-chromium-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Add the server's log and a screenshot to a failed browser test's report."""
    report: pytest.TestReport = yield
    if not report.failed:
        return report
    fixtures = getattr(item, "funcargs", {})
    lab, context = fixtures.get("jupyter_lab"), fixtures.get("browser")

    if isinstance(lab, JupyterLab):
        report.sections.append(("JupyterLab log", lab.log_text()))
    if isinstance(context, BrowserContext) and context.pages:
        try:
            path = save_failure_screenshot(context.pages[-1], item.name)
        except PlaywrightError as exc:
            report.sections.append(("browser", f"no screenshot: {exc}"))
        else:
            report.sections.append(("browser", f"the page at failure: {path}"))
    return report


def save_failure_screenshot(page: Page, test_name: str) -> Path:
    """Photograph ``page`` as build/screenshots/failed-<test name>.png."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name).strip("-")
    path = SCREENSHOTS / f"failed-{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True)
    return path
