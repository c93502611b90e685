"""Read the lakehouse tables for the dashboard, and shape them for its Live, Retarget and
Segments pages (dashboard/health.py does the pipeline health page, model_info.py the model).

The loaders read with the `deltalake` package (no Spark) and return a pandas DataFrame, or
None while the table has not been written yet. The other functions are pure: DataFrames in,
DataFrames or display values out, so they are tested without Streamlit. docs/tables.md is
the contract of the tables read here.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
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


# Files written before conf/spark-defaults.conf set TIMESTAMP_MICROS hold Parquet INT96
# timestamps; decoding those straight to microseconds, the tables' unit, saves a pass
# through nanoseconds.
INT96_UNIT = "us"


def open_table(path: str) -> DeltaTable | None:
    """The Delta table at `path`; None when none exists there yet."""
    try:
        return DeltaTable(path)
    except TableNotFoundError:
        logger.info("No Delta table yet at %s", path)
        return None


def read_arrow(
    path: str, columns: Sequence[str] | None = None, filters: Any = None
) -> pa.Table | None:
    """Read a Delta table into Arrow; None when no table exists at `path` yet.

    `filters` takes deltalake's DNF form, e.g. [("event_type", "=", "purchase")], or a
    pyarrow expression.
    """
    table = open_table(path)
    if table is None:
        return None
    if filters is not None and not isinstance(filters, pc.Expression):
        filters = pq.filters_to_expression(filters)
    dataset = table.to_pyarrow_dataset(
        parquet_read_options=ds.ParquetReadOptions(coerce_int96_timestamp_unit=INT96_UNIT)
    )
    rows = dataset.to_table(columns=list(columns) if columns else None, filter=filters)
    logger.info("Read %d rows from %s", rows.num_rows, path)
    return rows


def read_table(
    path: str, columns: Sequence[str] | None = None, filters: Any = None
) -> pd.DataFrame | None:
    """Read a Delta table into pandas; None when no table exists at `path` yet.

    `filters` as for read_arrow().
    """
    rows = read_arrow(path, columns, filters)
    return None if rows is None else rows.to_pandas()


class FileRowsCache:
    """The rows read from each data file of a Delta table, kept from one refresh to the next.

    A Delta data file never changes once written, so read() scans only the files the table
    lists that it has not scanned yet, and reuses the rows of the others; the rows of files
    the table no longer lists (rewritten by a MERGE, overwritten, erased) are dropped. The
    result is what one scan of every file gives, rows in the same order. Known cost: the
    process keeps the rows read, per table, columns and condition, for as long as it runs.
    """

    def __init__(self) -> None:
        self._rows: dict[tuple[Any, ...], dict[str, pa.Table]] = {}
        self._lock = threading.Lock()

    def read(
        self,
        path: str,
        columns: Sequence[str],
        condition: pc.Expression | None = None,
        *,
        file_statistics: bool = True,
        dictionary_columns: Sequence[str] = (),
    ) -> pa.Table | None:
        """`columns` of the rows meeting `condition`; None when no table exists at `path` yet.

        file_statistics=False leaves out deltalake's per-file min/max, so only the Parquet
        footers' statistics skip data; needed for a condition on a boolean column (see
        load_open_sessions), allowed on unpartitioned tables only. dictionary_columns are
        decoded as dictionaries: a condition on them compares each distinct value once.
        """
        table = open_table(path)
        if table is None:
            return None
        dataset = table.to_pyarrow_dataset(
            parquet_read_options=ds.ParquetReadOptions(
                dictionary_columns=set(dictionary_columns),
                coerce_int96_timestamp_unit=INT96_UNIT,
            )
        )
        fragments = list(dataset.get_fragments())
        if not file_statistics:
            if table.metadata().partition_columns:
                raise ValueError(f"{path} is partitioned: its files need their statistics")
            fragments = [
                dataset.format.make_fragment(fragment.path, filesystem=dataset.filesystem)
                for fragment in fragments
            ]
        key = (path, tuple(columns), str(condition), file_statistics, tuple(dictionary_columns))

        def scan(fragment: ds.Fragment) -> pa.Table:
            return fragment.to_table(schema=dataset.schema, columns=list(columns), filter=condition)

        with self._lock:
            known = dict(self._rows.get(key, {}))
        new = [fragment for fragment in fragments if fragment.path not in known]
        with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
            known.update(zip([fragment.path for fragment in new], pool.map(scan, new), strict=True))
        listed = {fragment.path: known[fragment.path] for fragment in fragments}
        with self._lock:
            self._rows[key] = listed
        if listed:
            rows = pa.concat_tables(listed.values())
        else:
            rows = dataset.schema.empty_table().select(list(columns))
        logger.info(
            "Read %d rows from %s (%d of %d files scanned)",
            rows.num_rows,
            path,
            len(new),
            len(fragments),
        )
        return rows


_file_rows = FileRowsCache()


def load_kpis(path: str) -> pd.DataFrame | None:
    """gold/kpis: one row per scope (`all` or a stream_id)."""
    return read_table(path)


def load_streams(path: str) -> pd.DataFrame | None:
    """gold/streams: one row per stream."""
    return read_table(path, columns=("stream_id", "is_live"))


def load_viewers_per_minute(path: str) -> pd.DataFrame | None:
    """gold/viewers_per_minute: active viewers per stream and minute."""
    return read_table(path, columns=("stream_id", "minute", "active_viewers"))


def load_live_viewers(path: str, after: pd.Timestamp | None = None) -> pd.DataFrame | None:
    """gold/live_activity: (stream_id, minute, viewer_id) rows, of minutes after `after` only.

    The live query appends one row per stream, minute and session of each micro-batch;
    a viewer can be in several rows of a minute, so count viewers with nunique().
    """
    filters = None
    if after is not None:
        after = pd.Timestamp(after)
        after = after.tz_localize("UTC") if after.tzinfo is None else after
        filters = pc.field("minute") > pa.scalar(after.to_pydatetime(), pa.timestamp("us", "UTC"))
    return read_table(path, columns=("stream_id", "minute", "viewer_id"), filters=filters)


def load_open_sessions(path: str) -> pd.DataFrame | None:
    """gold/fct_sessions, only the sessions still open and the columns the table panel shows.

    A null is_closed counts as closed. The filter is not given to deltalake: deltalake 1.6
    prunes files on a boolean filter by their min/max, and Spark's Delta writer keeps none
    for booleans, so [("is_closed", "=", False)] read no rows of a table Spark had written.
    The Parquet footers do hold them: files without an open session are skipped there.
    """
    sessions = _file_rows.read(
        path,
        (*OPEN_SESSION_COLUMNS, "is_closed"),
        pc.equal(pc.field("is_closed"), pa.scalar(False)),
        file_statistics=False,
    )
    if sessions is None:
        return None
    return sessions.drop_columns("is_closed").to_pandas()


def load_predicted_conversions(path: str) -> pd.DataFrame | None:
    """gold/predicted_conversions: the model's conversion probability per session."""
    return read_table(path)


