"""Screenshot one page of the dashboard, as the README shows it (docs/dashboard.png).

Serves dashboard/app.py on a free loopback port over the tables under --root (default: the
configured storage root, i.e. what `make demo` built), opens it in headless Chromium and saves
the whole page as PNG. Needs Debian's chromium (scripts/setup.sh installs it).

    .venv/bin/python scripts/dashboard_screenshot.py          # the Live page -> docs/dashboard.png
    .venv/bin/python scripts/dashboard_screenshot.py --page retarget --out /tmp/retarget.png
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from dashboard import browser  # noqa: E402
from lakehouse.broker import free_port  # noqa: E402
from lakehouse.config import load_settings  # noqa: E402

# Page name -> URL path (dashboard/app.py's url_path of each page).
PAGES = {
    "live": "",
    "retarget": "retarget",
    "segments": "segments",
    "model": "model",
    "health": "health",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="storage root of the tables (default: the configured one)")
    parser.add_argument("--page", choices=sorted(PAGES), default="live", help="default: live")
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "docs" / "dashboard.png")
    parser.add_argument("--width", type=int, default=1400, help="window width in pixels")
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(levelname)s %(name)s: %(message)s")

    chromium = browser.find_chromium()
    if chromium is None:
        parser.error("no chromium on PATH: run scripts/setup.sh (it installs Debian's chromium)")
    root = args.root or load_settings().root
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "streamlit.log"
        with (
            browser.serve_dashboard(free_port(), {"LAKEHOUSE_ROOT": root}, log) as url,
            browser.chromium_page(chromium, width=args.width) as page,
        ):
            page.goto(f"{url}/{PAGES[args.page]}")
            page.get_by_test_id("stHeading").first.wait_for(timeout=60_000)
            # Charts draw after their data arrives; give them a moment after the run ends.
            browser.wait_until_idle(page)
            page.wait_for_timeout(2_000)
            browser.fit_height_to_content(page, args.width)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
    logging.info("saved %s (page %s, tables under %s)", args.out, args.page, root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
