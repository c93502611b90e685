"""Live: the KPI tiles, active viewers and revenue per minute, the most engaged open sessions.

Reads gold/kpis, gold/streams, gold/viewers_per_minute, gold/live_activity (the
minutes gold has not counted yet), gold/fct_sessions and gold/predicted_conversions.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from dashboard import common, data
from lakehouse import config

TOP_SESSIONS = 10
# With all streams selected, the charts show this many minutes up to the newest.
ALL_STREAMS_CHART_MINUTES = 6 * 60


def per_minute_charts(settings: config.Settings, stream_id: str | None) -> None:
    """Active viewers and revenue per minute, for one stream or (recent minutes of) all."""
    window = ALL_STREAMS_CHART_MINUTES if stream_id is None else None
    st.subheader("Active viewers per minute")
    if stream_id is None:
        st.caption(f"All streams: the last {ALL_STREAMS_CHART_MINUTES // 60} hours of data.")
    viewers = common.load_viewers_per_minute(settings.table(config.GOLD_VIEWERS_PER_MINUTE))
    live_rows = common.load_live_viewers(
        settings.table(config.GOLD_LIVE_ACTIVITY), data.live_minutes_after(viewers)
    )
    viewers = data.with_live_minutes(viewers, live_rows)
    if viewers.empty:
        common.waiting("no viewer counts yet (gold/viewers_per_minute, gold/live_activity).")
    else:
        chart = data.viewers_chart_data(viewers, stream_id, recent_minutes=window)
        st.line_chart(chart, x_label="minute (UTC)", y_label="active viewers")
        st.caption(
            "The newest minutes come from the live query (gold/live_activity), seconds "
            "behind the stream, until gold/viewers_per_minute counts them."
        )

    st.subheader("Revenue (GMV) per minute")
    revenue = common.load_revenue_per_minute(settings.table(config.GOLD_VIEWERS_PER_MINUTE))
    if revenue is None:
        common.waiting("no revenue per minute yet (gold/viewers_per_minute).")
        return
    chart = data.per_minute_chart(revenue, "revenue", stream_id, recent_minutes=window)
    if chart.empty:
        st.info("No purchase yet.")
    else:
        st.bar_chart(chart, x_label="minute (UTC)", y_label="revenue")


def live_panels(settings: config.Settings, threshold: float) -> None:
    """The stream selector, the tiles, the charts and the sessions table."""
    refreshed_at = data.format_time(datetime.now(UTC))
    kpis = common.load_kpis(settings.table(config.GOLD_KPIS))
    if kpis is None or kpis.empty:
        common.waiting(f"no gold tables yet under {settings.root}")
        st.caption(f"Last checked {refreshed_at}.")
        return

    streams = common.load_streams(settings.table(config.GOLD_STREAMS))
    options = data.stream_options(kpis)
    scope = st.selectbox(
        "Stream", list(options), format_func=options.get, key="stream", bind="query-params"
    )
    row = data.kpi_row(kpis, scope)
    if row is None:
        common.waiting(f"no KPIs yet for {options[scope]}")
        return
    stream_id = None if scope == data.ALL_SCOPE else scope

    predictions = common.load_predicted_conversions(settings.table(config.GOLD_PREDICTIONS))
    common.show_tiles(data.kpi_tiles(row) + data.model_tiles(predictions, threshold, stream_id))
    live = ", ".join(data.live_streams(streams)) or "none"
    st.caption(
        f"Data as of {data.format_time(row['as_of'])} · last refresh {refreshed_at} · "
        f"live streams: {live}"
    )

    with common.errors_shown("the per-minute charts"):
        per_minute_charts(settings, stream_id)

    st.subheader("Most engaged open sessions")
    sessions = common.load_open_sessions(settings.table(config.GOLD_SESSIONS))
    if sessions is None:
        common.waiting("no sessions yet (gold/fct_sessions).")
    else:
        top = data.top_engaged_sessions(sessions, stream_id, TOP_SESSIONS)
        st.dataframe(top, hide_index=True)


@st.fragment(run_every=common.refresh_interval())
def live_view(settings: config.Settings, threshold: float) -> None:
    """Everything that comes from the tables; reruns on its own at the chosen interval."""
    with common.errors_shown("the live view"):
        live_panels(settings, threshold)


settings = common.load_settings()
high_intent_threshold = float(
    settings.section("model").get("high_intent_threshold", data.DEFAULT_HIGH_INTENT_THRESHOLD)
)
st.title("Live")
live_view(settings, high_intent_threshold)