SESSION_STATUS_COLUMNS = ("session_id", "is_closed", "purchases")


def load_session_status(path: str, scored_path: str | None = None) -> pd.DataFrame | None:
    """gold/fct_sessions: whether each session is closed and how many purchases it made.

    With scored_path (gold/predicted_conversions), only the sessions scored there, all that
    retarget_candidates() needs; the status of every session is then kept between refreshes
    (FileRowsCache), so a refresh reads only the files fct_sessions added since the last.
    """
    scored = None if scored_path is None else read_arrow(scored_path, columns=("session_id",))
    if scored is None:
        return read_table(path, columns=SESSION_STATUS_COLUMNS)
    sessions = _file_rows.read(path, SESSION_STATUS_COLUMNS)
    if sessions is None:
        return None
    is_scored = pc.is_in(sessions["session_id"], value_set=scored["session_id"].combine_chunks())
    return sessions.filter(is_scored).to_pandas()


def load_revenue_per_minute(path: str) -> pd.DataFrame | None:
    """gold/viewers_per_minute: revenue (GMV) per stream and minute, minutes with purchases only.

    revenue is a float for charting (the tiles show gold/kpis' exact decimal total); rows go
    by stream_id, then minute.
    """
    rows = read_arrow(
        path, columns=("stream_id", "minute", "revenue"), filters=[("purchases", ">", 0)]
    )
    if rows is None:
        return None
    # Through text: Arrow's decimal to double cast can miss the nearest double (19.99 became
    # 19.990000000000002); parsing the decimal's text gives float(Decimal(value)).
    revenue = rows["revenue"].cast(pa.string()).cast(pa.float64())
    rows = rows.set_column(rows.schema.get_field_index("revenue"), "revenue", revenue)
    frame = rows.to_pandas()
    return frame.sort_values(["stream_id", "minute"]).reset_index(drop=True)


