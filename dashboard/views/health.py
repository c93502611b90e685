"""Pipeline health: each streaming query's latest progress, quarantine counts by reason, and
the latest data-quality results.

Reads the progress files of lakehouse/progress.py (<storage root>/_progress/*.json unless
[streaming] progress_dir says otherwise), silver/quarantine and gold/data_quality.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import common, health
from dashboard.data import format_time
from lakehouse import config, progress

STALE_STATUSES = ("stale", "failed")


def streaming_queries(settings: config.Settings) -> None:
    st.subheader("Streaming queries")
    folder = progress.progress_folder(settings)
    if not progress.is_local(folder):
        st.info(
            f"Streaming progress is kept in local files, and {folder} is not a local folder: "
            "set [streaming] progress_dir to a folder the jobs and the dashboard share."
        )
        return
    records = progress.read_progress(folder)
    if not records:
        st.info(
            "No streaming query has reported yet: the jobs write their progress to "
            f"{folder} once running."
        )
        return
    interval = settings.section("streaming").get("trigger_interval", "10 seconds")
    triggers = int(
        settings.section("dashboard").get(
            "stale_after_triggers", health.DEFAULT_STALE_AFTER_TRIGGERS
        )
    )
    stale_after = health.stale_after_seconds(interval, triggers)
    table = health.progress_table(records, pd.Timestamp.now(tz="UTC"), stale_after)
    troubled = table[table["status"].isin(STALE_STATUSES)]
    if troubled.empty:
        st.success(f"All {len(table)} queries reported within the last {stale_after:g} s.")
    else:
        listed = ", ".join(
            f"{q} ({s})" for q, s in zip(troubled["query"], troubled["status"], strict=True)
        )
        st.warning(f"Not reporting: {listed}. Stale means silent for more than {stale_after:g} s.")
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "seconds_since_report": st.column_config.NumberColumn(format="%.0f"),
            "input_rows_per_second": st.column_config.NumberColumn(format="%.1f"),
            "processed_rows_per_second": st.column_config.NumberColumn(format="%.1f"),
            "batch_duration_seconds": st.column_config.NumberColumn(format="%.2f"),
        },
    )


def quarantine(settings: config.Settings) -> None:
    st.subheader("Quarantine")
    rows = common.load_quarantine(settings.table(config.SILVER_QUARANTINE))
    if rows is None:
        common.waiting("no quarantine table yet (silver/quarantine).")
        return
    if rows.empty:
        st.success("Nothing quarantined: every message so far was a valid event.")
        return
    counts = health.quarantine_counts(rows)
    st.caption(f"Messages quarantined: {len(rows):,}, by the first rule they failed.")
    st.dataframe(counts, hide_index=True)
    st.bar_chart(counts, x="reason", y="rows", horizontal=True, sort="-rows")


def data_quality(settings: config.Settings) -> None:
    st.subheader("Data quality")
    results = common.load_data_quality(settings.table(config.GOLD_DATA_QUALITY))
    if results is None or results.empty:
        common.waiting(f"no data-quality results yet ({config.GOLD_DATA_QUALITY}).")
        return
    latest = health.latest_quality_results(results)
    failed = latest[latest["status"] == health.FAILED]
    checked = format_time(latest["checked_at"].max())
    if failed.empty:
        st.success(f"All {len(latest)} expectations passed at their latest check ({checked}).")
    else:
        st.error(
            f"{len(failed)} of {len(latest)} expectations failed at their latest check: "
            + ", ".join(sorted(set(failed["expectation"])))
        )
    st.dataframe(
        health.highlight_failures(latest),
        hide_index=True,
        column_config={"unexpected_percent": st.column_config.NumberColumn(format="%.2f")},
    )


@st.fragment(run_every=common.refresh_interval())
def health_view(settings: config.Settings) -> None:
    with common.errors_shown("the streaming queries"):
        streaming_queries(settings)
    with common.errors_shown("the quarantine counts"):
        quarantine(settings)
    with common.errors_shown("the data-quality results"):
        data_quality(settings)


st.title("Pipeline health")
health_view(common.load_settings())
