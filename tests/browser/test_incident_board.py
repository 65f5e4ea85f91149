"""The incident board as a person meets it: JupyterLab in a real browser.

The notebook is opened in headless Chromium, run with Run > Run All Cells, and
the first step's Run button is clicked; the step must then appear in the
board's timeline. A screenshot of the page is saved under build/screenshots/.

Part of the default run and of ``make test``; the quick suite leaves it out:
    .venv/bin/pytest -m "not browser and not react"
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, Request

from tests.browser.conftest import SCREENSHOTS, JupyterLab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
INCIDENT_RESPONSE = ROOT / "notebooks" / "incident_response.ipynb"
BOARD_SMOKE = ROOT / "tests" / "fixtures" / "notebooks" / "board_smoke.ipynb"

# Timeouts in milliseconds, as Playwright counts them.
APP_TIMEOUT = 60_000
RUN_TIMEOUT = 90_000
STEP_TIMEOUT = 30_000
ERRORS = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
# The status bar's "Python 3 (ipykernel) | Idle": the notebook's toolbar says
# idle already while JupyterLab is still choosing a kernel ("No Kernel").
KERNEL_IDLE = re.compile(r"^(?!No Kernel\b).+ \| Idle$")
# True once the named element's text holds ``name`` more than ``seen`` times.
MENTIONED_MORE = """([selector, name, seen]) => {
    const element = document.querySelector(selector);
    return element !== null && element.innerText.split(name).length - 1 > seen;
}"""


def open_notebook(browser: BrowserContext, lab: JupyterLab, notebook: Path) -> Page:
    """Copy ``notebook`` to the server, open it and wait for an idle kernel."""
    if not notebook.exists():
        pytest.fail(f"{notebook.relative_to(ROOT)}: not found; the board test opens it")
    shutil.copy(notebook, lab.folder / notebook.name)
    page = browser.pages[0] if browser.pages else browser.new_page()

    page.goto(lab.url(f"lab/tree/{notebook.name}"))
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=APP_TIMEOUT)
    page.locator(".jp-NotebookPanel").wait_for(timeout=APP_TIMEOUT)
    status_bar = page.locator("#jp-main-statusbar .jp-StatusBar-TextItem")
    status_bar.filter(has_text=KERNEL_IDLE).wait_for(timeout=APP_TIMEOUT)
    return page


def run_all_cells(page: Page) -> None:
    """Run every cell from the menu bar, as a person would."""
    menu_bar = page.locator("#jp-MainMenu")
    menu_bar.get_by_role("menuitem", name="Run", exact=True).click()
    run_menu = page.locator("#jp-mainmenu-run")
    run_menu.get_by_text("Run All Cells", exact=True).click()


def tracebacks(page: Page) -> list[str]:
    """The text of every cell output that shows a Python traceback."""
    return failed_outputs(page).all_inner_texts()


def failed_outputs(page: Page) -> Locator:
    """Cell outputs that show a Python traceback."""
    return page.locator(ERRORS).filter(has_text="Traceback")


def wait_for_board(page: Page) -> Locator:
    """Wait until the board's first Run button shows, or a cell fails first."""
    first_run = page.locator(".opskit-run-step").first
    first_run.or_(failed_outputs(page)).first.wait_for(timeout=RUN_TIMEOUT)
    assert tracebacks(page) == []
    return first_run


def record_requests_off_loopback(browser: BrowserContext) -> list[str]:
    """A list that collects every address the pages ask for beyond 127.0.0.1."""
    addresses: list[str] = []

    def note(request: Request) -> None:
        if urlsplit(request.url).hostname not in (None, "127.0.0.1"):
            addresses.append(request.url)

    browser.on("request", note)
    return addresses


def mentions(timeline: Locator, name: str) -> int:
    """How often ``name`` appears in the timeline's text."""
    return timeline.inner_text().count(name)


@pytest.mark.parametrize(
    ("notebook", "screenshot"),
    [
        pytest.param(INCIDENT_RESPONSE, "incident-board.png", id="incident_response"),
        pytest.param(BOARD_SMOKE, "board-smoke.png", id="board_smoke"),
    ],
)
def test_running_a_step_from_the_board_adds_it_to_the_timeline(
    jupyter_lab: JupyterLab, browser: BrowserContext, notebook: Path, screenshot: str
) -> None:
    off_loopback = record_requests_off_loopback(browser)
    page = open_notebook(browser, jupyter_lab, notebook)
    run_all_cells(page)
    first_run = wait_for_board(page)
    name = page.locator(".opskit-step-name").first.inner_text().strip()
    timeline = page.locator(".opskit-timeline").first
    seen = mentions(timeline, name)

    assert first_run.inner_text().strip() == "Run"
    first_run.click()
    page.wait_for_function(
        MENTIONED_MORE, arg=[".opskit-timeline", name, seen], timeout=STEP_TIMEOUT
    )

    timeline.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / screenshot, full_page=True)
    assert (SCREENSHOTS / screenshot).stat().st_size > 0
    assert tracebacks(page) == []
    assert off_loopback == []
