"""Retarget: the scored sessions without a purchase, filtered, sorted, downloadable as CSV.

Reads gold/predicted_conversions and, for each session's purchases and status,
gold/fct_sessions.
"""

from __future__ import annotations

import streamlit as st

from dashboard import common, data
from lakehouse import config

DEFAULT_SHOWN = 20
FILTER_LABELS = {
    "device_type": "Device type",
    "viewer_state": "Viewer state",
    "stream_id": "Stream",
}
SORT_LABELS = {
    "retarget_priority": "Retarget priority",
    "engagement_score": "Engagement score",
    "churn_risk": "Churn risk",
    "conversion_probability": "Conversion probability",
    "watch_minutes": "Watch time",
    "scored_at": "Scored at",
}
HIGHEST_FIRST = "Highest first"
LOWEST_FIRST = "Lowest first"
COLUMN_CONFIG = {
    "watch_minutes": st.column_config.NumberColumn("watch_minutes", format="%.1f"),
    "engagement_score": st.column_config.NumberColumn("engagement_score", format="%.1f"),
    "conversion_probability": st.column_config.NumberColumn(
        "conversion_probability", format="percent"
    ),
    "churn_risk": st.column_config.NumberColumn("churn_risk", format="percent"),
    "retarget_priority": st.column_config.NumberColumn("retarget_priority", format="%.2f"),
}


def retarget_panels(settings: config.Settings) -> None:
    predictions = common.load_predicted_conversions(settings.table(config.GOLD_PREDICTIONS))
    sessions = common.load_session_status(
        settings.table(config.GOLD_SESSIONS), settings.table(config.GOLD_PREDICTIONS)
    )
    if predictions is None or sessions is None:
        common.waiting(
            "no scored sessions yet (gold/predicted_conversions): the live stream scores "
            "sessions once a conversion model is registered."
        )
        return
    candidates = data.retarget_candidates(predictions, sessions)

    selections = {}
    for column, box in zip(data.RETARGET_FILTER_COLUMNS, st.columns(3), strict=True):
        selections[column] = box.multiselect(
            FILTER_LABELS[column],
            data.choices(candidates, column),
            key=f"retarget_{column}",
            placeholder="All",
        )
    sort_box, order_box, limit_box = st.columns(3)
    sort_by = sort_box.selectbox(
        "Sort by", data.RETARGET_SORT_COLUMNS, format_func=SORT_LABELS.get, key="retarget_sort"
    )
    order = order_box.radio(
        "Order", (HIGHEST_FIRST, LOWEST_FIRST), horizontal=True, key="retarget_order"
    )
    limit = int(
        limit_box.number_input(
            "Sessions shown", min_value=1, max_value=1000, value=DEFAULT_SHOWN, key="retarget_limit"
        )
    )

    matching = data.sort_sessions(
        data.filter_rows(candidates, selections), sort_by, descending=order == HIGHEST_FIRST
    )
    st.caption(
        f"{len(matching):,} of {len(candidates):,} sessions match the filters, sorted by "
        f"{SORT_LABELS[sort_by].lower()}, {order.lower()}; the table shows the first "
        f"{min(limit, len(matching)):,}, the CSV all of them."
    )
    st.dataframe(matching.head(limit), hide_index=True, column_config=COLUMN_CONFIG)
    st.download_button(
        f"Download {len(matching):,} sessions as CSV",
        # Built on click, not on every refresh: the CSV of every scored session is the
        # costliest part of this page (bench/results/bench.md).
        lambda: data.csv_bytes(matching),
        file_name="sessions_to_retarget.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
    )


st.title("Sessions to retarget")
st.caption(
    "Scored sessions that have not bought. Churn risk = 1 - conversion probability; retarget "
    "priority = engagement score x churn risk, so engaged viewers unlikely to buy on their own "
    "come first (docs/models.md)."
)


@st.fragment(run_every=common.refresh_interval())
def retarget_view(settings: config.Settings) -> None:
    """Reruns on its own at the chosen interval, keeping the filters and the sort."""
    with common.errors_shown("the sessions to retarget"):
        retarget_panels(settings)


retarget_view(common.load_settings())
