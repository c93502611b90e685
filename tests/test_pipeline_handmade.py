"""End to end on a real broker: hand-made events -> bronze, silver, gold, checked by hand.

tests/fixtures/handmade.py lists the events and works out every expected
figure; the three layers run in this process with availableNow triggers.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from dashboard import data
from lakehouse import config
from lakehouse.config import load_settings
from lakehouse.pipeline import run_available_now
from lakehouse.producers.kafka_sink import (
    create_producer,
    encode_event,
    ensure_topic,
    send_events,
    send_raw,
)
from tests.fixtures import handmade

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def handmade_lake(spark, kafka_broker, tmp_path_factory):
    """Send the hand-made set once, run every layer, hand back the settings."""
    settings = load_settings().with_overrides(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        topic="handmade_events",
        root=str(tmp_path_factory.mktemp("lake")),
        mlflow_dir=str(tmp_path_factory.mktemp("mlflow")),
    )
    ensure_topic(settings.bootstrap_servers, settings.topic, partitions=3)
    with create_producer(settings.bootstrap_servers) as producer:
        send_events(producer, settings.topic, handmade.EVENTS)
        send_raw(producer, settings.topic, [(None, raw) for raw, _ in handmade.BAD_MESSAGES])
    run_available_now(spark, settings)
    return settings


def _table(spark, settings, name):
    return spark.read.format("delta").load(settings.table(name))


def test_bronze_holds_every_message_once(spark, handmade_lake):
    bronze = _table(spark, handmade_lake, config.BRONZE_EVENTS)
    sent = len(handmade.EVENTS) + len(handmade.BAD_MESSAGES)
    offsets = bronze.select("partition", "offset").distinct().count()
    assert (bronze.count(), offsets) == (sent, sent)


def test_silver_keeps_one_copy_of_each_valid_event(spark, handmade_lake):
    events = _table(spark, handmade_lake, config.SILVER_EVENTS)
    ids = sorted(row.event_id for row in events.select("event_id").collect())
    assert ids == sorted({event["event_id"] for event in handmade.EVENTS})


def test_every_bad_message_and_the_repeat_are_quarantined_with_their_reason(spark, handmade_lake):
    quarantine = _table(spark, handmade_lake, config.SILVER_QUARANTINE)
    got = sorted((row.raw_value, row.reason) for row in quarantine.collect())
    _, repeat = encode_event(handmade.COMMENT_B)
    expected = [(raw.decode(), reason) for raw, reason in handmade.BAD_MESSAGES]
    assert got == sorted([*expected, (repeat.decode(), "duplicate_event")])


def test_gold_kpis_match_the_hand_computed_figures(spark, handmade_lake):
    kpis = _table(spark, handmade_lake, config.GOLD_KPIS)
    rows = {row.scope: row.asDict() for row in kpis.collect()}
    assert set(rows) == {"all", "s1"}
    overall = rows["all"]
    expected = dict(handmade.EXPECTED_KPIS_ALL, revenue=Decimal("55.50"))
    got = {key: overall[key] for key in expected}
    assert got == pytest.approx(expected)
    assert str(overall["as_of"]) == "2026-11-20 11:00:00"


def test_active_viewers_per_minute_match_the_timeline(spark, handmade_lake):
    per_minute = _table(spark, handmade_lake, config.GOLD_VIEWERS_PER_MINUTE)
    got = {
        row.minute.strftime("%H:%M"): row.active_viewers
        for row in per_minute.where(F.col("stream_id") == "s1").collect()
    }
    assert got == handmade.EXPECTED_VIEWERS_PER_MINUTE


def test_purchases_and_revenue_per_minute_match_the_timeline(spark, handmade_lake):
    per_minute = _table(spark, handmade_lake, config.GOLD_VIEWERS_PER_MINUTE)
    got = {
        row.minute.strftime("%H:%M"): (row.purchases, str(row.revenue))
        for row in per_minute.where(F.col("stream_id") == "s1").collect()
    }
    expected = {
        minute: handmade.EXPECTED_SALES_PER_MINUTE.get(minute, (0, "0.00"))
        for minute in handmade.EXPECTED_VIEWERS_PER_MINUTE
    }
    assert got == expected


def test_sessions_close_on_leave_or_stay_open(spark, handmade_lake):
    facts = _table(spark, handmade_lake, config.GOLD_SESSIONS)
    got = {
        row.session_id: (row.is_closed, row.duration_seconds, row.dropped_off)
        for row in facts.collect()
    }
    assert got == {
        "a": (True, 2370.0, False),
        "b": (True, 890.0, True),
        "c": (True, 1200.0, None),
        "d": (False, None, None),
    }


def test_rfm_scores_match_the_hand_computed_quintiles(spark, handmade_lake):
    rfm = _table(spark, handmade_lake, config.GOLD_RFM)
    got = {
        row.viewer_id: (
            row.recency_days,
            row.frequency,
            str(row.monetary),
            row.r_score,
            row.f_score,
            row.m_score,
        )
        for row in rfm.collect()
    }
    assert got == handmade.EXPECTED_RFM


def test_running_again_without_new_data_changes_nothing(spark, handmade_lake):
    def snapshot():
        return {
            name: sorted(map(str, _table(spark, handmade_lake, name).drop(*volatile).collect()))
            for name, volatile in [
                (config.BRONZE_EVENTS, ["ingest_time", "ingest_date"]),
                (config.SILVER_EVENTS, ["ingest_time"]),
                (config.SILVER_QUARANTINE, ["quarantined_at"]),
                (config.GOLD_SESSIONS, ["updated_at"]),
                (config.GOLD_KPIS, ["computed_at"]),
            ]
        }

    before = snapshot()
    run_available_now(spark, handmade_lake)
    assert snapshot() == before


def test_the_dashboard_reader_sees_what_spark_wrote(handmade_lake):
    # deltalake, not Spark, reads gold for the dashboard: the open-session filter
    # once read nothing from a Spark-written table (no boolean min/max stats).
    open_sessions = data.load_open_sessions(handmade_lake.table(config.GOLD_SESSIONS))
    kpis = data.load_kpis(handmade_lake.table(config.GOLD_KPIS))
    overall = data.kpi_row(kpis, "all")
    assert list(open_sessions["session_id"]) == ["d"]
    assert (overall["total_sessions"], overall["events"]) == (4, 20)
