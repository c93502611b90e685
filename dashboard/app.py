"""Live dashboard of the live-shopping lakehouse, over the gold Delta tables.

Reads gold/kpis, gold/streams, gold/viewers_per_minute, gold/fct_sessions and, once the model
job has written it, gold/predicted_conversions, with the deltalake package (never Spark), under
the storage root of conf/lakehouse.toml or LAKEHOUSE_ROOT. The page refreshes itself every
[dashboard] refresh_seconds. Run from the project folder:

    streamlit run dashboard/app.py --server.address 127.0.0.1 --server.headless true \
        --browser.gatherUsageStats false
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import streamlit as st

# `streamlit run` puts only this file's folder on sys.path and the project installs only the
# `lakehouse` package, so the project folder is added to import `dashboard.data`.
PROJECT_DIR = str(Path(__file__).resolve().parent.parent)
if PROJECT_DIR not in sys.path:
    sys.path.insert(0, PROJECT_DIR)

from dashboard import data  # noqa: E402
from lakehouse import config  # noqa: E402

logger = logging.getLogger(__name__)

TOP_SESSIONS = 10
# With all streams selected, the chart shows this many minutes up to the newest.
ALL_STREAMS_CHART_MINUTES = 6 * 60
TILES_PER_ROW = 4


def show_tiles(tiles: list[tuple[str, str]]) -> None:
    """One st.metric per (label, value), TILES_PER_ROW to a row."""
    for start in range(0, len(tiles), TILES_PER_ROW):
        row_tiles = tiles[start : start + TILES_PER_ROW]
        # zip stops at the shorter: the last row may hold fewer tiles than columns.
        for column, (label, value) in zip(st.columns(TILES_PER_ROW), row_tiles, strict=False):
            column.metric(label, value, border=True)


settings = config.load_settings()
refresh_seconds = float(settings.section("dashboard").get("refresh_seconds", 10))
# No config key exists yet for the high-intent threshold (SPEC: "threshold in config"); this
# reads [model] high_intent_threshold if one is added, else the SPEC's 0.5.
high_intent_threshold = float(
    settings.section("model").get("high_intent_threshold", data.DEFAULT_HIGH_INTENT_THRESHOLD)
)

logger.info("Dashboard over %s, refreshing every %g s", settings.root, refresh_seconds)

cached = st.cache_data(ttl=refresh_seconds, show_spinner=False)
load_kpis = cached(data.load_kpis)
load_streams = cached(data.load_streams)
load_viewers_per_minute = cached(data.load_viewers_per_minute)
load_open_sessions = cached(data.load_open_sessions)
load_predicted_conversions = cached(data.load_predicted_conversions)

st.set_page_config(page_title="Live-shopping lakehouse", layout="wide")
st.title("Live-shopping lakehouse")


@st.fragment(run_every=refresh_seconds)
def live_view(settings: config.Settings, refresh_seconds: float, threshold: float) -> None:
    """Everything that comes from the tables; reruns on its own every refresh_seconds."""
    refreshed_at = data.format_time(datetime.now(UTC))
    kpis = load_kpis(settings.table(config.GOLD_KPIS))
    if kpis is None or kpis.empty:
        st.info(f"Waiting for data: no gold tables yet under {settings.root}")
        st.caption(f"Last checked {refreshed_at}; checking again every {refresh_seconds:g} s.")
        return

    streams = load_streams(settings.table(config.GOLD_STREAMS))
    options = data.stream_options(kpis)
    scope = st.selectbox(
        "Stream", list(options), format_func=options.get, key="stream", bind="query-params"
    )
    row = data.kpi_row(kpis, scope)
    if row is None:
        st.info(f"Waiting for data: no KPIs yet for {options[scope]}")
        return
    stream_id = None if scope == data.ALL_SCOPE else scope

    predictions = load_predicted_conversions(settings.table(config.GOLD_PREDICTIONS))
    show_tiles(data.kpi_tiles(row) + data.model_tiles(predictions, threshold, stream_id))
    live = ", ".join(data.live_streams(streams)) or "none"
    st.caption(
        f"Data as of {data.format_time(row['as_of'])} · last refresh {refreshed_at} · "
        f"refreshes every {refresh_seconds:g} s · live streams: {live}"
    )

    st.subheader("Active viewers per minute")
    if stream_id is None:
        st.caption(f"All streams: the last {ALL_STREAMS_CHART_MINUTES // 60} hours of data.")
    viewers = load_viewers_per_minute(settings.table(config.GOLD_VIEWERS_PER_MINUTE))
    if viewers is None or viewers.empty:
        st.info("No viewer counts yet (gold/viewers_per_minute).")
    else:
        window = ALL_STREAMS_CHART_MINUTES if stream_id is None else None
        chart = data.viewers_chart_data(viewers, stream_id, recent_minutes=window)
        st.line_chart(chart, x_label="minute (UTC)", y_label="active viewers")

    st.subheader("Most engaged open sessions")
    sessions = load_open_sessions(settings.table(config.GOLD_SESSIONS))
    if sessions is None:
        st.info("No sessions yet (gold/fct_sessions).")
    else:
        top = data.top_engaged_sessions(sessions, stream_id, TOP_SESSIONS)
        st.dataframe(top, hide_index=True)


live_view(settings, refresh_seconds, high_intent_threshold)
