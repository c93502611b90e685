"""Unit tests of lakehouse/gold.py on tiny hand-made frames.

Every expected figure is worked out by hand in a comment next to it. computed_at
(the time of the computation) is the only column left out of the comparisons.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from lakehouse import gold
from lakehouse.config import DEFAULT_CONF, load_settings

MONEY = T.DecimalType(18, 2)


def at(clock: str, day: str = "2026-12-04") -> datetime:
    """A UTC time as PySpark passes timestamps in and out: naive, in the local time zone."""
    return datetime.fromisoformat(f"{day}T{clock}+00:00").astimezone().replace(tzinfo=None)


def schema(**types: T.DataType) -> T.StructType:
    return T.StructType([T.StructField(name, kind) for name, kind in types.items()])


def rows_by(frame: DataFrame, key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row.asDict() for row in frame.collect()}


# gold.streams


STREAM_EVENT_SCHEMA = schema(
    event_id=T.StringType(),
    event_type=T.StringType(),
    event_time=T.TimestampType(),
    stream_id=T.StringType(),
    scheduled_end=T.TimestampType(),
)


def test_streams_take_the_mid_point_from_stream_end_and_from_scheduled_end_while_live(spark):
    stream_events = spark.createDataFrame(
        [
            ("s1-start", "stream_start", at("10:00:00"), "s1", at("11:00:00")),
            ("s1-end", "stream_end", at("10:40:00"), "s1", None),
            ("s2-start", "stream_start", at("10:00:00"), "s2", at("11:30:00")),
        ],
        STREAM_EVENT_SCHEMA,
    )

    assert rows_by(gold.streams(stream_events), "stream_id") == {
        # Ended at 10:40: mid-point 10:00 + 40 min / 2 = 10:20 (the 11:00 schedule is ignored).
        "s1": {
            "stream_id": "s1",
            "started_at": at("10:00:00"),
            "scheduled_end": at("11:00:00"),
            "ended_at": at("10:40:00"),
            "mid_point": at("10:20:00"),
            "is_live": False,
        },
        # Still live: mid-point 10:00 + 90 min / 2 = 10:45.
        "s2": {
            "stream_id": "s2",
            "started_at": at("10:00:00"),
            "scheduled_end": at("11:30:00"),
            "ended_at": None,
            "mid_point": at("10:45:00"),
            "is_live": True,
        },
    }


# gold.session_facts and gold.engagement_score


SESSION_SCHEMA = schema(
    session_id=T.StringType(),
    stream_id=T.StringType(),
    started_at=T.TimestampType(),
    ended_at=T.TimestampType(),
    purchases=T.LongType(),
    product_views=T.LongType(),
    likes=T.LongType(),
    comments=T.LongType(),
    shares=T.LongType(),
    product_clicks=T.LongType(),
    cart_adds=T.LongType(),
)
NO_INTERACTIONS = (0, 0, 0, 0, 0, 0)
MID_POINT_SCHEMA = schema(stream_id=T.StringType(), mid_point=T.TimestampType())


@pytest.fixture(scope="module")
def weights() -> dict[str, float]:
    return load_settings(DEFAULT_CONF).engagement_weights


def test_the_configured_engagement_weights_are_the_ones_computed_with_below(weights):
    assert weights == {
        "view_product": 1.0,
        "like": 0.5,
        "comment": 2.0,
        "share": 3.0,
        "product_click": 1.5,
        "add_to_cart": 3.0,
    }


def facts_by_session(spark, sessions: list[tuple], weights) -> dict[str, dict[str, Any]]:
    sessions_df = spark.createDataFrame(sessions, SESSION_SCHEMA)
    # Stream s1 has its mid-point at 10:30; no stream s9 is known.
    mid_points = spark.createDataFrame([("s1", at("10:30:00"))], MID_POINT_SCHEMA)
    return rows_by(gold.session_facts(sessions_df, mid_points, weights), "session_id")


def test_session_facts_add_duration_conversion_drop_off_and_engagement(spark, weights):
    sessions = [
        ("a", "s1", at("10:00:00"), at("10:20:00"), 1, 2, 3, 1, 1, 2, 1),
        ("b", "s1", at("10:35:00"), None, 0, *NO_INTERACTIONS),
    ]

    facts = facts_by_session(spark, sessions, weights)

    assert facts == {
        "a": {
            "session_id": "a",
            "stream_id": "s1",
            "started_at": at("10:00:00"),
            "ended_at": at("10:20:00"),
            "purchases": 1,
            "product_views": 2,
            "likes": 3,
            "comments": 1,
            "shares": 1,
            "product_clicks": 2,
            "cart_adds": 1,
            # 10:20 - 10:00 = 1200 s.
            "duration_seconds": 1200.0,
            "converted": True,
            # Started 10:00 and ended 10:20, both before the 10:30 mid-point.
            "started_before_mid": True,
            "dropped_off": True,
            # 2 x 1.0 + 3 x 0.5 + 1 x 2.0 + 1 x 3.0 + 2 x 1.5 + 1 x 3.0 = 14.5.
            "engagement_score": 14.5,
        },
        "b": {
            "session_id": "b",
            "stream_id": "s1",
            "started_at": at("10:35:00"),
            "ended_at": None,
            "purchases": 0,
            "product_views": 0,
            "likes": 0,
            "comments": 0,
            "shares": 0,
            "product_clicks": 0,
            "cart_adds": 0,
            # Still open: no duration yet.
            "duration_seconds": None,
            "converted": False,
            # Started after the mid-point: not eligible for drop-off.
            "started_before_mid": False,
            "dropped_off": None,
            "engagement_score": 0.0,
        },
    }


def test_dropped_off_is_true_false_or_null_by_when_the_session_started_and_ended(spark, weights):
    sessions = [
        # (session, stream, started, ended) against the 10:30 mid-point of s1.
        ("left-early", "s1", at("10:00:00"), at("10:29:59"), 0, *NO_INTERACTIONS),
        ("left-at-mid", "s1", at("10:00:00"), at("10:30:00"), 0, *NO_INTERACTIONS),
        ("stayed", "s1", at("10:00:00"), at("10:45:00"), 0, *NO_INTERACTIONS),
        ("still-watching", "s1", at("10:10:00"), None, 0, *NO_INTERACTIONS),
        ("joined-at-mid", "s1", at("10:30:00"), at("10:40:00"), 0, *NO_INTERACTIONS),
        ("unknown-stream", "s9", at("10:00:00"), at("10:05:00"), 0, *NO_INTERACTIONS),
    ]

    facts = facts_by_session(spark, sessions, weights)
    flags = {key: (row["started_before_mid"], row["dropped_off"]) for key, row in facts.items()}

    assert flags == {
        "left-early": (True, True),
        # Ending exactly at the mid-point is not ending before it.
        "left-at-mid": (True, False),
        "stayed": (True, False),
        # Open sessions have not dropped off (yet).
        "still-watching": (True, False),
        # Starting exactly at the mid-point is not starting before it: not eligible.
        "joined-at-mid": (False, None),
        # No mid-point for an unknown stream: neither flag can be told.
        "unknown-stream": (None, None),
    }


def test_engagement_score_refuses_a_weight_for_an_event_type_it_does_not_count():
    with pytest.raises(ValueError, match=r"\['leave'\]"):
        gold.engagement_score({"like": 0.5, "leave": 1.0})


# gold.viewers_per_minute


VIEWER_EVENT_SCHEMA = schema(
    event_type=T.StringType(),
    event_time=T.TimestampType(),
    stream_id=T.StringType(),
    viewer_id=T.StringType(),
    price=T.DecimalType(10, 2),
    quantity=T.IntegerType(),
)


def per_minute(spark, events: list[tuple]) -> list[tuple]:
    frame = gold.viewers_per_minute(spark.createDataFrame(events, VIEWER_EVENT_SCHEMA))
    return sorted(tuple(row) for row in frame.collect())


def test_viewers_per_minute_counts_distinct_viewers_per_stream_and_minute(spark):
    counted = per_minute(
        spark,
        [
            # s1, minute 10:00: v1 twice (counted once) and v2.
            ("join", at("10:00:00"), "s1", "v1", None, None),
            ("heartbeat", at("10:00:59.999"), "s1", "v1", None, None),
            ("join", at("10:00:30"), "s1", "v2", None, None),
            # 10:01:00.000 exactly opens the next window.
            ("like", at("10:01:00"), "s1", "v1", None, None),
            # A stream event has no viewer: it makes no 10:02 row.
            ("stream_end", at("10:02:00"), "s1", None, None, None),
            # The same viewer on another stream counts there.
            ("join", at("10:00:10"), "s2", "v1", None, None),
        ],
    )

    zero = Decimal("0.00")
    assert counted == [
        ("s1", at("10:00:00"), 2, 0, zero),
        ("s1", at("10:01:00"), 1, 0, zero),
        ("s2", at("10:00:00"), 1, 0, zero),
    ]


def test_viewers_per_minute_sums_the_purchases_of_each_minute(spark):
    counted = per_minute(
        spark,
        [
            # 10:00: two purchases, 2 x 19.99 + 1 x 5.00 = 44.98; an add_to_cart is no sale.
            ("purchase", at("10:00:05"), "s1", "v1", Decimal("19.99"), 2),
            ("purchase", at("10:00:50"), "s1", "v2", Decimal("5.00"), 1),
            ("add_to_cart", at("10:00:40"), "s1", "v3", Decimal("99.00"), 1),
            # 10:01: one purchase, 3 x 0.10 = 0.30.
            ("purchase", at("10:01:59.999"), "s1", "v1", Decimal("0.10"), 3),
            # 10:02: viewers but no purchase: 0 purchases, revenue 0.00.
            ("heartbeat", at("10:02:10"), "s1", "v2", None, None),
        ],
    )

    assert counted == [
        ("s1", at("10:00:00"), 3, 2, Decimal("44.98")),
        ("s1", at("10:01:00"), 1, 1, Decimal("0.30")),
        ("s1", at("10:02:00"), 1, 0, Decimal("0.00")),
    ]


def test_viewers_per_minute_types_its_counts_and_revenue_as_gold_kpis_do(spark):
    events = spark.createDataFrame([], VIEWER_EVENT_SCHEMA)

    types = dict(gold.viewers_per_minute(events).dtypes)

    assert types == {
        "stream_id": "string",
        "minute": "timestamp",
        "active_viewers": "bigint",
        "purchases": "bigint",
        "revenue": "decimal(18,2)",
    }


# gold.kpis


FACT_SCHEMA = schema(
    session_id=T.StringType(),
    stream_id=T.StringType(),
    viewer_id=T.StringType(),
    is_closed=T.BooleanType(),
    duration_seconds=T.DoubleType(),
    converted=T.BooleanType(),
    dropped_off=T.BooleanType(),
    engagement_score=T.DoubleType(),
    purchases=T.LongType(),
    revenue=MONEY,
    events=T.LongType(),
    click_to_purchase_lags=T.ArrayType(T.DoubleType()),
)
AS_OF = at("12:00:00")


def kpis_by_scope(spark, facts: list[tuple]) -> dict[str, dict[str, Any]]:
    kpis = gold.kpis(spark.createDataFrame(facts, FACT_SCHEMA), AS_OF).drop("computed_at")
    return rows_by(kpis, "scope")


def test_kpis_give_the_all_row_and_one_row_per_stream(spark):
    facts = [
        # session, stream, viewer, closed, duration, converted, dropped_off, engagement,
        # purchases, revenue, events, lags
        ("a", "s1", "v1", True, 600.0, True, True, 6.0, 2, Decimal("40.00"), 10, [60.0, 300.0]),
        ("b", "s1", "v2", True, 1200.0, False, False, 3.0, 0, Decimal("0.00"), 5, []),
        ("c", "s1", "v1", False, None, True, None, 4.5, 1, Decimal("15.50"), 7, [120.0, 600.0]),
        ("d", "s2", "v3", True, 300.0, True, None, 1.5, 1, Decimal("9.99"), 4, []),
        ("e", "s2", "v3", True, 900.0, False, None, 0.0, 0, Decimal("0.00"), 2, []),
    ]

    assert kpis_by_scope(spark, facts) == {
        "all": {
            "scope": "all",
            "total_sessions": 5,
            # v1, v2, v3.
            "unique_viewers": 3,
            # a, c, d.
            "converted_sessions": 3,
            "conversion_rate": 3 / 5,
            # Eligible a and b; a dropped off: 1 / 2.
            "drop_off_rate": 0.5,
            # Closed a, b, d, e: (600 + 1200 + 300 + 900) / 4 = 750.
            "avg_session_duration_seconds": 750.0,
            # Lags 60, 300, 120, 600: mean 1080 / 4 = 270; median of 60 120 | 300 600 = 210.
            "click_to_purchase_lag_mean_seconds": 270.0,
            "click_to_purchase_lag_median_seconds": 210.0,
            # (6 + 3 + 4.5 + 1.5 + 0) / 5 = 3.
            "avg_engagement_score": 3.0,
            "purchases": 4,
            # 40.00 + 15.50 + 9.99 = 65.49.
            "revenue": Decimal("65.49"),
            # 10 + 5 + 7 + 4 + 2 = 28.
            "events": 28,
            "as_of": AS_OF,
        },
        "s1": {
            "scope": "s1",
            "total_sessions": 3,
            "unique_viewers": 2,
            "converted_sessions": 2,
            "conversion_rate": 2 / 3,
            "drop_off_rate": 0.5,
            # Closed a and b: (600 + 1200) / 2 = 900.
            "avg_session_duration_seconds": 900.0,
            # The same four lags as the whole: all of them are s1's.
            "click_to_purchase_lag_mean_seconds": 270.0,
            "click_to_purchase_lag_median_seconds": 210.0,
            # (6 + 3 + 4.5) / 3 = 4.5.
            "avg_engagement_score": 4.5,
            "purchases": 3,
            "revenue": Decimal("55.50"),
            "events": 22,
            "as_of": AS_OF,
        },
        "s2": {
            "scope": "s2",
            "total_sessions": 2,
            "unique_viewers": 1,
            "converted_sessions": 1,
            "conversion_rate": 0.5,
            # No session of s2 is eligible: no rate, and no division by zero.
            "drop_off_rate": None,
            # (300 + 900) / 2 = 600.
            "avg_session_duration_seconds": 600.0,
            # d's purchase had no click before it: no lag at all.
            "click_to_purchase_lag_mean_seconds": None,
            "click_to_purchase_lag_median_seconds": None,
            # (1.5 + 0) / 2 = 0.75.
            "avg_engagement_score": 0.75,
            "purchases": 1,
            "revenue": Decimal("9.99"),
            "events": 6,
            "as_of": AS_OF,
        },
    }


def test_kpis_give_null_rates_without_a_division_by_zero_when_no_session_is_eligible(spark):
    facts = [
        ("a", "s1", "v1", False, None, False, None, 0.0, 0, Decimal("0.00"), 1, []),
    ]

    kpis = kpis_by_scope(spark, facts)
    rates = {
        scope: (
            row["conversion_rate"],
            row["drop_off_rate"],
            row["avg_session_duration_seconds"],
            row["click_to_purchase_lag_median_seconds"],
        )
        for scope, row in kpis.items()
    }

    # 0 converted of 1 session; no eligible, closed or purchased session for the rest.
    assert rates == {"all": (0.0, None, None, None), "s1": (0.0, None, None, None)}


def test_kpis_of_no_sessions_are_one_all_row_of_zeros_and_null_rates(spark):
    kpis = kpis_by_scope(spark, [])

    assert kpis == {
        "all": {
            "scope": "all",
            "total_sessions": 0,
            "unique_viewers": 0,
            "converted_sessions": 0,
            "conversion_rate": None,
            "drop_off_rate": None,
            "avg_session_duration_seconds": None,
            "click_to_purchase_lag_mean_seconds": None,
            "click_to_purchase_lag_median_seconds": None,
            "avg_engagement_score": None,
            "purchases": 0,
            "revenue": Decimal("0.00"),
            "events": 0,
            "as_of": AS_OF,
        }
    }


# gold.rfm


RFM_SESSION_SCHEMA = schema(
    session_id=T.StringType(),
    viewer_id=T.StringType(),
    started_at=T.TimestampType(),
    revenue=MONEY,
)
RFM_AS_OF = at("12:00:00", day="2026-12-10")


def sessions_of(viewer: str, *started_and_revenue: tuple[datetime, str]) -> list[tuple]:
    return [
        (f"{viewer}-{number}", viewer, started, Decimal(revenue))
        for number, (started, revenue) in enumerate(started_and_revenue)
    ]


def rfm_by_viewer(spark, sessions: list[tuple]) -> dict[str, tuple]:
    facts = spark.createDataFrame(sessions, RFM_SESSION_SCHEMA)
    return {
        row.viewer_id: tuple(row)[1:]
        for row in gold.rfm(facts, RFM_AS_OF).drop("as_of", "last_session_start").collect()
    }


def test_rfm_scores_five_viewers_of_distinct_values_one_to_five(spark):
    sessions = [
        # v1: last start 12-10 11:59, 1 min before as_of: 0 days; 3 sessions; 10.00.
        *sessions_of(
            "v1",
            (at("11:59:00", "2026-12-10"), "10.00"),
            (at("08:00:00", "2026-12-09"), "0.00"),
            (at("09:00:00", "2026-12-01"), "0.00"),
        ),
        # v2: last start exactly 1 day before: 1 day; 5 sessions; 0.00.
        *sessions_of("v2", *[(at("12:00:00", f"2026-12-0{day}"), "0.00") for day in range(5, 10)]),
        # v3: 2 days 23:59:59 before: 2 whole days; 1 session; 99.99.
        *sessions_of("v3", (at("12:00:01", "2026-12-07"), "99.99")),
        # v4: 3 days 1 hour before: 3 days; 4 sessions; 2.50 + 3.00 = 5.50.
        *sessions_of(
            "v4",
            (at("11:00:00", "2026-12-07"), "2.50"),
            (at("11:00:00", "2026-12-06"), "3.00"),
            (at("11:00:00", "2026-12-05"), "0.00"),
            (at("11:00:00", "2026-12-04"), "0.00"),
        ),
        # v5: 4 days 12 hours before: 4 days; 2 sessions; 20.00.
        *sessions_of(
            "v5", (at("00:00:00", "2026-12-06"), "20.00"), (at("00:00:00", "2026-12-02"), "0.00")
        ),
        # A session without a viewer is nobody's.
        ("anonymous", None, at("11:00:00", "2026-12-10"), Decimal("500.00")),
    ]

    # Scores: recency 0 < 1 < 2 < 3 < 4 days -> v1 5 .. v5 1; frequency 1 v3, 2 v5, 3 v1,
    # 4 v4, 5 v2 -> score = rank; monetary 0.00 v2, 5.50 v4, 10.00 v1, 20.00 v5, 99.99 v3.
    # (recency_days, frequency, monetary, r, f, m, rfm_score)
    assert rfm_by_viewer(spark, sessions) == {
        "v1": (0, 3, Decimal("10.00"), 5, 3, 3, "533"),
        "v2": (1, 5, Decimal("0.00"), 4, 5, 1, "451"),
        "v3": (2, 1, Decimal("99.99"), 3, 1, 5, "315"),
        "v4": (3, 4, Decimal("5.50"), 2, 4, 2, "242"),
        "v5": (4, 2, Decimal("20.00"), 1, 2, 4, "124"),
    }


def test_rfm_keeps_the_last_session_start_and_the_reference_time(spark):
    sessions = sessions_of(
        "v1", (at("09:00:00", "2026-12-08"), "1.00"), (at("10:00:00", "2026-12-09"), "2.00")
    )
    facts = spark.createDataFrame(sessions, RFM_SESSION_SCHEMA)

    rows = [row.asDict() for row in gold.rfm(facts, RFM_AS_OF).collect()]

    # One viewer alone has every cumulative share at 1: 5 5 5.
    assert rows == [
        {
            "viewer_id": "v1",
            "last_session_start": at("10:00:00", "2026-12-09"),
            # 1 day 2 hours: 1 whole day.
            "recency_days": 1,
            "frequency": 2,
            "monetary": Decimal("3.00"),
            "r_score": 5,
            "f_score": 5,
            "m_score": 5,
            "rfm_score": "555",
            "as_of": RFM_AS_OF,
        }
    ]


def test_rfm_ties_share_the_higher_score(spark):
    sessions = [
        # v1 and v2: 1 day, 1 session, 0.00 each; v3: 0 days, 2 sessions, 7.00.
        *sessions_of("v1", (at("12:00:00", "2026-12-09"), "0.00")),
        *sessions_of("v2", (at("11:00:00", "2026-12-09"), "0.00")),
        *sessions_of(
            "v3", (at("10:00:00", "2026-12-10"), "7.00"), (at("09:00:00", "2026-12-10"), "0.00")
        ),
    ]

    # The tied pair fills 2 of 3 places: ceil(5 x 2/3) = ceil(3.33) = 4 for both; v3: 5.
    assert rfm_by_viewer(spark, sessions) == {
        "v1": (1, 1, Decimal("0.00"), 4, 4, 4, "444"),
        "v2": (1, 1, Decimal("0.00"), 4, 4, 4, "444"),
        "v3": (0, 2, Decimal("7.00"), 5, 5, 5, "555"),
    }
