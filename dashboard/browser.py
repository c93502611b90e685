"""Serve the dashboard on loopback and open it in headless Chromium.

Used by the end-to-end test (tests/test_dashboard_browser.py) and by
scripts/dashboard_screenshot.py. Chromium is Debian's package (scripts/setup.sh installs it):
Playwright drives that binary, since it cannot download browsers of its own here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent.parent
APP = PROJECT_DIR / "dashboard" / "app.py"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
STARTUP_SECONDS = 90.0


def find_chromium() -> str | None:
    """The path of a Chromium binary on PATH, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def serve_dashboard(port: int, env: Mapping[str, str], log_path: Path) -> Iterator[str]:
    """Run `streamlit run dashboard/app.py` on 127.0.0.1:`port`; yield its URL once healthy.

    `env` is added to this process's environment (LAKEHOUSE_ROOT, MLFLOW_TRACKING_URI...).
    The server's output goes to `log_path`; the server is stopped on exit.
    """
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            command, cwd=PROJECT_DIR, env={**os.environ, **env}, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _healthy(url):
                if server.poll() is not None:
                    raise RuntimeError(f"the dashboard exited early; see {log_path}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the dashboard did not answer on {url}; see {log_path}")
                time.sleep(0.5)
            logger.info("dashboard up on %s", url)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@contextlib.contextmanager
def chromium_page(executable: str, width: int = 1400, height: int = 1000) -> Iterator[Page]:
    """A page of a headless Chromium started from `executable`, closed on exit."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            context = browser.new_context(
                viewport={"width": width, "height": height}, accept_downloads=True
            )
            yield context.new_page()
        finally:
            browser.close()


def wait_until_idle(page: Page, timeout_ms: float = 60_000) -> None:
    """Wait until Streamlit has finished its current run and no element is left stale.

    A new element shows while the run goes on: seeing it does not mean the elements below it
    are up to date yet.
    """
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')"
        "?.getAttribute('data-test-script-state') === 'notRunning'"
        " && !document.querySelector('[data-stale=\"true\"]')",
        timeout=timeout_ms,
    )


def fit_height_to_content(page: Page, width: int, minimum: int = 800) -> None:
    """Make the viewport as tall as the page's content, for a whole-page screenshot.

    Streamlit scrolls inside its main container, not the document, so a full-page screenshot
    alone would stop at the window's bottom.
    """
    page.set_viewport_size({"width": width, "height": minimum})
    page.wait_for_timeout(300)
    height = page.evaluate(
        "() => { const main = document.querySelector('[data-testid=\"stMain\"]');"
        " return main ? main.scrollHeight : document.body.scrollHeight; }"
    )
    page.set_viewport_size({"width": width, "height": max(minimum, int(height))})
    page.wait_for_timeout(500)
