"""Read the gold Delta tables for the dashboard, and shape them for its panels.

The loaders read with the `deltalake` package (no Spark) and return a pandas DataFrame, or
None while the table has not been written yet. The other functions are pure: DataFrames in,
DataFrames or display values out, so they are tested without Streamlit. docs/tables.md is
the contract of the tables read here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pandas as pd
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

logger = logging.getLogger(__name__)

ALL_SCOPE = "all"
NOT_AVAILABLE = "n/a"
MODEL_NOT_TRAINED = "model not trained yet"

DEFAULT_HIGH_INTENT_THRESHOLD = 0.5

OPEN_SESSION_COLUMNS = (
    "session_id",
    "stream_id",
    "viewer_id",
    "device_type",
    "viewer_state",
    "started_at",
    "last_event_at",
    "events",
    "product_clicks",
    "cart_adds",
    "purchases",
    "engagement_score",
)


def read_table(
    path: str, columns: Sequence[str] | None = None, filters: Any = None
) -> pd.DataFrame | None:
    """Read a Delta table into pandas; None when no table exists at `path` yet.

    `filters` takes deltalake's DNF form, e.g. [("is_closed", "=", False)].
    """
    try:
        table = DeltaTable(path)
    except TableNotFoundError:
        logger.info("No Delta table yet at %s", path)
        return None
    frame = table.to_pandas(columns=list(columns) if columns else None, filters=filters)
    logger.info("Read %d rows from %s", len(frame), path)
    return frame


def load_kpis(path: str) -> pd.DataFrame | None:
    """gold/kpis: one row per scope (`all` or a stream_id)."""
    return read_table(path)


def load_streams(path: str) -> pd.DataFrame | None:
    """gold/streams: one row per stream."""
    return read_table(path, columns=("stream_id", "is_live"))


def load_viewers_per_minute(path: str) -> pd.DataFrame | None:
    """gold/viewers_per_minute: active viewers per stream and minute."""
    return read_table(path, columns=("stream_id", "minute", "active_viewers"))


def load_open_sessions(path: str) -> pd.DataFrame | None:
    """gold/fct_sessions, only the sessions still open and the columns the table panel shows.

    The filter runs in pandas: deltalake 1.6 pushes a boolean filter down to file
    statistics, and Spark's Delta writer keeps no min/max for booleans, so
    [("is_closed", "=", False)] read no rows of a table Spark had written.
    """
    sessions = read_table(path, columns=(*OPEN_SESSION_COLUMNS, "is_closed"))
    if sessions is None:
        return None
    open_sessions = sessions[~sessions["is_closed"].fillna(True).astype(bool)]
    return open_sessions.drop(columns="is_closed").reset_index(drop=True)


def load_predicted_conversions(path: str) -> pd.DataFrame | None:
    """gold/predicted_conversions: the model's conversion probability per session."""
    return read_table(path)


def kpi_row(kpis: pd.DataFrame, scope: str) -> pd.Series | None:
    """The KPI row of one scope (`all` or a stream_id), or None if there is none."""
    rows = kpis[kpis["scope"] == scope]
    if rows.empty:
        return None
    return rows.iloc[0]


def stream_options(kpis: pd.DataFrame) -> dict[str, str]:
    """Selector options as scope -> label: all streams first, then each stream by id.

    Labels stay the bare stream ids: the selector is bound to the URL by its label.
    """
    options = {ALL_SCOPE: "All streams"}
    for scope in sorted(s for s in kpis["scope"].dropna().unique() if s != ALL_SCOPE):
        options[scope] = scope
    return options


def live_streams(streams: pd.DataFrame | None) -> list[str]:
    """The ids of the streams gold/streams marks as live, sorted; none before it exists."""
    if streams is None:
        return []
    return sorted(streams.loc[streams["is_live"].fillna(False).astype(bool), "stream_id"])


def seconds_to_minutes(seconds: float | None) -> float | None:
    """Seconds as minutes; None stays None (e.g. no closed session yet)."""
    if seconds is None or pd.isna(seconds):
        return None
    return float(seconds) / 60.0


def format_count(value: Any) -> str:
    """A count with thousands separators: 12345 -> '12,345'."""
    if value is None or pd.isna(value):
        return NOT_AVAILABLE
    return f"{int(value):,}"


def format_rate(value: Any) -> str:
    """A share as a percentage with one decimal: 0.2904 -> '29.0 %'."""
    if value is None or pd.isna(value):
        return NOT_AVAILABLE
    return f"{float(value) * 100:.1f} %"