def load_rfm(path: str) -> pd.DataFrame | None:
    """gold/rfm_analysis: recency, frequency, monetary and their scores per viewer."""
    return read_table(path)


def load_named_segments(path: str) -> pd.DataFrame | None:
    """gold/customer_segments_named: each viewer's RFM figures, cluster and segment name."""
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


def format_decimals(value: Any, digits: int = 3) -> str:
    """A figure with a fixed number of decimals: 0.80687 -> '0.807'."""
    if value is None or pd.isna(value):
        return NOT_AVAILABLE
    return f"{float(value):.{digits}f}"


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


def per_minute_chart(
    frame: pd.DataFrame, value: str, stream_id: str | None, recent_minutes: int | None = None
) -> pd.DataFrame:
    """A per-minute figure with one column per stream and one row per minute.

    `frame` has stream_id, minute and the `value` column. A minute without a row for a stream
    counts 0. recent_minutes keeps only the minutes that close to the newest one: streams
    years apart (a replay beside a live show) would otherwise flatten the chart.
    """
    if stream_id is not None:
        frame = frame[frame["stream_id"] == stream_id]
    if recent_minutes is not None and not frame.empty:
        newest = frame["minute"].max()
        frame = frame[frame["minute"] > newest - pd.Timedelta(minutes=recent_minutes)]
    chart = frame.pivot_table(
        index="minute", columns="stream_id", values=value, aggfunc="sum", fill_value=0
    )
    chart = chart.sort_index().sort_index(axis=1)
    chart.columns.name = None
    return chart


def viewers_chart_data(
    viewers: pd.DataFrame, stream_id: str | None, recent_minutes: int | None = None
) -> pd.DataFrame:
    """Active viewers per minute (gold/viewers_per_minute), one column per stream."""
    chart = per_minute_chart(viewers, "active_viewers", stream_id, recent_minutes)
    return chart.astype("int64")


def live_minutes_after(viewers: pd.DataFrame | None) -> pd.Timestamp | None:
    """The earliest of each stream's newest minute in gold/viewers_per_minute.

    The live rows worth reading are those after it; None (read them all) while gold
    has no minute yet.
    """
    if viewers is None or viewers.empty:
        return None
    return viewers.groupby("stream_id")["minute"].max().min()


def with_live_minutes(viewers: pd.DataFrame | None, live: pd.DataFrame | None) -> pd.DataFrame:
    """gold's active viewers per minute, then the live query's for the minutes gold lacks.

    For each stream, the minutes after its newest one in gold/viewers_per_minute come from
    gold/live_activity (distinct viewers over its rows): seconds old instead of the minute
    or more the three layers take. Gold's own minutes are kept as they are: they are exact,
    where the live rows also count events silver quarantines as too late.
    """
    columns = ["stream_id", "minute", "active_viewers"]
    gold = pd.DataFrame(columns=columns) if viewers is None else viewers[columns]
    if live is None or live.empty:
        return gold
    newer = live
    if not gold.empty:
        cutoff = live["stream_id"].map(gold.groupby("stream_id")["minute"].max())
        newer = live[cutoff.isna() | (live["minute"] > cutoff)]
    counted = (
        newer.groupby(["stream_id", "minute"])["viewer_id"]
        .nunique()
        .rename("active_viewers")
        .reset_index()
    )
    if gold.empty:
        return counted
    return pd.concat([gold, counted], ignore_index=True)


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


RETARGET_COLUMNS = (
    "session_id",
    "stream_id",
    "viewer_id",
    "device_type",
    "viewer_state",
    "status",
    "watch_minutes",
    "engagement_score",
    "conversion_probability",
    "churn_risk",
    "retarget_priority",
    "scored_at",
)
# What the Retarget page can sort by; retarget_priority (engagement x churn risk) first.
RETARGET_SORT_COLUMNS = (
    "retarget_priority",
    "engagement_score",
    "churn_risk",
    "conversion_probability",
    "watch_minutes",
    "scored_at",
)
RETARGET_FILTER_COLUMNS = ("device_type", "viewer_state", "stream_id")


