"""Sessions: one row per session_id, built from all of that session's events.

A session runs from its earliest event to its `leave`, when the leave is its
last event. Without one it closes once no event has come for the inactivity
gap, measured on the data clock (the newest event_time the pipeline has seen),
so a replay of old data closes sessions exactly as a live run would.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

COUNTED_TYPES = {
    "heartbeats": "heartbeat",
    "product_views": "view_product",
    "likes": "like",
    "comments": "comment",
    "shares": "share",
    "product_clicks": "product_click",
    "cart_adds": "add_to_cart",
    "cart_removes": "remove_from_cart",
    "purchases": "purchase",
}


def _first_known(column: str) -> Column:
    """The column's value on the session's earliest event that has one."""
    order = F.when(F.col(column).isNotNull(), F.struct("event_time", "event_id"))
    return F.min_by(F.col(column), order).alias(column)


def _is_type(event_type: str) -> Column:
    return F.col("event_type") == event_type


def click_to_purchase_lags(events_df: DataFrame) -> DataFrame:
    """Per session, the lag in seconds of each purchase after the first click on its product.

    The first `product_click` on the same product in the same session at or
    before the purchase counts; where there is none, the first
    `view_product` does (sources such as REES46 have views, not clicks).
    Purchases with neither are left out.
    """
    purchases = events_df.where(_is_type("purchase")).select(
        "session_id", "product_id", "event_id", F.col("event_time").alias("purchase_time")
    )
    touches = events_df.where(F.col("event_type").isin("product_click", "view_product")).select(
        "session_id", "product_id", "event_type", F.col("event_time").alias("touch_time")
    )
    first_touch = (
        purchases.join(touches, ["session_id", "product_id"])
        .where(F.col("touch_time") <= F.col("purchase_time"))
        .groupBy("session_id", "event_id", "purchase_time")
        .agg(
            F.min(F.when(_is_type("product_click"), F.col("touch_time"))).alias("first_click"),
            F.min(F.when(_is_type("view_product"), F.col("touch_time"))).alias("first_view"),
        )
    )
    lag_seconds = (
        F.unix_micros("purchase_time") - F.unix_micros(F.coalesce("first_click", "first_view"))
    ) / 1e6
    return first_touch.groupBy("session_id").agg(
        F.sort_array(F.collect_list(lag_seconds)).alias("click_to_purchase_lags")
    )


def build_sessions(
    events_df: DataFrame, clock: datetime | Column, inactivity_gap_minutes: int
) -> DataFrame:
    """Viewer events (all events of the sessions to build) -> silver/sessions rows.

    clock is the data clock: sessions whose last event is at least the gap
    before it, and that have no leave, are closed at their last event.
    """
    viewer_events = events_df.where(F.col("session_id").isNotNull())
    counts = [F.count_if(_is_type(kind)).alias(name) for name, kind in COUNTED_TYPES.items()]
    purchase = _is_type("purchase")
    sessions = viewer_events.groupBy("session_id").agg(
        _first_known("stream_id"),
        _first_known("viewer_id"),
        _first_known("device_type"),
        _first_known("viewer_state"),
        F.min("event_time").alias("started_at"),
        F.max("event_time").alias("last_event_at"),
        F.max(F.when(_is_type("leave"), F.col("event_time"))).alias("last_leave_at"),
        F.count("*").alias("events"),
        *counts,
        F.coalesce(F.sum(F.when(purchase, F.col("quantity"))), F.lit(0))
        .cast("long")
        .alias("units"),
        F.coalesce(F.sum(F.when(purchase, F.col("price") * F.col("quantity"))), F.lit(0))
        .cast("decimal(18,2)")
        .alias("revenue"),
    )
    clock_column = clock if isinstance(clock, Column) else F.lit(clock).cast("timestamp")
    gap = F.make_dt_interval(mins=F.lit(inactivity_gap_minutes))
    timed_out = F.col("last_event_at") <= clock_column - gap
    lags = click_to_purchase_lags(viewer_events)
    # A leave ends the session only when nothing happened after it: a leave
    # sent before the viewer's join or heartbeats (a client bug, a skewed clock)
    # leaves the session open until the inactivity gap closes it.
    left_at = F.when(F.col("last_leave_at") >= F.col("last_event_at"), F.col("last_leave_at"))
    return (
        sessions.withColumn("left_at", left_at)
        .withColumn("is_closed", F.col("left_at").isNotNull() | timed_out)
        .withColumn(
            "ended_at",
            F.when(F.col("left_at").isNotNull(), F.col("left_at")).when(
                timed_out, F.col("last_event_at")
            ),
        )
        .join(lags, "session_id", "left")
        .withColumn(
            "click_to_purchase_lags",
            F.coalesce("click_to_purchase_lags", F.array().cast("array<double>")),
        )
        .withColumn("updated_at", F.current_timestamp())
        .select(*SESSION_COLUMNS)
    )


SESSION_COLUMNS = (
    "session_id",
    "stream_id",
    "viewer_id",
    "device_type",
    "viewer_state",
    "started_at",
    "last_event_at",
    "left_at",
    "ended_at",
    "is_closed",
    "events",
    *COUNTED_TYPES,
    "units",
    "revenue",
    "click_to_purchase_lags",
    "updated_at",
)
