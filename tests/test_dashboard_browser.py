"""End to end: the dashboard served by `streamlit run` on loopback, in headless Chromium.

The gold tables are written with deltalake (no Spark) into a temporary storage root. The test
reads the KPI values back from gold/kpis and gold/predicted_conversions and compares them with
the tiles the browser shows, then filters and sorts the Retarget page and checks the CSV it
downloads. Screenshots of both pages go to the test's temporary folder.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from deltalake import DeltaTable

from dashboard import browser
from lakehouse.broker import free_port
from tests.test_dashboard_app import (
    expected_candidates,
    write_gold_tables,
    write_predictions,
)

CHROMIUM = browser.find_chromium()
WIDTH = 1400
TIMEOUT_MS = 60_000

NO_CHROMIUM = "no chromium binary on PATH: scripts/setup.sh installs Debian's chromium"


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def percent(share: float) -> str:
    return f"{share * 100:.1f} %"


def expected_tiles(root: Path) -> dict[str, str]:
    """The tiles of the `all` scope, straight from the gold tables as the test wrote them."""
    kpis = DeltaTable(str(root / "gold" / "kpis")).to_pandas()
    row = kpis[kpis["scope"] == "all"].iloc[0]
    scores = DeltaTable(str(root / "gold" / "predicted_conversions")).to_pandas()
    probabilities = scores["conversion_probability"]
    return {
        "Total sessions": f"{row['total_sessions']:,}",
        "Unique viewers": f"{row['unique_viewers']:,}",
        "Conversion rate": percent(row["conversion_rate"]),
        "Drop-off rate": percent(row["drop_off_rate"]),
        "Avg session duration": minutes(row["avg_session_duration_seconds"]),
        "Click-to-purchase lag (mean)": minutes(row["click_to_purchase_lag_mean_seconds"]),
        "Click-to-purchase lag (median)": minutes(row["click_to_purchase_lag_median_seconds"]),
        "Avg engagement score": f"{row['avg_engagement_score']:.1f}",
        "Purchases": f"{row['purchases']:,}",
        "Revenue": f"{Decimal(row['revenue']):,.2f}",
        "Avg predicted conversion": percent(probabilities.mean()),
        "High-intent sessions": str(int((probabilities >= 0.5).sum())),
    }


def shown_tiles(page) -> dict[str, str]:
    tiles = {}
    for metric in page.get_by_test_id("stMetric").all():
        label = metric.get_by_test_id("stMetricLabel").inner_text().strip()
        tiles[label] = metric.get_by_test_id("stMetricValue").inner_text().strip()
    return tiles


def choose(page, combobox: str, option: str) -> None:
    """Pick an option of a selectbox or multiselect by the widget's label."""
    page.get_by_role("combobox", name=combobox).click()
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_dashboard_in_chromium_shows_gold_kpis_and_filters_and_sorts(tmp_path, monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_CONF", raising=False)
    root = tmp_path / "lakehouse"
    write_gold_tables(root)
    write_predictions(root)
    env = {
        "LAKEHOUSE_ROOT": str(root),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }

    with (
        browser.serve_dashboard(free_port(), env, tmp_path / "streamlit.log") as url,
        browser.chromium_page(CHROMIUM, width=WIDTH) as page,
    ):
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.get_by_test_id("stMetric").nth(11).wait_for()
        browser.wait_until_idle(page)
        assert shown_tiles(page) == expected_tiles(root)
        browser.fit_height_to_content(page, WIDTH)
        page.screenshot(path=str(tmp_path / "live.png"))

        page.get_by_role("link", name="Retarget").click()
        caption = page.get_by_text("sessions match the filters")
        caption.wait_for()
        assert caption.inner_text().startswith("4 of 4 sessions match")

        choose(page, "Device type", "mobile")
        page.get_by_text("2 of 4 sessions match").wait_for()
        choose(page, "Sort by", "Engagement score")
        page.get_by_text("sorted by engagement score, highest first").wait_for()
        page.get_by_text("Lowest first", exact=True).click()
        page.get_by_text("sorted by engagement score, lowest first").wait_for()
        browser.wait_until_idle(page)

        with page.expect_download() as download:
            page.get_by_role("button", name="Download 2 sessions as CSV").click()
        downloaded = Path(download.value.path()).read_text()
        # The mobile sessions without a purchase, a (engagement 12.5) then e (15.0).
        assert downloaded == expected_candidates(["a", "e"]).to_csv(index=False)
        browser.fit_height_to_content(page, WIDTH)
        page.screenshot(path=str(tmp_path / "retarget.png"))

    for name in ("live.png", "retarget.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
