"""Unit tests of dashboard/data.py, health.py and model_info.py: the loaders on tiny Delta tables
and a real MLflow store, the helpers on tiny frames."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from mlflow.tracking import MlflowClient

from dashboard import data, health, model_info
from tests.test_dashboard_app import (
    CALIBRATION,
    CHAMPION_METRICS,
    IMPORTANCES,
    VIEWERS_SCHEMA,
    log_training_run,
    mlflow_store,
    viewer_row,
    write_gold_tables,
)

MINUTE_0 = pd.Timestamp("2026-12-04 15:00", tz="UTC")
MINUTE_1 = pd.Timestamp("2026-12-04 15:01", tz="UTC")
MINUTE_2 = pd.Timestamp("2026-12-04 15:02", tz="UTC")


def kpi_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "scope": ["all", "s2", "s1"],
            "total_sessions": [500, 200, 300],
            "unique_viewers": [100, 60, 80],
            "conversion_rate": [0.24, 0.2, 0.2666],
            "drop_off_rate": [0.29, None, 0.3],
            "avg_session_duration_seconds": [2184.0, 1200.0, 2700.0],
            "click_to_purchase_lag_mean_seconds": [1134.0, None, 1000.0],
            "click_to_purchase_lag_median_seconds": [900.0, None, 930.0],
            "avg_engagement_score": [15.24, 10.0, 18.76],
            "purchases": [1500, 0, 1500],
            "revenue": [Decimal("12345.60"), None, Decimal("12345.60")],
        }
    )


def test_read_table_returns_none_when_the_table_does_not_exist(tmp_path):
    assert data.read_table(str(tmp_path / "gold" / "kpis")) is None


def test_read_table_returns_none_for_a_folder_without_a_delta_log(tmp_path):
    assert data.read_table(str(tmp_path)) is None


def test_load_open_sessions_keeps_open_sessions_and_the_panel_columns(tmp_path):
    path = str(tmp_path / "fct_sessions")
    moment = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    counts = pa.array([1, 2], pa.int64())
    table = pa.table(
        {
            "session_id": ["open", "closed"],
            "stream_id": ["s1", "s1"],
            "viewer_id": ["v1", "v2"],
            "device_type": ["mobile", "tv"],
            "viewer_state": ["CA", "NY"],
            "started_at": pa.array([moment, moment], pa.timestamp("us", tz="UTC")),
            "last_event_at": pa.array([moment, moment], pa.timestamp("us", tz="UTC")),
            "is_closed": [False, True],
            "events": counts,
            "product_clicks": counts,
            "cart_adds": counts,
            "purchases": counts,
            "engagement_score": [4.5, 9.0],
            "revenue": pa.array([Decimal("0.00"), Decimal("9.99")], pa.decimal128(18, 2)),
        }
    )
    write_deltalake(path, table)

    sessions = data.load_open_sessions(path)

    assert list(sessions.columns) == list(data.OPEN_SESSION_COLUMNS)
    assert sessions["session_id"].tolist() == ["open"]
    assert sessions["engagement_score"].tolist() == [4.5]


def test_kpi_row_picks_the_row_of_the_scope():
    assert data.kpi_row(kpi_frame(), "all")["total_sessions"] == 500
    assert data.kpi_row(kpi_frame(), "s1")["total_sessions"] == 300


def test_kpi_row_is_none_for_an_unknown_scope():
    assert data.kpi_row(kpi_frame(), "s9") is None


def test_stream_options_put_all_first_then_streams_by_id():
    assert data.stream_options(kpi_frame()) == {"all": "All streams", "s1": "s1", "s2": "s2"}


def test_live_streams_are_the_ones_marked_live():
    streams = pd.DataFrame(
        {"stream_id": ["s3", "s1", "s2"], "is_live": pd.array([True, True, None], "boolean")}
    )

    assert data.live_streams(streams) == ["s1", "s3"]


def test_live_streams_before_the_streams_table_exists():
    assert data.live_streams(None) == []


@pytest.mark.parametrize(
    ("seconds", "expected"), [(90.0, 1.5), (0, 0.0), (None, None), (float("nan"), None)]
)
def test_seconds_to_minutes(seconds, expected):
    assert data.seconds_to_minutes(seconds) == expected


@pytest.mark.parametrize(
    ("formatter", "value", "expected"),
    [
        (data.format_count, 12345, "12,345"),
        (data.format_count, None, "n/a"),
        (data.format_rate, 0.2904, "29.0 %"),
        (data.format_rate, 1.0, "100.0 %"),
        (data.format_rate, float("nan"), "n/a"),
        (data.format_minutes, 2184.0, "36.4 min"),
        (data.format_minutes, None, "n/a"),
        (data.format_score, 15.24, "15.2"),
        (data.format_money, Decimal("1234.5"), "1,234.50"),
        (data.format_money, None, "n/a"),
        (
            data.format_time,
            pd.Timestamp("2026-12-04 16:00:07.5", tz="Europe/Paris"),
            "2026-12-04 15:00:07 UTC",
        ),
        (data.format_time, None, "n/a"),
    ],
)
def test_formatters(formatter, value, expected):
    assert formatter(value) == expected


def test_kpi_tiles_of_the_all_row():
    row = data.kpi_row(kpi_frame(), "all")

    assert data.kpi_tiles(row) == [
        ("Total sessions", "500"),
        ("Unique viewers", "100"),
        ("Conversion rate", "24.0 %"),
        ("Drop-off rate", "29.0 %"),
        ("Avg session duration", "36.4 min"),
        ("Click-to-purchase lag (mean)", "18.9 min"),
        ("Click-to-purchase lag (median)", "15.0 min"),
        ("Avg engagement score", "15.2"),
        ("Purchases", "1,500"),
        ("Revenue", "12,345.60"),
    ]


def test_kpi_tiles_show_n_a_for_null_kpis():
    tiles = dict(data.kpi_tiles(data.kpi_row(kpi_frame(), "s2")))

    assert tiles["Drop-off rate"] == "n/a"
    assert tiles["Click-to-purchase lag (mean)"] == "n/a"
    assert tiles["Click-to-purchase lag (median)"] == "n/a"
    assert tiles["Revenue"] == "n/a"
    assert tiles["Purchases"] == "0"


def test_model_tiles_before_the_model_has_written_its_table():
    assert data.model_tiles(None, 0.5, None) == [
        ("Avg predicted conversion", "model not trained yet"),
        ("High-intent sessions", "model not trained yet"),
    ]


def test_model_tiles_average_and_count_at_or_above_the_threshold():
    predictions = pd.DataFrame(
        {
            "session_id": ["a", "b", "c", "d"],
            "stream_id": ["s1", "s1", "s2", "s2"],
            "conversion_probability": [0.9, 0.5, 0.2, 0.6],
        }
    )

    assert data.model_tiles(predictions, 0.5, None) == [
        ("Avg predicted conversion", "55.0 %"),
        ("High-intent sessions", "3"),
    ]
    assert data.model_tiles(predictions, 0.5, "s2") == [
        ("Avg predicted conversion", "40.0 %"),
        ("High-intent sessions", "1"),
    ]
    assert data.model_tiles(predictions, 0.5, "s9") == [
        ("Avg predicted conversion", "n/a"),
        ("High-intent sessions", "0"),
    ]


def viewer_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "stream_id": ["s2", "s1", "s1", "s2"],
            "minute": [MINUTE_1, MINUTE_0, MINUTE_1, MINUTE_2],
            "active_viewers": [2, 3, 4, 5],
        }
    )


def test_viewers_chart_data_has_a_column_per_stream_and_zero_for_missing_minutes():
    expected = pd.DataFrame(
        {"s1": [3, 4, 0], "s2": [0, 2, 5]},
        index=pd.DatetimeIndex([MINUTE_0, MINUTE_1, MINUTE_2], name="minute"),
    )

    pd.testing.assert_frame_equal(data.viewers_chart_data(viewer_frame(), None), expected)


def test_viewers_chart_data_of_one_stream():
    expected = pd.DataFrame(
        {"s1": [3, 4]}, index=pd.DatetimeIndex([MINUTE_0, MINUTE_1], name="minute")
    )

    pd.testing.assert_frame_equal(data.viewers_chart_data(viewer_frame(), "s1"), expected)


def test_viewers_chart_data_keeps_only_the_recent_minutes_when_asked():
    # MINUTE_0..2 are one minute apart: a 2-minute window up to MINUTE_2 keeps
    # MINUTE_1 and MINUTE_2 and drops MINUTE_0 (s1's 3 viewers).
    expected = pd.DataFrame(
        {"s1": [4, 0], "s2": [2, 5]},
        index=pd.DatetimeIndex([MINUTE_1, MINUTE_2], name="minute"),
    )

    got = data.viewers_chart_data(viewer_frame(), None, recent_minutes=2)

    pd.testing.assert_frame_equal(got, expected)


def test_top_engaged_sessions_sorts_by_score_then_session_id_and_keeps_the_limit():
    sessions = pd.DataFrame(
        {
            "session_id": ["a", "b", "c", "d", "e"],
            "stream_id": ["s1", "s2", "s1", "s1", "s1"],
            "engagement_score": [3.0, 9.0, 7.5, None, 7.5],
        }
    )

    top = data.top_engaged_sessions(sessions, None, 3)
    top_s1 = data.top_engaged_sessions(sessions, "s1", 10)

    assert top["session_id"].tolist() == ["b", "c", "e"]
    assert top.index.tolist() == [0, 1, 2]
    assert top_s1["session_id"].tolist() == ["c", "e", "a", "d"]


def test_per_minute_chart_keeps_float_values():
    revenue = pd.DataFrame(
        {"stream_id": ["s1", "s2"], "minute": [MINUTE_0, MINUTE_1], "revenue": [25.5, 19.99]}
    )
    expected = pd.DataFrame(
        {"s1": [25.5, 0.0], "s2": [0.0, 19.99]},
        index=pd.DatetimeIndex([MINUTE_0, MINUTE_1], name="minute"),
    )

    pd.testing.assert_frame_equal(data.per_minute_chart(revenue, "revenue", None), expected)


def test_load_revenue_per_minute_reads_the_gold_minutes_with_purchases(tmp_path):
    # s1 minute 1 has viewers but no purchase: no row, the chart counts it 0.
    write_gold_tables(tmp_path)

    revenue = data.load_revenue_per_minute(str(tmp_path / "gold" / "viewers_per_minute"))

    expected = pd.DataFrame(
        {
            "stream_id": ["s1", "s2"],
            "minute": pd.DatetimeIndex([MINUTE_0, MINUTE_1]).as_unit("us"),
            "revenue": [25.5, 19.99],
        }
    )
    pd.testing.assert_frame_equal(revenue, expected)


def test_load_revenue_per_minute_without_purchases_charts_nothing(tmp_path):
    path = str(tmp_path / "gold" / "viewers_per_minute")
    rows = [viewer_row("s1", MINUTE_0, 3), viewer_row("s2", MINUTE_1, 2)]
    write_deltalake(path, pa.Table.from_pylist(rows, schema=VIEWERS_SCHEMA))

    revenue = data.load_revenue_per_minute(path)

    assert list(revenue.columns) == ["stream_id", "minute", "revenue"]
    assert revenue.empty
    assert data.per_minute_chart(revenue, "revenue", None, recent_minutes=60).empty


def test_load_revenue_per_minute_before_gold_exists(tmp_path):
    path = str(tmp_path / "gold" / "viewers_per_minute")

    assert data.load_revenue_per_minute(path) is None


def retarget_inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    predictions = pd.DataFrame(
        {
            "session_id": ["bought", "open", "closed", "unknown"],
            "stream_id": ["s1", "s1", "s2", "s2"],
            "viewer_id": ["v1", "v2", "v3", "v4"],
            "device_type": ["mobile", "tv", "mobile", "desktop"],
            "viewer_state": ["CA", "NY", "CA", "TX"],
            "watch_seconds": [60.0, 90.0, 30.0, 600.0],
            "engagement_score": [9.0, 4.0, 8.0, 1.0],
            "conversion_probability": [1.0, 0.5, 0.25, 0.9],
            "churn_risk": [0.0, 0.5, 0.75, 0.1],
            "high_intent": [True, True, False, True],
            "retarget_priority": [0.0, 2.0, 6.0, 0.1],
            "model_version": ["3"] * 4,
            "as_of": [MINUTE_2] * 4,
            "scored_at": [MINUTE_2] * 4,
        }
    )
    sessions = pd.DataFrame(
        {
            "session_id": ["bought", "open", "closed", "not-scored"],
            "is_closed": [False, False, True, True],
            "purchases": [2, 0, 0, 0],
        }
    )
    return predictions, sessions


def test_retarget_candidates_drop_buyers_and_say_whether_the_session_is_open():
    expected = pd.DataFrame(
        {
            "session_id": ["open", "closed", "unknown"],
            "stream_id": ["s1", "s2", "s2"],
            "viewer_id": ["v2", "v3", "v4"],
            "device_type": ["tv", "mobile", "desktop"],
            "viewer_state": ["NY", "CA", "TX"],
            "status": ["open", "closed", "unknown"],
            "watch_minutes": [1.5, 0.5, 10.0],
            "engagement_score": [4.0, 8.0, 1.0],
            "conversion_probability": [0.5, 0.25, 0.9],
            "churn_risk": [0.5, 0.75, 0.1],
            "retarget_priority": [2.0, 6.0, 0.1],
            "scored_at": [MINUTE_2] * 3,
        }
    )

    got = data.retarget_candidates(*retarget_inputs())

    pd.testing.assert_frame_equal(got, expected)


def test_choices_are_the_sorted_distinct_values():
    frame = pd.DataFrame({"device_type": ["tv", "mobile", None, "tv"]})

    assert data.choices(frame, "device_type") == ["mobile", "tv"]


def test_filter_rows_keeps_the_selected_values_and_ignores_empty_selections():
    frame = pd.DataFrame(
        {"session_id": ["a", "b", "c", "d"], "device": ["tv", "tv", "mobile", "tv"]}
    )
    frame["state"] = ["CA", "NY", "CA", "CA"]

    got = data.filter_rows(frame, {"device": ["tv"], "state": ["CA"], "stream_id": []})

    expected = pd.DataFrame({"session_id": ["a", "d"], "device": ["tv", "tv"], "state": ["CA"] * 2})
    pd.testing.assert_frame_equal(got, expected)


def test_sort_sessions_breaks_ties_by_session_id_and_puts_nulls_last():
    frame = pd.DataFrame({"session_id": ["c", "a", "d", "b"], "score": [2.0, 2.0, None, 5.0]})

    highest = data.sort_sessions(frame, "score")
    lowest = data.sort_sessions(frame, "score", descending=False)

    assert highest["session_id"].tolist() == ["b", "a", "c", "d"]
    assert lowest["session_id"].tolist() == ["a", "c", "b", "d"]
    assert highest.index.tolist() == [0, 1, 2, 3]


def test_csv_bytes_has_a_header_and_no_index():
    frame = pd.DataFrame({"session_id": ["a", "b"], "churn_risk": [0.5, 0.25]}, index=[7, 9])

    assert data.csv_bytes(frame) == b"session_id,churn_risk\na,0.5\nb,0.25\n"


def rfm_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "viewer_id": ["v1", "v2", "v3"],
            "last_session_start": [MINUTE_0, MINUTE_1, MINUTE_2],
            "recency_days": pd.array([1, 3, 40], dtype="int32"),
            "frequency": [5, 2, 1],
            "monetary": [Decimal("300.00"), Decimal("50.00"), Decimal("300.00")],
            "r_score": pd.array([5, 4, 1], dtype="int32"),
            "f_score": pd.array([5, 3, 1], dtype="int32"),
            "m_score": pd.array([5, 3, 5], dtype="int32"),
            "rfm_score": ["555", "433", "115"],
            "as_of": [MINUTE_2] * 3,
        }
    )


def named_frame() -> pd.DataFrame:
    rfm = rfm_frame().drop(columns=["last_session_start", "rfm_score", "as_of"])
    return rfm.assign(
        cluster=pd.array([0, 1, 0], dtype="int32"),
        segment_name=["Big Spenders", "New & Promising", "Big Spenders"],
    )


def test_rfm_with_segments_names_each_viewer_biggest_spender_first():
    named = named_frame().iloc[[0, 1]]  # v3 not scored by the segment job yet

    got = data.rfm_with_segments(rfm_frame(), named)

    expected = pd.DataFrame(
        {
            "viewer_id": ["v1", "v3", "v2"],
            "segment_name": ["Big Spenders", "not segmented yet", "New & Promising"],
            "rfm_score": ["555", "115", "433"],
            "r_score": pd.array([5, 1, 4], dtype="int32"),
            "f_score": pd.array([5, 1, 3], dtype="int32"),
            "m_score": pd.array([5, 5, 3], dtype="int32"),
            "recency_days": pd.array([1, 40, 3], dtype="int32"),
            "frequency": [5, 1, 2],
            "monetary": [300.0, 300.0, 50.0],
            "last_session_start": [MINUTE_0, MINUTE_2, MINUTE_1],
        }
    )
    pd.testing.assert_frame_equal(got, expected)


def test_rfm_with_segments_before_the_segment_job_ran():
    got = data.rfm_with_segments(rfm_frame(), None)

    assert got["segment_name"].tolist() == ["not segmented yet"] * 3


def test_segment_summary_sizes_shares_revenue_and_means():
    expected = pd.DataFrame(
        {
            "segment_name": ["Big Spenders", "New & Promising"],
            "viewers": [2, 1],
            "share_of_viewers": [2 / 3, 1 / 3],
            "revenue": [600.0, 50.0],
            "avg_recency_days": [20.5, 3.0],
            "avg_frequency": [3.0, 2.0],
            "avg_monetary": [300.0, 50.0],
            "avg_r_score": [3.0, 4.0],
            "avg_f_score": [3.0, 3.0],
            "avg_m_score": [5.0, 3.0],
        }
    )

    pd.testing.assert_frame_equal(data.segment_summary(named_frame()), expected)


def test_segment_scores_chart_is_long_with_r_f_m():
    summary = data.segment_summary(named_frame())
    expected = pd.DataFrame(
        {
            "segment_name": ["Big Spenders", "New & Promising"] * 3,
            "score": ["R", "R", "F", "F", "M", "M"],
            "mean": [3.0, 4.0, 3.0, 3.0, 5.0, 3.0],
        }
    )

    pd.testing.assert_frame_equal(data.segment_scores_chart(summary), expected)


# health.py ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "seconds"), [("10 seconds", 10.0), ("1 minute", 60.0), ("500 milliseconds", 0.5)]
)
def test_interval_seconds(interval, seconds):
    assert health.interval_seconds(interval) == seconds


def test_stale_after_counts_triggers_but_never_less_than_the_idle_report_interval():
    assert health.stale_after_seconds("1 minute") == 180.0
    assert health.stale_after_seconds("2 seconds") == 30.0
    assert health.stale_after_seconds("10 seconds", triggers=5) == 50.0


NOW = pd.Timestamp("2026-12-04 15:10:00", tz="UTC")


@pytest.mark.parametrize(
    ("record", "status"),
    [
        ({"reported_at": "2026-12-04T15:09:50.000Z"}, "running"),
        ({"reported_at": "2026-12-04T15:09:50.000Z", "idle_at": "2026-12-04T15:09:50Z"}, "idle"),
        ({"reported_at": "2026-12-04T15:09:29.999Z"}, "stale"),
        ({"reported_at": None}, "stale"),
        (
            {"reported_at": "2026-12-04T15:09:50Z", "terminated_at": "2026-12-04T15:09:50Z"},
            "stopped",
        ),
        (
            {"reported_at": "2026-12-04T15:00:00Z", "terminated_at": "x", "exception": "boom"},
            "failed",
        ),
    ],
)
def test_query_status(record, status):
    assert health.query_status(record, NOW, stale_after=30.0) == status


def test_progress_table_one_row_per_query():
    records = [
        {
            "name": "gold_metrics",
            "id": "q1",
            "batch_id": 12,
            "timestamp": "2026-12-04T15:09:40.000Z",
            "input_rows_per_second": 3.5,
            "processed_rows_per_second": 7.0,
            "num_input_rows": 35,
            "batch_duration_ms": 5000,
            "watermark": "2026-12-04T14:59:00.000Z",
            "state_rows": 0,
            "reported_at": "2026-12-04T15:09:45.000Z",
        },
        {
            "name": None,
            "id": "q2",
            "batch_id": None,
            "timestamp": None,
            "reported_at": "2026-12-04T15:00:00.000Z",
            "idle_at": "2026-12-04T15:00:00.000Z",
        },
    ]
    expected = pd.DataFrame(
        {
            "query": ["gold_metrics", "q2"],
            "status": ["running", "stale"],
            "last_progress_at": pd.to_datetime(["2026-12-04 15:09:40", None], utc=True),
            "seconds_since_report": [15.0, 600.0],
            "batch_id": pd.array([12, None], dtype="Int64"),
            "num_input_rows": pd.array([35, None], dtype="Int64"),
            "input_rows_per_second": [3.5, None],
            "processed_rows_per_second": [7.0, None],
            "batch_duration_seconds": [5.0, None],
            "watermark": pd.to_datetime(["2026-12-04 14:59", None], utc=True),
            "state_rows": pd.array([0, None], dtype="Int64"),
        }
    )

    got = health.progress_table(records, NOW, stale_after=30.0)

    pd.testing.assert_frame_equal(got, expected, check_index_type=False)


def test_quarantine_counts_by_reason_most_frequent_first():
    quarantine = pd.DataFrame(
        {
            "reason": ["invalid_price", "malformed_json", "malformed_json", "bad_type"]
            + ["invalid_price"],
            "quarantined_at": [MINUTE_0, MINUTE_0, MINUTE_2, MINUTE_1, MINUTE_1],
        }
    )
    expected = pd.DataFrame(
        {
            "reason": ["invalid_price", "malformed_json", "bad_type"],
            "rows": [2, 2, 1],
            "last_quarantined_at": [MINUTE_1, MINUTE_2, MINUTE_1],
        }
    )

    pd.testing.assert_frame_equal(health.quarantine_counts(quarantine), expected)


def quality_frame() -> pd.DataFrame:
    rows = [
        # batch, time, expectation, column, success, unexpected
        (1, MINUTE_0, "not_null", "event_id", True, 0),
        (1, MINUTE_0, "row_count", None, True, 0),
        (1, MINUTE_0, "between", "price", False, 4),
        (2, MINUTE_1, "not_null", "event_id", False, 2),
        (2, MINUTE_1, "between", "price", True, 0),
        (3, MINUTE_1, "row_count", None, False, 0),
    ]
    return pd.DataFrame(
        {
            "run_id": [f"r{row[0]}" for row in rows],
            "checked_at": [row[1] for row in rows],
            "source": ["validate"] * len(rows),
            "batch_id": [row[0] for row in rows],
            "suite": ["silver"] * len(rows),
            "table_name": ["silver/events"] * len(rows),
            "expectation": [row[2] for row in rows],
            "column_name": [row[3] for row in rows],
            "success": [row[4] for row in rows],
            "element_count": [100] * len(rows),
            "unexpected_count": [row[5] for row in rows],
            "unexpected_percent": [float(row[5]) for row in rows],
            "observed_value": [None] * len(rows),
            "action": ["log"] * len(rows),
        }
    )


def test_latest_quality_results_keep_the_newest_check_of_each_expectation_failures_first():
    expected = pd.DataFrame(
        {
            "status": ["FAILED", "FAILED", "passed"],
            "suite": ["silver"] * 3,
            "table_name": ["silver/events"] * 3,
            "expectation": ["not_null", "row_count", "between"],
            "column_name": ["event_id", None, "price"],
            "unexpected_count": [2, 0, 0],
            "element_count": [100] * 3,
            "unexpected_percent": [2.0, 0.0, 0.0],
            "observed_value": [None] * 3,
            "action": ["log"] * 3,
            "checked_at": [MINUTE_1] * 3,
            "source": ["validate"] * 3,
            "batch_id": [2, 3, 2],
        }
    )

    got = health.latest_quality_results(quality_frame())

    pd.testing.assert_frame_equal(got, expected)


def test_failure_styles_shade_only_failed_rows():
    results = pd.DataFrame({"status": ["FAILED", "passed"], "expectation": ["a", "b"]})
    red = health.FAILURE_STYLE

    expected = pd.DataFrame({"status": [red, ""], "expectation": [red, ""]})
    pd.testing.assert_frame_equal(health.failure_styles(results), expected)


def test_load_quarantine_before_and_after_the_table_exists(tmp_path):
    path = str(tmp_path / "quarantine")
    assert health.load_quarantine(path) is None
    table = pa.table(
        {
            "reason": ["malformed_json"],
            "raw_value": ["{"],
            "quarantined_at": pa.array([MINUTE_0], pa.timestamp("us", tz="UTC")),
        }
    )
    write_deltalake(path, table)

    got = health.load_quarantine(path)

    expected = pd.DataFrame(
        {"reason": ["malformed_json"], "quarantined_at": pd.DatetimeIndex([MINUTE_0]).as_unit("us")}
    )
    pd.testing.assert_frame_equal(got, expected)


# model_info.py ------------------------------------------------------------------------------


def test_metrics_table_puts_champion_and_baseline_side_by_side():
    metrics = {"holdout_roc_auc": 0.8, "baseline_holdout_roc_auc": 0.7, "holdout_brier": 0.2}

    got = model_info.metrics_table(metrics)

    expected = pd.DataFrame(
        {
            "metric": [
                "ROC AUC (higher is better)",
                "PR AUC (higher is better)",
                "log loss (lower is better)",
                "Brier score (lower is better)",
            ],
            "champion": [0.8, float("nan"), float("nan"), 0.2],
            "baseline": [0.7, float("nan"), float("nan"), float("nan")],
        }
    )
    pd.testing.assert_frame_equal(got, expected)


def test_calibration_frame_orders_bins_and_labels_them():
    expected = pd.DataFrame(
        {
            "bin": ["0.0-0.1", "0.1-0.2"],
            "rows": [7, 23],
            "mean_predicted": [0.05, 0.15],
            "observed_rate": [0.0, 0.1],
        }
    )

    pd.testing.assert_frame_equal(model_info.calibration_frame(CALIBRATION), expected)


def test_importance_frame_most_important_first_ties_by_name():
    expected = pd.DataFrame(
        {"feature": ["viewer_state", "likes", "watch_seconds"], "importance": [0.5, 0.25, 0.25]}
    )

    pd.testing.assert_frame_equal(model_info.importance_frame(IMPORTANCES), expected)


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> MlflowClient:
    """A store with `conversion` (v1 the champion, with artifacts; v2 newer, without any)
    and `unaliased` (one version, no alias)."""
    uri = mlflow_store(tmp_path_factory.mktemp("mlflow"))
    artifacts = {"calibration.json": CALIBRATION, "feature_importances.json": IMPORTANCES}
    champion = log_training_run(uri, CHAMPION_METRICS, artifacts, "conversion")
    log_training_run(uri, {"holdout_roc_auc": 0.5}, {}, "conversion")
    log_training_run(uri, {"holdout_roc_auc": 0.9}, {}, "unaliased")
    client = MlflowClient(uri, uri)
    client.set_registered_model_alias("conversion", "champion", champion)
    return client


def test_load_champion_is_none_without_the_model_or_the_alias(registry):
    assert model_info.load_champion(registry, "no_such_model", "champion") is None
    assert model_info.load_champion(registry, "unaliased", "champion") is None


def test_load_champion_reads_the_aliased_version_and_its_run(registry):
    champion = model_info.load_champion(registry, "conversion", "champion")

    assert champion.version == "1"
    assert champion.metrics == CHAMPION_METRICS
    assert champion.run_id == registry.get_model_version("conversion", "1").run_id
    assert champion.registered_at.tzinfo is not None


def test_load_json_artifact_reads_json_or_none_when_not_logged(registry):
    runs = {v: registry.get_model_version("conversion", v).run_id for v in ("1", "2")}

    assert model_info.load_json_artifact(registry, runs["1"], "calibration.json") == CALIBRATION
    assert model_info.load_json_artifact(registry, runs["1"], "feature_importances.json") == (
        IMPORTANCES
    )
    assert model_info.load_json_artifact(registry, runs["2"], "calibration.json") is None


def test_load_session_status_reads_status_columns(tmp_path):
    path = str(tmp_path / "fct_sessions")
    write_deltalake(
        path,
        pa.table(
            {
                "session_id": ["a", "b"],
                "is_closed": [True, False],
                "purchases": pa.array([0, 2], pa.int64()),
                "engagement_score": [1.0, 2.0],
            }
        ),
    )

    expected = pd.DataFrame(
        {"session_id": ["a", "b"], "is_closed": [True, False], "purchases": [0, 2]}
    )
    pd.testing.assert_frame_equal(data.load_session_status(path), expected)


LIVE_SCHEMA = pa.schema(
    [
        ("stream_id", pa.string()),
        ("minute", pa.timestamp("us", tz="UTC")),
        ("viewer_id", pa.string()),
    ]
)


def test_load_live_viewers_reads_only_the_minutes_after_the_one_given(tmp_path):
    path = str(tmp_path / "gold" / "live_activity")
    rows = [
        {"stream_id": "s1", "minute": MINUTE_0, "viewer_id": "v1"},
        {"stream_id": "s1", "minute": MINUTE_1, "viewer_id": "v1"},
        {"stream_id": "s2", "minute": MINUTE_2, "viewer_id": "v7"},
    ]
    write_deltalake(path, pa.Table.from_pylist(rows, schema=LIVE_SCHEMA))

    after_first = data.load_live_viewers(path, MINUTE_0)
    every_row = data.load_live_viewers(path)

    assert sorted(after_first.itertuples(index=False, name=None)) == [
        ("s1", MINUTE_1, "v1"),
        ("s2", MINUTE_2, "v7"),
    ]
    assert len(every_row) == 3
    assert data.load_live_viewers(str(tmp_path / "none")) is None


def test_live_minutes_fill_in_after_each_streams_newest_gold_minute():
    # Gold has s1 up to minute 1 and s2 up to minute 0. Live rows: s1 minute 1 (already
    # in gold: left to gold), s1 minute 2 with v1 in two rows and v2 (2 viewers), s2
    # minute 1 with v5 (1 viewer), and s3, which gold has not seen at all (1 viewer).
    viewers = pd.DataFrame(
        {
            "stream_id": ["s1", "s1", "s2"],
            "minute": [MINUTE_0, MINUTE_1, MINUTE_0],
            "active_viewers": [3, 4, 2],
        }
    )
    live = pd.DataFrame(
        {
            "stream_id": ["s1", "s1", "s1", "s1", "s2", "s3"],
            "minute": [MINUTE_1, MINUTE_2, MINUTE_2, MINUTE_2, MINUTE_1, MINUTE_2],
            "viewer_id": ["v9", "v1", "v1", "v2", "v5", "v8"],
        }
    )

    merged = data.with_live_minutes(viewers, live)

    assert data.live_minutes_after(viewers) == MINUTE_0
    assert sorted(merged.itertuples(index=False, name=None)) == [
        ("s1", MINUTE_0, 3),
        ("s1", MINUTE_1, 4),
        ("s1", MINUTE_2, 2),
        ("s2", MINUTE_0, 2),
        ("s2", MINUTE_1, 1),
        ("s3", MINUTE_2, 1),
    ]


def test_live_minutes_alone_before_gold_has_any():
    live = pd.DataFrame(
        {"stream_id": ["s1", "s1"], "minute": [MINUTE_2, MINUTE_2], "viewer_id": ["v1", "v2"]}
    )

    merged = data.with_live_minutes(None, live)

    assert data.live_minutes_after(None) is None
    assert list(merged.itertuples(index=False, name=None)) == [("s1", MINUTE_2, 2)]
    assert data.with_live_minutes(None, None).empty
