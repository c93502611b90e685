"""Streamlit AppTest tests of every page of dashboard/app.py, on tiny tables written with deltalake.

The tables follow docs/tables.md column for column, with its types: timestamps as UTC
microseconds, counts as int64, money as decimal(18,2). The expected figures are worked out
by hand from the rows written here. The table writers are shared with
tests/test_dashboard_browser.py.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import streamlit as st
from deltalake import write_deltalake
from mlflow.tracking import MlflowClient
from streamlit.testing.v1 import AppTest

from lakehouse import config

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
    [
        ("stream_id", pa.string()),
        ("minute", TIMESTAMP),
        ("active_viewers", pa.int64()),
        ("purchases", pa.int64()),
        ("revenue", MONEY),
    ]
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


def session_row(
    session_id: str, stream_id: str, is_closed: bool, score: float, purchases: int = 0
) -> dict:
    row = {name: 1 for name in COUNT_COLUMNS}
    row.update(
        purchases=purchases,
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
        converted=purchases > 0,
        started_before_mid=True,
        dropped_off=False if is_closed else None,
        engagement_score=score,
        click_to_purchase_lags=[30.0],
    )
    return row


PREDICTIONS_SCHEMA = pa.schema(
    [(name, pa.string()) for name in ("session_id", "stream_id", "viewer_id")]
    + [("device_type", pa.string()), ("viewer_state", pa.string())]
    + [(name, pa.float64()) for name in ("watch_seconds", "engagement_score")]
    + [("conversion_probability", pa.float64()), ("churn_risk", pa.float64())]
    + [("high_intent", pa.bool_()), ("retarget_priority", pa.float64())]
    + [("model_version", pa.string()), ("as_of", TIMESTAMP), ("scored_at", TIMESTAMP)]
)
RFM_SCHEMA = pa.schema(
    [
        ("viewer_id", pa.string()),
        ("last_session_start", TIMESTAMP),
        ("recency_days", pa.int32()),
        ("frequency", pa.int64()),
        ("monetary", MONEY),
        ("r_score", pa.int32()),
        ("f_score", pa.int32()),
        ("m_score", pa.int32()),
        ("rfm_score", pa.string()),
        ("as_of", TIMESTAMP),
    ]
)
NAMED_SCHEMA = pa.schema(
    [
        field
        for field in RFM_SCHEMA
        if field.name not in ("last_session_start", "rfm_score", "as_of")
    ]
    + [("cluster", pa.int32()), ("segment_name", pa.string())]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("key", pa.string()),
        ("raw_value", pa.string()),
        ("event_id", pa.string()),
        ("reason", pa.string()),
        ("quarantined_at", TIMESTAMP),
    ]
)
QUALITY_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("checked_at", TIMESTAMP),
        ("source", pa.string()),
        ("batch_id", pa.int64()),
        ("suite", pa.string()),
        ("table_name", pa.string()),
        ("expectation", pa.string()),
        ("column_name", pa.string()),
        ("success", pa.bool_()),
        ("element_count", pa.int64()),
        ("unexpected_count", pa.int64()),
        ("unexpected_percent", pa.float64()),
        ("observed_value", pa.string()),
        ("action", pa.string()),
    ]
)


def write_table(path: Path, rows: list[dict], schema: pa.Schema) -> None:
    write_deltalake(str(path), pa.Table.from_pylist(rows, schema=schema))


def write_gold_tables(root: Path) -> None:
    """The gold tables the Live page reads, two streams s1 (live) and s2 (ended).

    Sessions: a (s1) and b (s2) open, c (s1, bought) and d (s1) closed.
    """
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
    # Revenue: s1 20.00 + 5.50 in minute 0, none in minute 1; s2 19.99 in minute 1.
    viewers = [
        viewer_row("s1", MINUTE_0, 3, purchases=2, revenue="25.50"),
        viewer_row("s1", MINUTE_1, 4),
        viewer_row("s2", MINUTE_1, 2, purchases=1, revenue="19.99"),
    ]
    sessions = [
        session_row("a", "s1", False, 12.5),
        session_row("b", "s2", False, 20.0),
        session_row("c", "s1", True, 99.0, purchases=1),
        session_row("d", "s1", True, 4.0),
    ]
    write_table(root / "gold" / "kpis", kpis, KPIS_SCHEMA)
    write_table(root / "gold" / "streams", streams, STREAMS_SCHEMA)
    write_table(root / "gold" / "viewers_per_minute", viewers, VIEWERS_SCHEMA)
    write_table(root / "gold" / "fct_sessions", sessions, SESSIONS_SCHEMA)


def viewer_row(
    stream_id: str, minute: datetime, viewers: int, purchases: int = 0, revenue: str = "0.00"
) -> dict[str, Any]:
    return {
        "stream_id": stream_id,
        "minute": minute,
        "active_viewers": viewers,
        "purchases": purchases,
        "revenue": Decimal(revenue),
    }


def prediction(
    session_id: str,
    stream_id: str,
    device: str,
    state: str,
    watch_seconds: float,
    engagement: float,
    probability: float,
    churn: float,
    priority: float,
) -> dict:
    return {
        "session_id": session_id,
        "stream_id": stream_id,
        "viewer_id": f"viewer-{session_id}",
        "device_type": device,
        "viewer_state": state,
        "watch_seconds": watch_seconds,
        "engagement_score": engagement,
        "conversion_probability": probability,
        "churn_risk": churn,
        "high_intent": probability >= 0.5,
        "retarget_priority": priority,
        "model_version": "1",
        "as_of": AS_OF,
        "scored_at": AS_OF,
    }


def write_predictions(root: Path) -> None:
    """Scores of sessions a-d of write_gold_tables and of e, which gold/fct_sessions lacks.

    c has bought: probability 1, priority 0. Priority = engagement x churn risk.
    """
    rows = [
        prediction("a", "s1", "mobile", "CA", 600.0, 12.5, 0.2, 0.8, 10.0),
        prediction("b", "s2", "desktop", "NY", 300.0, 20.0, 0.6, 0.4, 8.0),
        prediction("c", "s1", "mobile", "CA", 900.0, 99.0, 1.0, 0.0, 0.0),
        prediction("d", "s1", "tablet", "TX", 120.0, 4.0, 0.1, 0.9, 3.6),
        prediction("e", "s2", "mobile", "NY", 1800.0, 15.0, 0.3, 0.7, 10.5),
    ]
    write_table(root / "gold" / "predicted_conversions", rows, PREDICTIONS_SCHEMA)


def rfm_row(viewer_id, recency, frequency, monetary, r, f, m) -> dict:
    return {
        "viewer_id": viewer_id,
        "last_session_start": AS_OF - timedelta(days=recency),
        "recency_days": recency,
        "frequency": frequency,
        "monetary": Decimal(monetary),
        "r_score": r,
        "f_score": f,
        "m_score": m,
        "rfm_score": f"{r}{f}{m}",
        "as_of": AS_OF,
    }


RFM_ROWS = [
    rfm_row("v1", 1, 5, "300.00", 5, 5, 5),
    rfm_row("v2", 3, 2, "50.00", 4, 3, 3),
    rfm_row("v3", 40, 1, "0.00", 1, 1, 1),
    rfm_row("v4", 2, 4, "120.50", 5, 4, 4),
]
SEGMENT_NAMES = {
    "v1": (0, "High-Value Loyal"),
    "v2": (1, "New & Promising"),
    "v3": (2, "Churned or Inactive"),
    "v4": (0, "High-Value Loyal"),
}


def write_rfm(root: Path) -> None:
    write_table(root / "gold" / "rfm_analysis", RFM_ROWS, RFM_SCHEMA)


def write_segments(root: Path) -> None:
    rows = []
    for rfm in RFM_ROWS:
        cluster, name = SEGMENT_NAMES[rfm["viewer_id"]]
        row = {field: rfm[field] for field in NAMED_SCHEMA.names if field in rfm}
        rows.append({**row, "cluster": cluster, "segment_name": name})
    write_table(root / "gold" / "customer_segments_named", rows, NAMED_SCHEMA)


def progress_file(root: Path, record: dict) -> None:
    folder = root / "_progress"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{record['name']}.json").write_text(json.dumps(record))


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def progress_record(name: str, reported_at: datetime, **changes: Any) -> dict:
    record = {
        "name": name,
        "id": f"id-{name}",
        "run_id": f"run-{name}",
        "batch_id": 7,
        "timestamp": "2026-12-04T15:00:00.000Z",
        "input_rows_per_second": 12.5,
        "processed_rows_per_second": 50.0,
        "num_input_rows": 125,
        "batch_duration_ms": 2500,
        "watermark": "2026-12-04T14:50:00.000Z",
        "state_rows": 40,
        "reported_at": iso(reported_at),
        "idle_at": None,
        "terminated_at": None,
        "exception": None,
    }
    record.update(changes)
    return record


def quality_row(batch_id, minute, expectation, column, success, unexpected) -> dict:
    return {
        "run_id": f"run-{batch_id}",
        "checked_at": MINUTE_0 + timedelta(minutes=minute),
        "source": "silver_events",
        "batch_id": batch_id,
        "suite": "silver_events",
        "table_name": "silver/events",
        "expectation": expectation,
        "column_name": column,
        "success": success,
        "element_count": 100,
        "unexpected_count": unexpected,
        "unexpected_percent": float(unexpected),
        "observed_value": None,
        "action": "log",
    }


def write_health_tables(root: Path) -> None:
    """Three quarantined messages and two checks of two expectations (price fails in the second)."""
    quarantined = [
        ("malformed_json", MINUTE_0),
        ("invalid_price", MINUTE_0),
        ("malformed_json", MINUTE_1),
    ]
    quarantine = [
        {
            "topic": "live_events",
            "partition": 0,
            "offset": offset,
            "key": None,
            "raw_value": "{",
            "event_id": None,
            "reason": reason,
            "quarantined_at": moment,
        }
        for offset, (reason, moment) in enumerate(quarantined)
    ]
    write_table(root / "silver" / "quarantine", quarantine, QUARANTINE_SCHEMA)
    quality = [
        quality_row(1, 0, "expect_column_values_to_not_be_null", "event_id", True, 0),
        quality_row(1, 0, "expect_column_values_to_be_between", "price", True, 0),
        quality_row(2, 1, "expect_column_values_to_not_be_null", "event_id", True, 0),
        quality_row(2, 1, "expect_column_values_to_be_between", "price", False, 3),
    ]
    write_table(root / "gold" / "data_quality", quality, QUALITY_SCHEMA)


CHAMPION_METRICS = {
    "train_rows": 1388.0,
    "holdout_rows": 236.0,
    "train_positive_rate": 0.44,
    "holdout_roc_auc": 0.8069,
    "holdout_pr_auc": 0.4701,
    "holdout_log_loss": 0.5637,
    "holdout_brier": 0.1878,
    "baseline_holdout_roc_auc": 0.7888,
    "baseline_holdout_pr_auc": 0.6198,
    "baseline_holdout_log_loss": 0.516,
    "baseline_holdout_brier": 0.1702,
}
CALIBRATION = [
    {"bin_low": 0.1, "bin_high": 0.2, "rows": 23, "mean_predicted": 0.15, "observed_rate": 0.1},
    {"bin_low": 0.0, "bin_high": 0.1, "rows": 7, "mean_predicted": 0.05, "observed_rate": 0.0},
]
IMPORTANCES = {"watch_seconds": 0.25, "viewer_state": 0.5, "likes": 0.25}


def mlflow_store(folder: Path) -> str:
    """An empty SQLite tracking store with the project's experiment, artifacts in `folder`.

    The experiment exists beforehand so the dashboard's configure_tracking() creates nothing
    under the project folder.
    """
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    experiment = config.load_settings().section("model")["experiment"]
    MlflowClient(uri, uri).create_experiment(
        experiment, artifact_location=(folder / "artifacts").as_uri()
    )
    return uri


def log_training_run(
    uri: str, metrics: dict[str, float], artifacts: dict[str, Any], model_name: str
) -> str:
    """A finished run with metrics and JSON artifacts, registered as a new version of the model;
    returns the version."""
    client = MlflowClient(uri, uri)
    experiment = config.load_settings().section("model")["experiment"]
    run = client.create_run(client.get_experiment_by_name(experiment).experiment_id)
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value)
    for name, content in artifacts.items():
        client.log_dict(run.info.run_id, content, name)
    client.set_terminated(run.info.run_id)
    if not client.search_registered_models(f"name = '{model_name}'"):
        client.create_registered_model(model_name)
    version = client.create_model_version(
        model_name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    return str(version.version)


@pytest.fixture
def root(tmp_path, monkeypatch):
    """An empty storage root the app reads through LAKEHOUSE_ROOT, an empty MLflow store,
    fresh caches."""
    monkeypatch.delenv("LAKEHOUSE_CONF", raising=False)
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(tmp_path / "lakehouse"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'unused-mlflow.db'}")
    st.cache_data.clear()
    st.cache_resource.clear()
    yield tmp_path / "lakehouse"
    st.cache_data.clear()
    st.cache_resource.clear()


def run_app(page: str | None = None, **state: Any) -> AppTest:
    """Run the app; with `page` (e.g. "views/retarget.py"), switch to that page and run again."""
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT_SECONDS)
    for key, value in state.items():
        setattr(app, key, value)
    app.run()
    if page is not None:
        app.switch_page(page).run()
    return app


def tiles(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def chart_data(app: AppTest, index: int = 0) -> pd.DataFrame:
    """The frame a chart was given, decoded from its Arrow datasets."""
    chart = app.get("vega_lite_chart")[index]
    frames = [
        pa.ipc.open_stream(ds.data.data).read_all().to_pandas() for ds in chart.proto.datasets
    ]
    return pd.concat(frames, ignore_index=True)


def texts(elements) -> list[str]:
    return [element.value for element in elements]


# Live ---------------------------------------------------------------------------------------


def test_without_gold_tables_the_live_page_waits_for_data(root):
    app = run_app()

    assert not app.exception
    assert texts(app.title) == ["Live"]
    assert texts(app.info) == [f"Waiting for data: no gold tables yet under {root}"]
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
    caption = app.main.caption[0].value
    assert caption.startswith("Data as of 2026-12-04 15:02:07 UTC · last refresh ")
    assert caption.endswith(" · live streams: s1")
    assert app.selectbox(key="stream").options == ["All streams", "s1", "s2"]


def test_charts_and_sessions_table_cover_all_streams(root):
    write_gold_tables(root)

    app = run_app()

    assert not app.exception
    minute_0 = pd.Timestamp(MINUTE_0)
    minute_1 = pd.Timestamp(MINUTE_1)
    # Streamlit melts a frame of several streams into (minute, stream, value) rows.
    assert sorted(chart_data(app, 0).itertuples(index=False, name=None)) == [
        (minute_0, "s1", 3),
        (minute_0, "s2", 0),
        (minute_1, "s1", 4),
        (minute_1, "s2", 2),
    ]
    assert sorted(chart_data(app, 1).itertuples(index=False, name=None)) == [
        (minute_0, "s1", 25.5),
        (minute_0, "s2", 0.0),
        (minute_1, "s1", 0.0),
        (minute_1, "s2", 19.99),
    ]
    table = app.dataframe[0].value
    assert table["session_id"].tolist() == ["b", "a"]
    assert table["engagement_score"].tolist() == [20.0, 12.5]


def test_revenue_chart_before_the_first_purchase(root):
    write_gold_tables(root)
    no_purchases = [viewer_row("s1", MINUTE_0, 3), viewer_row("s2", MINUTE_1, 2)]
    write_deltalake(
        str(root / "gold" / "viewers_per_minute"),
        pa.Table.from_pylist(no_purchases, schema=VIEWERS_SCHEMA),
        mode="overwrite",
    )

    app = run_app()

    assert not app.exception
    assert texts(app.info) == ["No purchase yet."]


def test_both_charts_wait_for_gold_viewers_per_minute(root):
    write_gold_tables(root)
    shutil.rmtree(root / "gold" / "viewers_per_minute")

    app = run_app()

    assert not app.exception
    assert texts(app.info) == [
        "Waiting for data: no viewer counts yet (gold/viewers_per_minute, gold/live_activity).",
        "Waiting for data: no revenue per minute yet (gold/viewers_per_minute).",
    ]


def test_the_live_query_fills_in_the_minute_gold_has_not_counted_yet(root):
    # Gold has s1 and s2 up to 15:01. The live rows add 15:02: s1 with v1 twice and v2
    # (2 viewers), s2 with v5 (1); s1's 15:01 live row (v9) is gold's minute, left to gold.
    write_gold_tables(root)
    minute_2 = MINUTE_1 + timedelta(minutes=1)
    live_rows = [
        ("s1", MINUTE_1, "v9"),
        ("s1", minute_2, "v1"),
        ("s1", minute_2, "v1"),
        ("s1", minute_2, "v2"),
        ("s2", minute_2, "v5"),
    ]
    schema = pa.schema(
        [("stream_id", pa.string()), ("minute", TIMESTAMP), ("viewer_id", pa.string())]
    )
    rows = [dict(zip(schema.names, row, strict=True)) for row in live_rows]
    write_deltalake(str(root / "gold" / "live_activity"), pa.Table.from_pylist(rows, schema=schema))

    app = run_app()

    assert not app.exception
    minute_0, minute_1 = pd.Timestamp(MINUTE_0), pd.Timestamp(MINUTE_1)
    assert sorted(chart_data(app, 0).itertuples(index=False, name=None)) == [
        (minute_0, "s1", 3),
        (minute_0, "s2", 0),
        (minute_1, "s1", 4),
        (minute_1, "s2", 2),
        (pd.Timestamp(minute_2), "s1", 2),
        (pd.Timestamp(minute_2), "s2", 1),
    ]


def test_selecting_a_stream_shows_its_row_charts_and_sessions(root):
    write_gold_tables(root)
    write_predictions(root)
    app = run_app()

    app.selectbox(key="stream").select("s1").run()

    assert not app.exception
    shown = tiles(app)
    assert shown["Total sessions"] == "300"
    assert shown["Unique viewers"] == "80"
    assert shown["Drop-off rate"] == "n/a"
    # s1 scores a 0.2, c 1.0, d 0.1: mean 0.4333; only c is at or above 0.5.
    assert shown["Avg predicted conversion"] == "43.3 %"
    assert shown["High-intent sessions"] == "1"
    viewers = chart_data(app, 0)
    assert list(viewers.columns) == ["minute", "s1"]
    assert viewers["minute"].tolist() == [pd.Timestamp(MINUTE_0), pd.Timestamp(MINUTE_1)]
    assert viewers["s1"].tolist() == [3, 4]
    revenue = chart_data(app, 1)
    assert revenue["minute"].tolist() == [pd.Timestamp(MINUTE_0)]
    assert revenue["s1"].tolist() == [25.5]
    assert app.dataframe[0].value["session_id"].tolist() == ["a"]


def test_model_tiles_over_all_streams_once_predictions_exist(root):
    write_gold_tables(root)
    write_predictions(root)

    app = run_app()

    assert not app.exception
    shown = tiles(app)
    # (0.2 + 0.6 + 1.0 + 0.1 + 0.3) / 5 = 0.44; b and c are at or above 0.5.
    assert shown["Avg predicted conversion"] == "44.0 %"
    assert shown["High-intent sessions"] == "2"


def test_sidebar_offers_the_configured_refresh_and_slower_ones(root):
    app = run_app()

    refresh = app.sidebar.selectbox(key="refresh_seconds")
    assert refresh.options == ["every 10 s", "every 30 s", "every 60 s", "every 300 s", "paused"]
    assert refresh.value == 10.0

    refresh.select(0.0).run()

    assert not app.exception
    assert texts(app.info) == [f"Waiting for data: no gold tables yet under {root}"]


# Retarget -----------------------------------------------------------------------------------

RETARGET_PAGE = "views/retarget.py"


def expected_candidates(session_ids: list[str]) -> pd.DataFrame:
    """The Retarget table's rows for these sessions, worked out from write_predictions."""
    rows = {
        "e": ("s2", "mobile", "NY", "unknown", 30.0, 15.0, 0.3, 0.7, 10.5),
        "a": ("s1", "mobile", "CA", "open", 10.0, 12.5, 0.2, 0.8, 10.0),
        "b": ("s2", "desktop", "NY", "open", 5.0, 20.0, 0.6, 0.4, 8.0),
        "d": ("s1", "tablet", "TX", "closed", 2.0, 4.0, 0.1, 0.9, 3.6),
    }
    columns = (
        "stream_id",
        "device_type",
        "viewer_state",
        "status",
        "watch_minutes",
        "engagement_score",
        "conversion_probability",
        "churn_risk",
        "retarget_priority",
    )
    frame = pd.DataFrame([rows[s] for s in session_ids], columns=list(columns))
    frame.insert(0, "session_id", session_ids)
    frame.insert(2, "viewer_id", [f"viewer-{s}" for s in session_ids])
    frame["scored_at"] = pd.Series([AS_OF] * len(session_ids), dtype="datetime64[us, UTC]")
    return frame


