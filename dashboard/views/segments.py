"""Segments: customer segments with their sizes and revenue, R, F and M by segment, the RFM table.

Reads gold/rfm_analysis and gold/customer_segments_named (written by ml/train_segments.py).
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import common, data
from lakehouse import config

SUMMARY_CONFIG = {
    "share_of_viewers": st.column_config.NumberColumn("share_of_viewers", format="percent"),
    "revenue": st.column_config.NumberColumn("revenue", format="%.2f"),
    "avg_recency_days": st.column_config.NumberColumn("avg_recency_days", format="%.1f"),
    "avg_frequency": st.column_config.NumberColumn("avg_frequency", format="%.2f"),
    "avg_monetary": st.column_config.NumberColumn("avg_monetary", format="%.2f"),
    "avg_r_score": st.column_config.NumberColumn("avg_r_score", format="%.2f"),
    "avg_f_score": st.column_config.NumberColumn("avg_f_score", format="%.2f"),
    "avg_m_score": st.column_config.NumberColumn("avg_m_score", format="%.2f"),
}


def scores_chart(scores: pd.DataFrame) -> alt.Chart:
    """Grouped bars: for each segment, its mean R, F and M score side by side, in that order."""
    order = list(data.SCORE_LABELS.values())
    return (
        alt.Chart(scores)
        .mark_bar()
        .encode(
            x=alt.X("segment_name:N", title="segment", sort=None),
            xOffset=alt.XOffset("score:N", sort=order),
            y=alt.Y("mean:Q", title="mean score (1-5)", scale=alt.Scale(domain=[0, 5])),
            color=alt.Color("score:N", sort=order, title="score"),
            tooltip=["segment_name", "score", alt.Tooltip("mean:Q", format=".2f")],
        )
    )


def segments_panels(settings: config.Settings) -> None:
    rfm = common.load_rfm(settings.table(config.GOLD_RFM))
    if rfm is None:
        common.waiting("no RFM table yet (gold/rfm_analysis).")
        return
    named = common.load_named_segments(settings.table(config.GOLD_SEGMENTS_NAMED))
    if named is None:
        st.info(
            "Segments not trained yet (gold/customer_segments_named): "
            "scripts/submit.sh ml/train_segments.py names them. The RFM table is below."
        )
    else:
        summary = data.segment_summary(named)
        st.subheader("Segments")
        st.dataframe(summary, hide_index=True, column_config=SUMMARY_CONFIG)
        st.subheader("Mean R, F and M scores by segment")
        st.caption(
            "Scores are quintiles from 1 to 5, 5 best (most recent, most frequent, most spent)."
        )
        st.altair_chart(scores_chart(data.segment_scores_chart(summary)))

    st.subheader("RFM table")
    table = data.rfm_with_segments(rfm, named)
    chosen = st.multiselect(
        "Segment", data.choices(table, "segment_name"), key="rfm_segments", placeholder="All"
    )
    shown = data.filter_rows(table, {"segment_name": chosen})
    st.caption(f"{len(shown):,} of {len(table):,} viewers, biggest spenders first.")
    st.dataframe(
        shown,
        hide_index=True,
        column_config={"monetary": st.column_config.NumberColumn("monetary", format="%.2f")},
    )


@st.fragment(run_every=common.refresh_interval())
def segments_view(settings: config.Settings) -> None:
    """Reruns on its own at the chosen interval, keeping the segment filter."""
    with common.errors_shown("the customer segments"):
        segments_panels(settings)


st.title("Customer segments")
segments_view(common.load_settings())
