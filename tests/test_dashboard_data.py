"""Unit tests of dashboard/data.py: the loaders on tiny Delta tables, the helpers on tiny frames."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from dashboard import data

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