def test_retarget_waits_for_scored_sessions(root):
    write_gold_tables(root)

    app = run_app(RETARGET_PAGE)

    assert not app.exception
    assert texts(app.title) == ["Sessions to retarget"]
    assert texts(app.info) == [
        "Waiting for data: no scored sessions yet (gold/predicted_conversions): the live "
        "stream scores sessions once a conversion model is registered."
    ]
    assert not app.dataframe


def test_retarget_ranks_sessions_without_a_purchase_by_priority(root):
    write_gold_tables(root)
    write_predictions(root)

    app = run_app(RETARGET_PAGE)

    assert not app.exception
    pd.testing.assert_frame_equal(app.dataframe[0].value, expected_candidates(["e", "a", "b", "d"]))
    assert app.main.caption[1].value == (
        "4 of 4 sessions match the filters, sorted by retarget priority, highest first; "
        "the table shows the first 4, the CSV all of them."
    )
    assert app.get("download_button")[0].proto.label == "Download 4 sessions as CSV"
    assert app.multiselect(key="retarget_device_type").options == ["desktop", "mobile", "tablet"]
    assert app.multiselect(key="retarget_viewer_state").options == ["CA", "NY", "TX"]
    assert app.multiselect(key="retarget_stream_id").options == ["s1", "s2"]


