"""Gold: the metrics the dashboard and the models read (docs/metrics.md defines each)."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.sessions import COUNTED_TYPES

# Engagement weights name event types; the session columns hold their counts.
COUNT_COLUMN_OF = {event_type: column for column, event_type in COUNTED_TYPES.items()}


def _midway(start: Column, end: Column) -> Column:
    half = F.floor((F.unix_micros(end) - F.unix_micros(start)) / 2).cast("long")
    return F.timestamp_micros(F.unix_micros(start) + half)


def streams(stream_events_df: DataFrame, known_streams_df: DataFrame | None = None) -> DataFrame:
    """stream_start / stream_end events -> one row per stream with its mid-point.

    The mid-point uses the stream_end time once it came, the scheduled end
    while the stream is live. known_streams_df: rows of an earlier call; their
    streams are updated with the new events (first start, latest scheduled
    end, first end), so a micro-batch only reads its own stream events.
    """
    is_start = F.col("event_type") == "stream_start"
    is_end = F.col("event_type") == "stream_end"
    bounds = stream_events_df.groupBy("stream_id").agg(
        F.min(F.when(is_start, F.col("event_time"))).alias("started_at"),
        F.max(F.when(is_start, F.col("scheduled_end"))).alias("scheduled_end"),
        F.min(F.when(is_end, F.col("event_time"))).alias("ended_at"),
    )
    if known_streams_df is not None:
        known = known_streams_df.join(bounds.select("stream_id"), "stream_id", "left_semi")
        bounds = (
            bounds.unionByName(known.select(*bounds.columns))
            .groupBy("stream_id")
            .agg(
                F.min("started_at").alias("started_at"),
                F.max("scheduled_end").alias("scheduled_end"),
                F.min("ended_at").alias("ended_at"),
            )
        )
    end = F.coalesce("ended_at", "scheduled_end")
    return bounds.select(
        "stream_id",
        "started_at",
        "scheduled_end",
        "ended_at",
        _midway(F.col("started_at"), end).alias("mid_point"),
        F.col("ended_at").isNull().alias("is_live"),
    )


def engagement_score(weights: dict[str, float]) -> Column:
    """Weighted sum of a session's interaction counts; weights keyed by event type."""
    unknown = set(weights) - set(COUNT_COLUMN_OF)
    if unknown:
        raise ValueError(f"engagement weights name unknown event types: {sorted(unknown)}")
    score = F.lit(0.0)
    for event_type, weight in sorted(weights.items()):
        score = score + F.lit(float(weight)) * F.col(COUNT_COLUMN_OF[event_type])
    return score


def session_facts(
    sessions_df: DataFrame, streams_df: DataFrame, weights: dict[str, float]
) -> DataFrame:
    """silver/sessions + gold/streams -> gold/fct_sessions."""
    mid = streams_df.select("stream_id", "mid_point")
    started_before_mid = F.col("started_at") < F.col("mid_point")
    ended_before_mid = F.coalesce(F.col("ended_at") < F.col("mid_point"), F.lit(False))
    return (
        sessions_df.join(mid, "stream_id", "left")
        .withColumn(
            "duration_seconds",
            (F.unix_micros("ended_at") - F.unix_micros("started_at")) / 1e6,
        )
        .withColumn("converted", F.col("purchases") > 0)
        .withColumn("started_before_mid", started_before_mid)
        .withColumn("dropped_off", F.when(started_before_mid, ended_before_mid))
        .withColumn("engagement_score", engagement_score(weights))
        .drop("mid_point")
    )


def viewers_per_minute(events_df: DataFrame) -> DataFrame:
    """Active viewers, purchases and revenue in each one-minute window, per stream.

    One row per stream and minute with an event carrying a viewer_id. A purchase is a viewer
    event (silver quarantines one without a viewer_id), so every minute with a purchase has
    its row. revenue sums price x quantity as silver/sessions does; 0 in a minute without
    purchases.
    """
    purchase = F.col("event_type") == "purchase"
    return (
        events_df.where(F.col("viewer_id").isNotNull())
        .withColumn("minute", F.date_trunc("minute", "event_time"))
        .groupBy("stream_id", "minute")
        .agg(
            F.count_distinct("viewer_id").alias("active_viewers"),
            F.count_if(purchase).cast("long").alias("purchases"),
            F.coalesce(F.sum(F.when(purchase, F.col("price") * F.col("quantity"))), F.lit(0))
            .cast("decimal(18,2)")
            .alias("revenue"),
        )
    )


