"""Unit tests of lakehouse/sessions.py on hand-made silver events.

Every expected row is worked out by hand from the events next to it; updated_at
(the time of the computation) is the only column left out of the comparisons.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from lakehouse.sessions import COUNTED_TYPES, build_sessions, click_to_purchase_lags

GAP_MINUTES = 30

EVENT_SCHEMA = T.StructType(
    [
        T.StructField("event_id", T.StringType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("event_time", T.TimestampType()),
        T.StructField("stream_id", T.StringType()),
        T.StructField("session_id", T.StringType()),
        T.StructField("viewer_id", T.StringType()),
        T.StructField("device_type", T.StringType()),
        T.StructField("viewer_state", T.StringType()),
        T.StructField("product_id", T.StringType()),
        T.StructField("price", T.DecimalType(10, 2)),
        T.StructField("quantity", T.IntegerType()),
        T.StructField("order_id", T.StringType()),
    ]
)


def at(clock: str) -> datetime:
    """A UTC time on 2026-12-04 as PySpark passes timestamps: naive, in the local time zone."""
    return datetime.fromisoformat(f"2026-12-04T{clock}+00:00").astimezone().replace(tzinfo=None)


def event(
    event_id: str, event_type: str, clock: str, session_id: str = "a", **fields: Any
) -> dict[str, Any]:
    """A viewer event of stream s1 by v1 on a mobile in CA, unless fields say otherwise."""
    return {
        "event_id": event_id,
        "event_type": event_type,
        "event_time": at(clock),
        "stream_id": "s1",
        "session_id": session_id,
        "viewer_id": "v1",
        "device_type": "mobile",
        "viewer_state": "CA",
        **fields,
    }


def events(spark, *rows: dict[str, Any]) -> DataFrame:
    values = [tuple(row.get(field.name) for field in EVENT_SCHEMA.fields) for row in rows]
    return spark.createDataFrame(values, EVENT_SCHEMA)


def sessions_by_id(sessions: DataFrame) -> dict[str, dict[str, Any]]:
    rows = (row.asDict() for row in sessions.drop("updated_at").collect())
    return {row["session_id"]: row for row in rows}


def session(session_id: str, **values: Any) -> dict[str, Any]:
    """A silver/sessions row of s1 / v1 / mobile / CA with zero counts, then values."""
    row = {
        "session_id": session_id,
        "stream_id": "s1",
        "viewer_id": "v1",
        "device_type": "mobile",
        "viewer_state": "CA",
        "started_at": None,
        "last_event_at": None,
        "left_at": None,
        "ended_at": None,
        "is_closed": False,
        "events": 0,
        **dict.fromkeys(COUNTED_TYPES, 0),
        "units": 0,
        "revenue": Decimal("0.00"),
        "click_to_purchase_lags": [],
    }
    row.update(values)
    return row


def test_a_session_with_a_leave_ends_at_the_leave_and_is_closed(spark):
    frame = events(
        spark,
        event("a1", "join", "10:00:00"),
        event("a2", "heartbeat", "10:01:00"),
        event("a3", "leave", "10:20:00"),
    )

    # The clock is only 5 minutes past the leave: the leave alone closes the session.
    built = build_sessions(frame, at("10:25:00"), GAP_MINUTES)

    assert sessions_by_id(built) == {
        "a": session(
            "a",
            started_at=at("10:00:00"),
            last_event_at=at("10:20:00"),
            left_at=at("10:20:00"),
            ended_at=at("10:20:00"),
            is_closed=True,
            events=3,
            heartbeats=1,
        )
    }


def test_a_session_without_a_leave_closes_at_its_last_event_once_the_gap_has_passed(spark):
    frame = events(
        spark,
        # b's last event is exactly 30 minutes before the 11:00 clock: closed.
        event("b1", "join", "10:00:00", session_id="b"),
        event("b2", "heartbeat", "10:30:00", session_id="b"),
        # c's last event is 29 min 59 s before the clock: still open.
        event("c1", "join", "10:00:00", session_id="c"),
        event("c2", "heartbeat", "10:30:01", session_id="c"),
    )

    built = build_sessions(frame, at("11:00:00"), GAP_MINUTES)

    assert sessions_by_id(built) == {
        "b": session(
            "b",
            started_at=at("10:00:00"),
            last_event_at=at("10:30:00"),
            ended_at=at("10:30:00"),
            is_closed=True,
            events=2,
            heartbeats=1,
        ),
        "c": session(
            "c",
            started_at=at("10:00:00"),
            last_event_at=at("10:30:01"),
            ended_at=None,
            is_closed=False,
            events=2,
            heartbeats=1,
        ),
    }


def test_a_session_counts_each_event_type_and_sums_units_and_revenue_over_purchases(spark):
    p1 = {"product_id": "p1", "price": Decimal("12.50"), "quantity": 2}
    p2 = {"product_id": "p2", "price": Decimal("3.99"), "quantity": 1}
    frame = events(
        spark,
        event("a01", "join", "10:00:00"),
        event("a02", "heartbeat", "10:01:00"),
        event("a03", "heartbeat", "10:02:00"),
        event("a04", "view_product", "10:02:10", product_id="p1"),
        event("a05", "like", "10:02:20"),
        event("a06", "like", "10:02:30"),
        event("a07", "comment", "10:02:40"),
        event("a08", "share", "10:02:50"),
        event("a09", "product_click", "10:03:00", product_id="p1"),
        # Cart lines are not revenue: only purchases count.
        event(
            "a10", "add_to_cart", "10:04:00", product_id="p9", price=Decimal("100.00"), quantity=5
        ),
        event("a11", "remove_from_cart", "10:04:30", product_id="p9"),
        event("a12", "purchase", "10:05:00", order_id="o1", **p1),
        event("a13", "purchase", "10:06:00", order_id="o2", **p2),
        event("a14", "leave", "10:10:00"),
    )

    built = build_sessions(frame, at("10:10:00"), GAP_MINUTES)

    assert sessions_by_id(built) == {
        "a": session(
            "a",
            started_at=at("10:00:00"),
            last_event_at=at("10:10:00"),
            left_at=at("10:10:00"),
            ended_at=at("10:10:00"),
            is_closed=True,
            events=14,
            heartbeats=2,
            product_views=1,
            likes=2,
            comments=1,
            shares=1,
            product_clicks=1,
            cart_adds=1,
            cart_removes=1,
            purchases=2,
            # 2 + 1 units; 2 x 12.50 + 1 x 3.99 = 28.99.
            units=3,
            revenue=Decimal("28.99"),
            # p1 bought at 10:05:00, clicked at 10:03:00: 120 s. p2 was never touched.
            click_to_purchase_lags=[120.0],
        )
    }


def test_device_and_state_come_from_the_earliest_event_that_has_them(spark):
    frame = events(
        spark,
        # Listed out of time order, as late events arrive.
        event("a4", "like", "10:03:00", device_type="tv", viewer_state="TX"),
        event("a3", "like", "10:02:00", device_type="mobile", viewer_state="NY"),
        event("a2", "heartbeat", "10:01:00", device_type="tablet", viewer_state=None),
        event("a1", "join", "10:00:00", device_type=None, viewer_state=None),
    )

    built = build_sessions(frame, at("10:05:00"), GAP_MINUTES)

    # device: a1 has none, a2 (10:01) says tablet; state: a1 and a2 have none, a3 says NY.
    assert sessions_by_id(built) == {
        "a": session(
            "a",
            device_type="tablet",
            viewer_state="NY",
            started_at=at("10:00:00"),
            last_event_at=at("10:03:00"),
            events=4,
            heartbeats=1,
            likes=2,
        )
    }


def test_stream_events_without_a_session_make_no_session(spark):
    stream_start = {
        "event_id": "s1-start",
        "event_type": "stream_start",
        "event_time": at("09:59:00"),
        "stream_id": "s1",
    }
    frame = events(spark, stream_start, event("a1", "join", "10:00:00"))

    built = build_sessions(frame, at("10:05:00"), GAP_MINUTES)

    assert sessions_by_id(built) == {
        "a": session("a", started_at=at("10:00:00"), last_event_at=at("10:00:00"), events=1)
    }


def purchase(event_id: str, clock: str, session_id: str, product_id: str = "p1") -> dict:
    return event(
        event_id,
        "purchase",
        clock,
        session_id,
        product_id=product_id,
        price=Decimal("10.00"),
        quantity=1,
        order_id=f"o-{event_id}",
    )


def touch(event_id: str, event_type: str, clock: str, session_id: str, product_id: str = "p1"):
    return event(event_id, event_type, clock, session_id, product_id=product_id)


def lags_by_session(lags: DataFrame) -> dict[str, list[float]]:
    return {row.session_id: row.click_to_purchase_lags for row in lags.collect()}


def test_the_lag_runs_from_the_first_click_even_when_a_view_came_earlier(spark):
    frame = events(
        spark,
        touch("v", "view_product", "10:00:00", "a"),
        touch("c", "product_click", "10:02:00", "a"),
        purchase("b", "10:05:00", "a"),
    )

    # 10:05 - 10:02 = 180 s (not 300 s from the view).
    assert lags_by_session(click_to_purchase_lags(frame)) == {"a": [180.0]}


def test_the_lag_runs_from_the_first_view_when_there_is_no_click(spark):
    frame = events(
        spark,
        touch("v1", "view_product", "10:00:00", "a"),
        touch("v2", "view_product", "10:01:00", "a"),
        purchase("b", "10:04:00.500", "a"),
    )

    # 10:04:00.500 - 10:00:00 (the first view) = 240.5 s.
    assert lags_by_session(click_to_purchase_lags(frame)) == {"a": [240.5]}


def test_a_click_after_the_purchase_is_ignored(spark):
    frame = events(
        spark,
        touch("v", "view_product", "10:00:00", "a"),
        purchase("b", "10:05:00", "a"),
        touch("c", "product_click", "10:06:00", "a"),
    )

    # The 10:06 click comes after the purchase; the 10:00 view counts: 300 s.
    assert lags_by_session(click_to_purchase_lags(frame)) == {"a": [300.0]}


def test_a_purchase_without_a_touch_of_its_product_in_its_session_is_left_out(spark):
    frame = events(
        spark,
        # a clicked another product; b clicked p1, but in another session than c's purchase.
        touch("a-click", "product_click", "10:00:00", "a", product_id="p2"),
        purchase("a-buy", "10:05:00", "a"),
        touch("b-click", "product_click", "10:00:00", "b"),
        purchase("c-buy", "10:05:00", "c"),
        # d has one purchase with a click (60 s) and one without.
        touch("d-click", "product_click", "10:00:00", "d"),
        purchase("d-buy-1", "10:01:00", "d"),
        purchase("d-buy-2", "10:02:00", "d", product_id="p3"),
    )

    assert lags_by_session(click_to_purchase_lags(frame)) == {"d": [60.0]}


def test_two_purchases_in_a_session_give_two_lags(spark):
    frame = events(
        spark,
        touch("c1", "product_click", "10:00:00", "a"),
        purchase("b1", "10:01:30", "a"),
        touch("c2", "product_click", "10:02:00", "a", product_id="p2"),
        purchase("b2", "10:12:00", "a", product_id="p2"),
    )

    # p1: 10:01:30 - 10:00:00 = 90 s; p2: 10:12:00 - 10:02:00 = 600 s.
    assert lags_by_session(click_to_purchase_lags(frame)) == {"a": [90.0, 600.0]}