def test_retarget_filters_and_sorts(root):
    write_gold_tables(root)
    write_predictions(root)
    app = run_app(RETARGET_PAGE)

    app.multiselect(key="retarget_device_type").select("mobile").run()
    app.selectbox(key="retarget_sort").select("engagement_score").run()
    app.radio(key="retarget_order").set_value("Lowest first").run()

    assert not app.exception
    pd.testing.assert_frame_equal(app.dataframe[0].value, expected_candidates(["a", "e"]))
    assert app.get("download_button")[0].proto.label == "Download 2 sessions as CSV"

    app.multiselect(key="retarget_stream_id").select("s1").run()
    app.number_input(key="retarget_limit").set_value(1).run()

    pd.testing.assert_frame_equal(app.dataframe[0].value, expected_candidates(["a"]))


# Segments -----------------------------------------------------------------------------------

SEGMENTS_PAGE = "views/segments.py"


def expected_rfm_table(segments: dict[str, str]) -> pd.DataFrame:
    """RFM_ROWS biggest spender first (v1, v4, v2, v3) with the given segment names."""
    order = ["v1", "v4", "v2", "v3"]
    by_id = {row["viewer_id"]: row for row in RFM_ROWS}
    return pd.DataFrame(
        {
            "viewer_id": order,
            "segment_name": [segments[v] for v in order],
            "rfm_score": ["555", "544", "433", "111"],
            "r_score": pd.Series([5, 5, 4, 1], dtype="int32"),
            "f_score": pd.Series([5, 4, 3, 1], dtype="int32"),
            "m_score": pd.Series([5, 4, 3, 1], dtype="int32"),
            "recency_days": pd.Series([1, 2, 3, 40], dtype="int32"),
            "frequency": [5, 4, 2, 1],
            "monetary": [300.0, 120.5, 50.0, 0.0],
            "last_session_start": pd.Series(
                [by_id[v]["last_session_start"] for v in order], dtype="datetime64[us, UTC]"
            ),
        }
    )