def retarget_candidates(predictions: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """The scored sessions without a purchase, with their status, in RETARGET_COLUMNS.

    `predictions` is gold/predicted_conversions, `sessions` load_session_status(). A session
    that has bought is nobody's target; one gold/fct_sessions does not know (yet) is kept,
    with status "unknown". Open sessions can still be nudged during the show, closed ones
    afterwards. Row order is left to sort_sessions().
    """
    merged = predictions.merge(sessions, on="session_id", how="left")
    merged = merged[merged["purchases"].fillna(0) == 0].copy()
    merged["status"] = merged["is_closed"].map({True: "closed", False: "open"}).fillna("unknown")
    merged["watch_minutes"] = merged["watch_seconds"] / 60.0
    return merged.loc[:, list(RETARGET_COLUMNS)].reset_index(drop=True)


def choices(frame: pd.DataFrame, column: str) -> list[str]:
    """The distinct non-null values of a column, sorted: the options of a filter."""
    return sorted(str(value) for value in frame[column].dropna().unique())


def filter_rows(frame: pd.DataFrame, selections: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Rows whose value in each column is one of the selected ones; an empty selection keeps all."""
    keep = pd.Series(True, index=frame.index)
    for column, selected in selections.items():
        if selected:
            keep &= frame[column].isin(list(selected))
    return frame[keep].reset_index(drop=True)


def sort_sessions(frame: pd.DataFrame, by: str, descending: bool = True) -> pd.DataFrame:
    """Sessions sorted on one column, nulls last; ties by session_id so the order is stable."""
    ordered = frame.sort_values(
        [by, "session_id"], ascending=[not descending, True], na_position="last", kind="mergesort"
    )
    return ordered.reset_index(drop=True)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as UTF-8 CSV with a header and no index, for a download button."""
    return frame.to_csv(index=False).encode("utf-8")


NOT_SEGMENTED = "not segmented yet"
RFM_COLUMNS = (
    "viewer_id",
    "segment_name",
    "rfm_score",
    "r_score",
    "f_score",
    "m_score",
    "recency_days",
    "frequency",
    "monetary",
    "last_session_start",
)


def rfm_with_segments(rfm: pd.DataFrame, named: pd.DataFrame | None) -> pd.DataFrame:
    """gold/rfm_analysis with each viewer's segment name, biggest spenders first.

    A viewer the segment job has not scored yet (or every viewer, before its first run) gets
    NOT_SEGMENTED. monetary becomes a float for display and sorting.
    """
    frame = rfm.copy()
    if named is None:
        frame["segment_name"] = NOT_SEGMENTED
    else:
        frame = frame.merge(named[["viewer_id", "segment_name"]], on="viewer_id", how="left")
        frame["segment_name"] = frame["segment_name"].fillna(NOT_SEGMENTED)
    frame["monetary"] = frame["monetary"].astype("float64")
    frame = frame.sort_values(["monetary", "viewer_id"], ascending=[False, True], kind="mergesort")
    return frame.loc[:, list(RFM_COLUMNS)].reset_index(drop=True)


def segment_summary(named: pd.DataFrame) -> pd.DataFrame:
    """One row per segment: its size, share of viewers, revenue and mean R, F, M figures.

    revenue is the sum of the members' monetary; rows go by revenue, highest first.
    """
    frame = named.assign(monetary=named["monetary"].astype("float64"))
    summary = frame.groupby("segment_name", as_index=False).agg(
        viewers=("viewer_id", "count"),
        revenue=("monetary", "sum"),
        avg_recency_days=("recency_days", "mean"),
        avg_frequency=("frequency", "mean"),
        avg_monetary=("monetary", "mean"),
        avg_r_score=("r_score", "mean"),
        avg_f_score=("f_score", "mean"),
        avg_m_score=("m_score", "mean"),
    )
    summary.insert(2, "share_of_viewers", summary["viewers"] / summary["viewers"].sum())
    summary = summary.sort_values(
        ["revenue", "segment_name"], ascending=[False, True], kind="mergesort"
    )
    return summary.reset_index(drop=True)


SCORE_LABELS = {"avg_r_score": "R", "avg_f_score": "F", "avg_m_score": "M"}


def segment_scores_chart(summary: pd.DataFrame) -> pd.DataFrame:
    """segment_name, score (R, F or M), mean: the long form of the mean scores by segment."""
    chart = summary.melt(
        id_vars="segment_name", value_vars=list(SCORE_LABELS), var_name="score", value_name="mean"
    )
    chart["score"] = chart["score"].map(SCORE_LABELS)
    return chart
