"""Streamlit AppTest tests of dashboard/app.py against tiny gold tables written with deltalake.

The tables follow docs/tables.md column for column, with its types: timestamps as UTC
microseconds, counts as int64, money as decimal(18,2).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import streamlit as st
from deltalake import write_deltalake
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
TIMEOUT_SECONDS = 60

TIMESTAMP = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 2)
AS_OF = datetime(2026, 12, 4, 15, 2, 7, tzinfo=UTC)
MINUTE_0 = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
MINUTE_1 = datetime(2026, 12, 4, 15, 1, tzinfo=UTC)

KPIS_SCHEMA = pa.schema(
    [
        ("scope", pa.string()),
        ("total_sessions", pa.int64()),
        ("unique_viewers", pa.int64()),
        ("converted_sessions", pa.int64()),
        ("conversion_rate", pa.float64()),
        ("drop_off_rate", pa.float64()),
        ("avg_session_duration_seconds", pa.float64()),
        ("click_to_purchase_lag_mean_seconds", pa.float64()),
        ("click_to_purchase_lag_median_seconds", pa.float64()),
        ("avg_engagement_score", pa.float64()),
        ("purchases", pa.int64()),
        ("revenue", MONEY),
        ("events", pa.int64()),
        ("as_of", TIMESTAMP),
        ("computed_at", TIMESTAMP),
    ]
)
STREAMS_SCHEMA = pa.schema(
    [
        ("stream_id", pa.string()),
        ("started_at", TIMESTAMP),
        ("scheduled_end", TIMESTAMP),
        ("ended_at", TIMESTAMP),
        ("mid_point", TIMESTAMP),
        ("is_live", pa.bool_()),
    ]
)
VIEWERS_SCHEMA = pa.schema(
    [("stream_id", pa.string()), ("minute", TIMESTAMP), ("active_viewers", pa.int64())]
)
COUNT_COLUMNS = (
    "events",
    "heartbeats",
    "product_views",
    "likes",
    "comments",
    "shares",
    "product_clicks",
    "cart_adds",
    "cart_removes",
    "purchases",
    "units",
)
SESSIONS_SCHEMA = pa.schema(
    [(name, pa.string()) for name in ("session_id", "stream_id", "viewer_id")]
    + [("device_type", pa.string()), ("viewer_state", pa.string())]
    + [(name, TIMESTAMP) for name in ("started_at", "last_event_at", "left_at", "ended_at")]
    + [("is_closed", pa.bool_())]
    + [(name, pa.int64()) for name in COUNT_COLUMNS]
    + [("revenue", MONEY), ("updated_at", TIMESTAMP)]
    + [
        ("duration_seconds", pa.float64()),
        ("converted", pa.bool_()),
        ("started_before_mid", pa.bool_()),
        ("dropped_off", pa.bool_()),
        ("engagement_score", pa.float64()),
        ("click_to_purchase_lags", pa.list_(pa.float64())),
    ]
)


def kpi_row(scope: str, sessions: int, viewers: int, drop_off: float | None) -> dict:
    return {
        "scope": scope,
        "total_sessions": sessions,
        "unique_viewers": viewers,
        "converted_sessions": sessions // 4,
        "conversion_rate": 0.25,
        "drop_off_rate": drop_off,
        "avg_session_duration_seconds": 2184.0,
        "click_to_purchase_lag_mean_seconds": 1134.0,
        "click_to_purchase_lag_median_seconds": 900.0,
        "avg_engagement_score": 15.24,
        "purchases": 1500,
        "revenue": Decimal("12345.60"),
        "events": 20000,
        "as_of": AS_OF,
        "computed_at": AS_OF,
    }


def session_row(session_id: str, stream_id: str, is_closed: bool, score: float) -> dict:
    row = {name: 1 for name in COUNT_COLUMNS}
    row.update(
        session_id=session_id,
        stream_id=stream_id,
        viewer_id=f"viewer-{session_id}",
        device_type="mobile",
        viewer_state="CA",
        started_at=MINUTE_0,
        last_event_at=MINUTE_1,
        left_at=MINUTE_1 if is_closed else None,
        ended_at=MINUTE_1 if is_closed else None,
        is_closed=is_closed,
        revenue=Decimal("19.90"),
        updated_at=AS_OF,
        duration_seconds=60.0 if is_closed else None,
        converted=True,
        started_before_mid=True,
        dropped_off=False if is_closed else None,
        engagement_score=score,
        click_to_purchase_lags=[30.0],
    )
    return row


def write_gold_tables(root: Path) -> None:
    """The gold tables the dashboard reads, two streams s1 (live) and s2 (ended)."""
    kpis = [
        kpi_row("all", 500, 100, 0.29),
        kpi_row("s1", 300, 80, None),
        kpi_row("s2", 200, 60, 0.5),
    ]
    streams = [
        {
            "stream_id": "s1",
            "started_at": MINUTE_0,
            "scheduled_end": AS_OF,
            "ended_at": None,
            "mid_point": MINUTE_1,
            "is_live": True,
        },
        {
            "stream_id": "s2",
            "started_at": MINUTE_0,
            "scheduled_end": AS_OF,
            "ended_at": AS_OF,
            "mid_point": MINUTE_1,
            "is_live": False,
        },
    ]
    viewers = [
        {"stream_id": "s1", "minute": MINUTE_0, "active_viewers": 3},
        {"stream_id": "s1", "minute": MINUTE_1, "active_viewers": 4},
        {"stream_id": "s2", "minute": MINUTE_1, "active_viewers": 2},
    ]
    sessions = [
        session_row("a", "s1", False, 12.5),
        session_row("b", "s2", False, 20.0),
        session_row("c", "s1", True, 99.0),
    ]
    for name, rows, schema in (
        ("kpis", kpis, KPIS_SCHEMA),
        ("streams", streams, STREAMS_SCHEMA),
        ("viewers_per_minute", viewers, VIEWERS_SCHEMA),
        ("fct_sessions", sessions, SESSIONS_SCHEMA),
    ):
        write_deltalake(str(root / "gold" / name), pa.Table.from_pylist(rows, schema=schema))


def write_predictions(root: Path) -> None:
    table = pa.table(
        {
            "session_id": ["a", "b", "c"],
            "stream_id": ["s1", "s2", "s1"],
            "conversion_probability": [0.9, 0.4, 0.6],
        }
    )
    write_deltalake(str(root / "gold" / "predicted_conversions"), table)


@pytest.fixture
def root(tmp_path, monkeypatch):
    """An empty storage root the app reads through LAKEHOUSE_ROOT, with fresh caches."""
    monkeypatch.delenv("LAKEHOUSE_CONF", raising=False)
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(tmp_path))
    st.cache_data.clear()
    yield tmp_path
    st.cache_data.clear()


def run_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT_SECONDS).run()


def tiles(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def chart_data(app: AppTest) -> pd.DataFrame:
    """The frame the line chart was given, decoded from its Arrow dataset."""
    (chart,) = app.get("vega_lite_chart")
    frames = [
        pa.ipc.open_stream(ds.data.data).read_all().to_pandas() for ds in chart.proto.datasets
    ]
    return pd.concat(frames, ignore_index=True)


def test_without_gold_tables_the_app_waits_for_data(root):
    app = run_app()

    assert not app.exception
    assert [info.value for info in app.info] == [
        f"Waiting for data: no gold tables yet under {root}"
    ]
    assert not app.metric


def test_tiles_show_the_all_row_and_the_model_is_not_trained_yet(root):
    write_gold_tables(root)

    app = run_app()

    assert not app.exception
    assert tiles(app) == {
        "Total sessions": "500",
        "Unique viewers": "100",
        "Conversion rate": "25.0 %",
        "Drop-off rate": "29.0 %",
        "Avg session duration": "36.4 min",
        "Click-to-purchase lag (mean)": "18.9 min",
        "Click-to-purchase lag (median)": "15.0 min",
        "Avg engagement score": "15.2",
        "Purchases": "1,500",
        "Revenue": "12,345.60",
        "Avg predicted conversion": "model not trained yet",
        "High-intent sessions": "model not trained yet",
    }
    caption = app.caption[0].value
    assert caption.startswith("Data as of 2026-12-04 15:02:07 UTC · last refresh ")
    assert caption.endswith(" · refreshes every 10 s · live streams: s1")
    assert app.selectbox(key="stream").options == ["All streams", "s1", "s2"]


def test_chart_and_sessions_table_cover_all_streams(root):
    write_gold_tables(root)

    app = run_app()

    assert not app.exception
    minute_0 = pd.Timestamp(MINUTE_0)
    minute_1 = pd.Timestamp(MINUTE_1)
    # Streamlit melts a frame of several streams into (minute, stream, viewers) rows.
    assert sorted(chart_data(app).itertuples(index=False, name=None)) == [
        (minute_0, "s1", 3),
        (minute_0, "s2", 0),
        (minute_1, "s1", 4),
        (minute_1, "s2", 2),
    ]
    table = app.dataframe[0].value
    assert table["session_id"].tolist() == ["b", "a"]
    assert table["engagement_score"].tolist() == [20.0, 12.5]


def test_selecting_a_stream_shows_its_row_chart_and_sessions(root):
    write_gold_tables(root)
    write_predictions(root)
    app = run_app()

    app.selectbox(key="stream").select("s1").run()

    assert not app.exception
    shown = tiles(app)
    assert shown["Total sessions"] == "300"
    assert shown["Unique viewers"] == "80"
    assert shown["Drop-off rate"] == "n/a"
    assert shown["Avg predicted conversion"] == "75.0 %"
    assert shown["High-intent sessions"] == "2"
    chart = chart_data(app)
    assert list(chart.columns) == ["minute", "s1"]
    assert chart["minute"].tolist() == [pd.Timestamp(MINUTE_0), pd.Timestamp(MINUTE_1)]
    assert chart["s1"].tolist() == [3, 4]
    assert app.dataframe[0].value["session_id"].tolist() == ["a"]


def test_model_tiles_over_all_streams_once_predictions_exist(root):
    write_gold_tables(root)
    write_predictions(root)

    app = run_app()

    assert not app.exception
    shown = tiles(app)
    assert shown["Avg predicted conversion"] == "63.3 %"
    assert shown["High-intent sessions"] == "2"