def test_segments_wait_for_the_rfm_table(root):
    app = run_app(SEGMENTS_PAGE)

    assert not app.exception
    assert texts(app.info) == ["Waiting for data: no RFM table yet (gold/rfm_analysis)."]


def test_segments_not_trained_yet_still_show_the_rfm_table(root):
    write_rfm(root)

    app = run_app(SEGMENTS_PAGE)

    assert not app.exception
    assert texts(app.info) == [
        "Segments not trained yet (gold/customer_segments_named): "
        "scripts/submit.sh ml/train_segments.py names them. The RFM table is below."
    ]
    pd.testing.assert_frame_equal(
        app.dataframe[0].value,
        expected_rfm_table(dict.fromkeys(SEGMENT_NAMES, "not segmented yet")),
    )


def test_segments_show_sizes_revenue_scores_and_the_named_rfm_table(root):
    write_rfm(root)
    write_segments(root)

    app = run_app(SEGMENTS_PAGE)

    assert not app.exception
    # High-Value Loyal: v1 and v4; New & Promising: v2; Churned or Inactive: v3.
    expected_summary = pd.DataFrame(
        {
            "segment_name": ["High-Value Loyal", "New & Promising", "Churned or Inactive"],
            "viewers": [2, 1, 1],
            "share_of_viewers": [0.5, 0.25, 0.25],
            "revenue": [420.5, 50.0, 0.0],
            "avg_recency_days": [1.5, 3.0, 40.0],
            "avg_frequency": [4.5, 2.0, 1.0],
            "avg_monetary": [210.25, 50.0, 0.0],
            "avg_r_score": [5.0, 4.0, 1.0],
            "avg_f_score": [4.5, 3.0, 1.0],
            "avg_m_score": [4.5, 3.0, 1.0],
        }
    )
    pd.testing.assert_frame_equal(app.dataframe[0].value, expected_summary)
    scores = chart_data(app, 0).sort_values(["segment_name", "score"]).reset_index(drop=True)
    expected_scores = pd.DataFrame(
        {
            "segment_name": ["Churned or Inactive"] * 3
            + ["High-Value Loyal"] * 3
            + ["New & Promising"] * 3,
            "score": ["F", "M", "R"] * 3,
            "mean": [1.0, 1.0, 1.0, 4.5, 4.5, 5.0, 3.0, 3.0, 4.0],
        }
    )
    pd.testing.assert_frame_equal(scores, expected_scores)
    names = {viewer: name for viewer, (_, name) in SEGMENT_NAMES.items()}
    pd.testing.assert_frame_equal(app.dataframe[1].value, expected_rfm_table(names))


