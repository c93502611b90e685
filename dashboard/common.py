"""What the dashboard's pages share: settings, cached loaders, the refresh interval, messages.

The loaders of data.py and health.py are wrapped in st.cache_data with a time-to-live of
[dashboard] refresh_seconds, so every open browser tab shares one read per table per
interval. Settings are read again on every run: LAKEHOUSE_ROOT and friends take effect
without a restart.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import streamlit as st

from dashboard import data, health
from lakehouse import config

logger = logging.getLogger(__name__)

DEFAULT_REFRESH_SECONDS = 10.0
# The sidebar's other refresh choices, in seconds; 0 pauses the refresh.
SLOWER_REFRESH_CHOICES = (30.0, 60.0, 300.0)
PAUSED = 0.0
REFRESH_KEY = "refresh_seconds"
TILES_PER_ROW = 4


def load_settings() -> config.Settings:
    return config.load_settings()


def configured_refresh_seconds(settings: config.Settings) -> float:
    """[dashboard] refresh_seconds: how often pages re-read the tables by default."""
    return float(settings.section("dashboard").get("refresh_seconds", DEFAULT_REFRESH_SECONDS))


def refresh_choices(configured: float) -> list[float]:
    """The configured interval, the slower standard ones, and PAUSED."""
    slower = [seconds for seconds in SLOWER_REFRESH_CHOICES if seconds > configured]
    return [configured, *slower, PAUSED]


def format_refresh(seconds: float) -> str:
    return "paused" if seconds == PAUSED else f"every {seconds:g} s"


def refresh_interval() -> float | None:
    """The interval chosen in the sidebar, or None when paused (for st.fragment run_every)."""
    chosen = st.session_state.get(REFRESH_KEY)
    if chosen is None:
        chosen = configured_refresh_seconds(load_settings())
    return None if chosen == PAUSED else float(chosen)


_TTL_SECONDS = configured_refresh_seconds(config.load_settings())
_cached = st.cache_data(ttl=_TTL_SECONDS, show_spinner=False)

load_kpis = _cached(data.load_kpis)
load_streams = _cached(data.load_streams)
load_viewers_per_minute = _cached(data.load_viewers_per_minute)
load_live_viewers = _cached(data.load_live_viewers)
load_revenue_per_minute = _cached(data.load_revenue_per_minute)
load_open_sessions = _cached(data.load_open_sessions)
load_predicted_conversions = _cached(data.load_predicted_conversions)
load_session_status = _cached(data.load_session_status)
load_rfm = _cached(data.load_rfm)
load_named_segments = _cached(data.load_named_segments)
load_quarantine = _cached(health.load_quarantine)
load_data_quality = _cached(health.load_data_quality)


def display_root(root: str) -> str:
    """The storage root as shown to people: relative to the project folder when inside it."""
    path = Path(root)
    if path.is_absolute() and path.is_relative_to(config.PROJECT_DIR):
        return str(path.relative_to(config.PROJECT_DIR))
    return root


def waiting(what: str) -> None:
    """The waiting-for-data message of a panel whose table does not exist yet."""
    st.info(f"Waiting for data: {what}")


@contextlib.contextmanager
def errors_shown(panel: str) -> Iterator[None]:
    """Show an unexpected failure of a panel as a short message instead of a stack trace.

    The full trace goes to the log; the rest of the page still renders.
    """
    try:
        yield
    except Exception as error:  # the page must stay up whatever a table holds
        logger.exception("showing %s failed", panel)
        st.error(f"Could not show {panel}: {type(error).__name__}: {error}")


def show_tiles(tiles: list[tuple[str, str]]) -> None:
    """One st.metric per (label, value), TILES_PER_ROW to a row."""
    for start in range(0, len(tiles), TILES_PER_ROW):
        row_tiles = tiles[start : start + TILES_PER_ROW]
        # zip stops at the shorter: the last row may hold fewer tiles than columns.
        for column, (label, value) in zip(st.columns(TILES_PER_ROW), row_tiles, strict=False):
            column.metric(label, value, border=True)
