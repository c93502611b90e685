"""The pipeline health page's data: streaming progress, quarantine counts, data-quality results.

The progress comes from the JSON files lakehouse/progress.py's listener writes under
<storage root>/_progress; silver/quarantine and gold/data_quality are Delta tables read with
deltalake. Apart from the loaders, every function is pure and tested without Streamlit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from dashboard.data import read_table

logger = logging.getLogger(__name__)

# Spark reports an idle query at most every spark.sql.streaming.noDataProgressEventInterval
# (10 s by default), so a query is called stale only after several of whichever is longer:
# that interval or its trigger interval.
NO_DATA_EVENT_SECONDS = 10.0
DEFAULT_STALE_AFTER_TRIGGERS = 3

PROGRESS_COLUMNS = (
    "query",
    "status",
    "last_progress_at",
    "seconds_since_report",
    "batch_id",
    "num_input_rows",
    "input_rows_per_second",
    "processed_rows_per_second",
    "batch_duration_seconds",
    "watermark",
    "state_rows",
)
QUALITY_COLUMNS = (
    "status",
    "suite",
    "table_name",
    "expectation",
    "column_name",
    "unexpected_count",
    "element_count",
    "unexpected_percent",
    "observed_value",
    "action",
    "checked_at",
    "source",
    "batch_id",
)
QUALITY_KEY = ["suite", "expectation", "column_name"]
FAILED = "FAILED"
PASSED = "passed"
FAILURE_STYLE = "background-color: rgba(255, 43, 43, 0.18)"


def interval_seconds(interval: str) -> float:
    """A Spark trigger interval such as '10 seconds' or '1 minute', in seconds."""
    return pd.Timedelta(interval).total_seconds()


def stale_after_seconds(
    trigger_interval: str, triggers: int = DEFAULT_STALE_AFTER_TRIGGERS
) -> float:
    """How long a query may stay silent before it is shown as stale."""
    return triggers * max(interval_seconds(trigger_interval), NO_DATA_EVENT_SECONDS)


def _timestamp(value: Any) -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def query_status(record: dict[str, Any], now: pd.Timestamp, stale_after: float) -> str:
    """stopped or failed once terminated; stale when silent longer than stale_after seconds;
    else idle (no new data at its last report) or running."""
    if record.get("terminated_at"):
        return "failed" if record.get("exception") else "stopped"
    reported = _timestamp(record.get("reported_at"))
    if reported is None or (now - reported).total_seconds() > stale_after:
        return "stale"
    return "idle" if record.get("idle_at") else "running"


def progress_table(
    records: Sequence[dict[str, Any]], now: pd.Timestamp, stale_after: float
) -> pd.DataFrame:
    """One row per query (PROGRESS_COLUMNS), from the progress files' records.

    last_progress_at is the start of the query's last micro-batch; seconds_since_report
    counts from the listener's last word on the query (a batch, idle or stop event).
    """
    rows = []
    for record in records:
        reported = _timestamp(record.get("reported_at"))
        duration_ms = record.get("batch_duration_ms")
        rows.append(
            {
                "query": record.get("name") or record.get("id"),
                "status": query_status(record, now, stale_after),
                "last_progress_at": _timestamp(record.get("timestamp")),
                "seconds_since_report": (
                    None if reported is None else (now - reported).total_seconds()
                ),
                "batch_id": record.get("batch_id"),
                "num_input_rows": record.get("num_input_rows"),
                "input_rows_per_second": record.get("input_rows_per_second"),
                "processed_rows_per_second": record.get("processed_rows_per_second"),
                "batch_duration_seconds": None if duration_ms is None else duration_ms / 1000.0,
                "watermark": _timestamp(record.get("watermark")),
                "state_rows": record.get("state_rows"),
            }
        )
    table = pd.DataFrame(rows, columns=list(PROGRESS_COLUMNS))
    for column in ("last_progress_at", "watermark"):
        table[column] = pd.to_datetime(table[column], utc=True)
    for column in ("batch_id", "num_input_rows", "state_rows"):
        table[column] = table[column].astype("Int64")
    for column in (
        "seconds_since_report",
        "input_rows_per_second",
        "processed_rows_per_second",
        "batch_duration_seconds",
    ):
        table[column] = table[column].astype("float64")
    return table


def load_quarantine(path: str) -> pd.DataFrame | None:
    """silver/quarantine, only the reason and time of each row."""
    return read_table(path, columns=("reason", "quarantined_at"))


def quarantine_counts(quarantine: pd.DataFrame) -> pd.DataFrame:
    """reason, rows, last_quarantined_at: one row per reason, the most frequent first."""
    counts = quarantine.groupby("reason", as_index=False, dropna=False).agg(
        rows=("reason", "size"), last_quarantined_at=("quarantined_at", "max")
    )
    counts["rows"] = counts["rows"].astype("int64")
    counts = counts.sort_values(["rows", "reason"], ascending=[False, True], kind="mergesort")
    return counts.reset_index(drop=True)


def load_data_quality(path: str) -> pd.DataFrame | None:
    """gold/data_quality: one row per expectation checked, per check run.

    Known cost: the whole history is read to find each expectation's latest result; it grows
    by a few rows per micro-batch. A retention (or a latest-results table) would bound it.
    """
    return read_table(path)


def latest_quality_results(results: pd.DataFrame) -> pd.DataFrame:
    """The latest result of each (suite, expectation, column_name), failures first.

    "Latest" is the newest checked_at, then the highest batch_id. A null column_name (an
    expectation on the whole table) is a key of its own. status is FAILED or passed.
    """
    ordered = results.sort_values(["checked_at", "batch_id"], kind="mergesort")
    latest = ordered.drop_duplicates(subset=QUALITY_KEY, keep="last").copy()
    success = latest["success"].astype("boolean").fillna(False)
    latest["status"] = success.map({True: PASSED, False: FAILED}).astype("str")
    latest["failed"] = ~success
    latest = latest.sort_values(
        ["failed", *QUALITY_KEY], ascending=[False, True, True, True], na_position="first"
    )
    return latest.loc[:, list(QUALITY_COLUMNS)].reset_index(drop=True)


def failure_styles(results: pd.DataFrame) -> pd.DataFrame:
    """A CSS style per cell of latest_quality_results(): failed rows shaded red, others plain."""
    failed = results["status"] == FAILED
    styles = {column: failed.map({True: FAILURE_STYLE, False: ""}) for column in results}
    return pd.DataFrame(styles, index=results.index)


def highlight_failures(results: pd.DataFrame) -> Styler:
    """latest_quality_results() as a Styler with its failed rows shaded red."""
    return results.style.apply(lambda _: failure_styles(results), axis=None)