def format_minutes(seconds: Any) -> str:
    """A duration given in seconds, as minutes with one decimal: 2184 -> '36.4 min'."""
    minutes = seconds_to_minutes(seconds)
    if minutes is None:
        return NOT_AVAILABLE
    return f"{minutes:.1f} min"


def format_score(value: Any) -> str:
    """A score with one decimal: 15.24 -> '15.2'."""
    if value is None or pd.isna(value):
        return NOT_AVAILABLE
    return f"{float(value):.1f}"


def format_money(value: Any) -> str:
    """An amount with two decimals and thousands separators: Decimal('1234.5') -> '1,234.50'."""
    if value is None or pd.isna(value):
        return NOT_AVAILABLE
    return f"{Decimal(str(value)):,.2f}"


def format_time(moment: Any) -> str:
    """A timestamp as UTC to the second: '2026-12-04 15:00:07 UTC'."""
    if moment is None or pd.isna(moment):
        return NOT_AVAILABLE
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


def kpi_tiles(row: pd.Series) -> list[tuple[str, str]]:
    """The KPI tiles of one gold/kpis row, as (label, displayed value) in display order."""
    return [
        ("Total sessions", format_count(row["total_sessions"])),
        ("Unique viewers", format_count(row["unique_viewers"])),
        ("Conversion rate", format_rate(row["conversion_rate"])),
        ("Drop-off rate", format_rate(row["drop_off_rate"])),
        ("Avg session duration", format_minutes(row["avg_session_duration_seconds"])),
        ("Click-to-purchase lag (mean)", format_minutes(row["click_to_purchase_lag_mean_seconds"])),
        (
            "Click-to-purchase lag (median)",
            format_minutes(row["click_to_purchase_lag_median_seconds"]),
        ),
        ("Avg engagement score", format_score(row["avg_engagement_score"])),
        ("Purchases", format_count(row["purchases"])),
        ("Revenue", format_money(row["revenue"])),
    ]


def model_tiles(
    predictions: pd.DataFrame | None, threshold: float, stream_id: str | None
) -> list[tuple[str, str]]:
    """The model's tiles: mean predicted conversion probability and high-intent sessions.

    `predictions` is None until the model job has written its table; `stream_id` None means
    all streams; a session is high-intent when its probability is at least `threshold`.
    """
    labels = ("Avg predicted conversion", "High-intent sessions")
    if predictions is None:
        return [(label, MODEL_NOT_TRAINED) for label in labels]
    if stream_id is not None:
        predictions = predictions[predictions["stream_id"] == stream_id]
    probabilities = predictions["conversion_probability"]
    mean = probabilities.mean() if len(probabilities) else None
    high_intent = int((probabilities >= threshold).sum())
    return [(labels[0], format_rate(mean)), (labels[1], format_count(high_intent))]


def viewers_chart_data(
    viewers: pd.DataFrame, stream_id: str | None, recent_minutes: int | None = None
) -> pd.DataFrame:
    """Active viewers per minute, one column per stream and one row per minute.

    A minute without a row for a stream had no active viewer on it, hence 0.
    recent_minutes keeps only the minutes that close to the newest one: streams
    years apart (a replay beside a live show) would otherwise flatten the chart.
    """
    if stream_id is not None:
        viewers = viewers[viewers["stream_id"] == stream_id]
    if recent_minutes is not None and not viewers.empty:
        newest = viewers["minute"].max()
        viewers = viewers[viewers["minute"] > newest - pd.Timedelta(minutes=recent_minutes)]
    chart = viewers.pivot_table(
        index="minute", columns="stream_id", values="active_viewers", aggfunc="sum", fill_value=0
    )
    chart = chart.sort_index().sort_index(axis=1).astype("int64")
    chart.columns.name = None
    return chart


def top_engaged_sessions(sessions: pd.DataFrame, stream_id: str | None, limit: int) -> pd.DataFrame:
    """The `limit` open sessions with the highest engagement score, highest first.

    Ties are broken by session_id so the table does not reshuffle between refreshes.
    """
    if stream_id is not None:
        sessions = sessions[sessions["stream_id"] == stream_id]
    ranked = sessions.sort_values(
        ["engagement_score", "session_id"], ascending=[False, True], na_position="last"
    )
    return ranked.head(limit).reset_index(drop=True)