def _kpi_aggregates() -> list[Column]:
    return [
        F.count("*").alias("total_sessions"),
        F.count_distinct("viewer_id").alias("unique_viewers"),
        F.count_if("converted").alias("converted_sessions"),
        F.try_divide(F.count_if("converted"), F.count("*")).alias("conversion_rate"),
        F.try_divide(F.count_if("dropped_off"), F.count("dropped_off")).alias("drop_off_rate"),
        F.avg(F.when(F.col("is_closed"), F.col("duration_seconds"))).alias(
            "avg_session_duration_seconds"
        ),
        F.avg("engagement_score").alias("avg_engagement_score"),
        # Sums over no sessions are 0, not null.
        F.coalesce(F.sum("purchases"), F.lit(0)).cast("long").alias("purchases"),
        F.coalesce(F.sum("revenue"), F.lit(0)).cast("decimal(18,2)").alias("revenue"),
        F.coalesce(F.sum("events"), F.lit(0)).cast("long").alias("events"),
    ]


def _lag_aggregates() -> list[Column]:
    return [
        F.avg("lag").alias("click_to_purchase_lag_mean_seconds"),
        F.percentile("lag", 0.5).alias("click_to_purchase_lag_median_seconds"),
    ]


KPI_COLUMNS = (
    "scope",
    "total_sessions",
    "unique_viewers",
    "converted_sessions",
    "conversion_rate",
    "drop_off_rate",
    "avg_session_duration_seconds",
    "click_to_purchase_lag_mean_seconds",
    "click_to_purchase_lag_median_seconds",
    "avg_engagement_score",
    "purchases",
    "revenue",
    "events",
    "as_of",
    "computed_at",
)


def kpis(fct_sessions_df: DataFrame, as_of: datetime | Column) -> DataFrame:
    """gold/fct_sessions -> the KPI tiles: one row for all streams, one per stream."""
    lags = fct_sessions_df.select("stream_id", F.explode("click_to_purchase_lags").alias("lag"))
    overall = fct_sessions_df.agg(*_kpi_aggregates()).crossJoin(lags.agg(*_lag_aggregates()))
    overall = overall.withColumn("scope", F.lit("all"))
    per_stream = (
        fct_sessions_df.groupBy("stream_id")
        .agg(*_kpi_aggregates())
        .join(lags.groupBy("stream_id").agg(*_lag_aggregates()), "stream_id", "left")
        .withColumnRenamed("stream_id", "scope")
    )
    as_of_column = as_of if isinstance(as_of, Column) else F.lit(as_of).cast("timestamp")
    return (
        overall.unionByName(per_stream)
        .withColumn("as_of", as_of_column)
        .withColumn("computed_at", F.current_timestamp())
        .select(*KPI_COLUMNS)
    )


def _score(order: Column) -> Column:
    """1-5 quintile score: ceil(5 x cumulative share) in `order`; ties share the higher score."""
    return F.ceil(F.lit(5) * F.cume_dist().over(Window.orderBy(order))).cast("int")


def rfm(fct_sessions_df: DataFrame, as_of: datetime | Column) -> DataFrame:
    """gold/fct_sessions -> recency, frequency, monetary and their 1-5 scores per viewer.

    recency_days counts whole days from the viewer's last session start to
    as_of; fewer days score higher.
    """
    as_of_column = as_of if isinstance(as_of, Column) else F.lit(as_of).cast("timestamp")
    per_viewer = (
        fct_sessions_df.where(F.col("viewer_id").isNotNull())
        .groupBy("viewer_id")
        .agg(
            F.max("started_at").alias("last_session_start"),
            F.count("*").alias("frequency"),
            F.sum("revenue").cast("decimal(18,2)").alias("monetary"),
        )
        .withColumn("as_of", as_of_column)
        .withColumn(
            "recency_days",
            F.floor(
                (F.unix_micros("as_of") - F.unix_micros("last_session_start")) / 86_400_000_000
            ).cast("int"),
        )
    )
    return (
        per_viewer.withColumn("r_score", _score(F.col("recency_days").desc()))
        .withColumn("f_score", _score(F.col("frequency").asc()))
        .withColumn("m_score", _score(F.col("monetary").asc()))
        .withColumn("rfm_score", F.concat_ws("", "r_score", "f_score", "m_score"))
        .select(
            "viewer_id",
            "last_session_start",
            "recency_days",
            "frequency",
            "monetary",
            "r_score",
            "f_score",
            "m_score",
            "rfm_score",
            "as_of",
        )
    )