def test_segment_filter_narrows_the_rfm_table(root):
    write_rfm(root)
    write_segments(root)
    app = run_app(SEGMENTS_PAGE)

    app.multiselect(key="rfm_segments").select("High-Value Loyal").run()

    assert not app.exception
    assert app.dataframe[1].value["viewer_id"].tolist() == ["v1", "v4"]
    assert app.main.caption[-1].value == "2 of 4 viewers, biggest spenders first."


# Model --------------------------------------------------------------------------------------

MODEL_PAGE = "views/model.py"


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch):
    uri = mlflow_store(tmp_path / "mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def test_model_page_before_any_model_is_registered(root, mlflow_uri):
    app = run_app(MODEL_PAGE)

    assert not app.exception
    assert texts(app.title) == ["Conversion model"]
    assert texts(app.info) == [
        "model not trained yet: no version of live_shopping_conversion has the alias champion "
        f"in the MLflow registry at {mlflow_uri}. scripts/submit.sh ml/train_conversion.py "
        "trains and registers one."
    ]
    assert not app.metric


def test_model_page_shows_the_champion_not_the_latest_version(root, mlflow_uri):
    name = "live_shopping_conversion"
    artifacts = {"calibration.json": CALIBRATION, "feature_importances.json": IMPORTANCES}
    champion = log_training_run(mlflow_uri, CHAMPION_METRICS, artifacts, name)
    worse = {key: value / 2 for key, value in CHAMPION_METRICS.items()}
    log_training_run(mlflow_uri, worse, {}, name)
    MlflowClient(mlflow_uri, mlflow_uri).set_registered_model_alias(name, "champion", champion)

    app = run_app(MODEL_PAGE)

    assert not app.exception
    assert champion == "1"
    assert app.main.caption[0].value.startswith(
        "live_shopping_conversion version 1 (alias champion), registered "
    )
    assert tiles(app) == {
        "ROC AUC": "0.807",
        "PR AUC": "0.470",
        "Log loss": "0.564",
        "Brier score": "0.188",
        "Training rows": "1,388",
        "Hold-out rows": "236",
        "Positive rate (training)": "44.0 %",
    }
    expected_metrics = pd.DataFrame(
        {
            "metric": [
                "ROC AUC (higher is better)",
                "PR AUC (higher is better)",
                "log loss (lower is better)",
                "Brier score (lower is better)",
            ],
            "champion": [0.8069, 0.4701, 0.5637, 0.1878],
            "baseline": [0.7888, 0.6198, 0.516, 0.1702],
        }
    )
    pd.testing.assert_frame_equal(app.dataframe[0].value, expected_metrics)
    expected_calibration = pd.DataFrame(
        {
            "bin": ["0.0-0.1", "0.1-0.2"],
            "rows": [7, 23],
            "mean_predicted": [0.05, 0.15],
            "observed_rate": [0.0, 0.1],
        }
    )
    pd.testing.assert_frame_equal(app.dataframe[1].value, expected_calibration)
    expected_importances = pd.DataFrame(
        {"feature": ["viewer_state", "likes", "watch_seconds"], "importance": [0.5, 0.25, 0.25]}
    )
    pd.testing.assert_frame_equal(app.dataframe[2].value, expected_importances)


def test_model_page_says_which_artifact_a_run_lacks(root, mlflow_uri):
    name = "live_shopping_conversion"
    version = log_training_run(mlflow_uri, CHAMPION_METRICS, {}, name)
    MlflowClient(mlflow_uri, mlflow_uri).set_registered_model_alias(name, "champion", version)

    app = run_app(MODEL_PAGE)

    assert not app.exception
    assert texts(app.info) == [
        "The training run logged no calibration.json.",
        "The training run logged no feature_importances.json.",
    ]


# Pipeline health ----------------------------------------------------------------------------

HEALTH_PAGE = "views/health.py"


def test_health_page_before_anything_has_run(root):
    app = run_app(HEALTH_PAGE)

    assert not app.exception
    assert texts(app.title) == ["Pipeline health"]
    assert texts(app.info) == [
        "No streaming query has reported yet: the jobs write their progress to "
        f"{root}/_progress once running.",
        "Waiting for data: no quarantine table yet (silver/quarantine).",
        "Waiting for data: no data-quality results yet (gold/data_quality).",
    ]
    assert not app.dataframe


def test_health_page_shows_queries_quarantine_and_quality(root):
    now = datetime.now(UTC)
    progress_file(root, progress_record("gold_metrics", now))
    progress_file(root, progress_record("silver_events", now, idle_at=iso(now)))
    # Silent for 10 minutes: three 10-second triggers is the limit.
    progress_file(root, progress_record("bronze_events", now - timedelta(minutes=10)))
    progress_file(
        root,
        progress_record("silver_quarantine", now, terminated_at=iso(now), exception="boom"),
    )
    write_health_tables(root)

    app = run_app(HEALTH_PAGE)

    assert not app.exception
    assert texts(app.warning) == [
        "Not reporting: bronze_events (stale), silver_quarantine (failed). "
        "Stale means silent for more than 30 s."
    ]
    queries = app.dataframe[0].value
    assert queries["seconds_since_report"].between(0, 30).tolist() == [False, True, True, True]
    expected_queries = pd.DataFrame(
        {
            "query": ["bronze_events", "gold_metrics", "silver_events", "silver_quarantine"],
            "status": ["stale", "running", "idle", "failed"],
            "last_progress_at": pd.Series(
                [pd.Timestamp("2026-12-04 15:00", tz="UTC")] * 4, dtype="datetime64[us, UTC]"
            ),
            "batch_id": pd.Series([7] * 4, dtype="Int64"),
            "num_input_rows": pd.Series([125] * 4, dtype="Int64"),
            "input_rows_per_second": [12.5] * 4,
            "processed_rows_per_second": [50.0] * 4,
            "batch_duration_seconds": [2.5] * 4,
            "watermark": pd.Series(
                [pd.Timestamp("2026-12-04 14:50", tz="UTC")] * 4, dtype="datetime64[us, UTC]"
            ),
            "state_rows": pd.Series([40] * 4, dtype="Int64"),
        }
    )
    pd.testing.assert_frame_equal(queries.drop(columns="seconds_since_report"), expected_queries)

    expected_quarantine = pd.DataFrame(
        {
            "reason": ["malformed_json", "invalid_price"],
            "rows": [2, 1],
            "last_quarantined_at": pd.Series([MINUTE_1, MINUTE_0], dtype="datetime64[us, UTC]"),
        }
    )
    pd.testing.assert_frame_equal(app.dataframe[1].value, expected_quarantine)

    assert texts(app.error) == [
        "1 of 2 expectations failed at their latest check: expect_column_values_to_be_between"
    ]
    quality = app.dataframe[2].value
    assert quality[
        ["status", "expectation", "column_name", "unexpected_count", "batch_id"]
    ].to_dict("records") == [
        {
            "status": "FAILED",
            "expectation": "expect_column_values_to_be_between",
            "column_name": "price",
            "unexpected_count": 3,
            "batch_id": 2,
        },
        {
            "status": "passed",
            "expectation": "expect_column_values_to_not_be_null",
            "column_name": "event_id",
            "unexpected_count": 0,
            "batch_id": 2,
        },
    ]


# Login --------------------------------------------------------------------------------------

AUTH_SECRETS = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "not-a-real-secret",
        "client_id": "dashboard",
        "client_secret": "not-a-real-secret",
        "server_metadata_url": "https://login.example.invalid/.well-known/openid-configuration",
    }
}


def test_with_auth_configured_a_visitor_must_log_in_first(root):
    write_gold_tables(root)

    app = run_app(secrets=AUTH_SECRETS, user={"is_logged_in": False})

    assert not app.exception
    assert texts(app.title) == ["Live-shopping lakehouse"]
    assert [button.label for button in app.button] == ["Log in"]
    assert not app.metric


def test_with_auth_configured_a_logged_in_user_sees_the_pages(root):
    write_gold_tables(root)

    app = run_app(secrets=AUTH_SECRETS, user={"is_logged_in": True, "email": "ana@example.com"})

    assert not app.exception
    assert texts(app.title) == ["Live"]
    assert tiles(app)["Total sessions"] == "500"
    assert "Logged in as ana@example.com" in texts(app.sidebar.caption)
