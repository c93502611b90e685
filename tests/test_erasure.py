"""Erasure of a viewer while the streaming queries run, then a vacuum.

The hand-made events (tests/fixtures/handmade.py) go through bronze, silver and
gold on processing-time triggers. Viewer v1 (sessions a and c) is erased while
the queries run; then session e of viewer v4 arrives. Expected figures are
worked out in plain Python from the fixture, without v1.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from lakehouse import config
from lakehouse.config import Settings, load_settings
from lakehouse.erasure import ALL_TABLES, erase_viewer, vacuum
from lakehouse.pipeline import Trigger, start_bronze, start_gold, start_silver
from lakehouse.producers.kafka_sink import create_producer, ensure_topic, send_events
from lakehouse.sink import read_table
from tests.fixtures import handmade

pytestmark = pytest.mark.slow

ERASED = "v1"
SESSION_E = {
    "stream_id": "s1",
    "session_id": "e",
    "viewer_id": "v4",
    "device_type": "tv",
    "viewer_state": "WA",
}
LATER_EVENTS = [
    {"event_id": "e1", "event_type": "join", "event_time": "2026-11-20T10:58:00.000Z", **SESSION_E},
    {"event_id": "e2", "event_type": "like", "event_time": "2026-11-20T10:59:10.000Z", **SESSION_E},
]


def utc(clock: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-20T{clock}+00:00").astimezone().replace(tzinfo=None)


def kept_events() -> list[dict]:
    """The fixture's events without the erased viewer, one copy each, plus session e."""
    unique = {event["event_id"]: event for event in handmade.EVENTS}
    return [e for e in unique.values() if e.get("viewer_id") != ERASED] + LATER_EVENTS


def expected_viewers_per_minute() -> dict[tuple[str, datetime], int]:
    viewers = defaultdict(set)
    for event in kept_events():
        if event.get("viewer_id"):
            minute = event["event_time"][11:16] + ":00"
            viewers[(event["stream_id"], utc(minute))].add(event["viewer_id"])
    return {key: len(names) for key, names in viewers.items()}


def drain(queries) -> None:
    """Let bronze, then silver, then gold process everything there is, twice over."""
    for _ in range(2):
        for query in queries:
            query.processAllAvailable()


@pytest.fixture(scope="module")
def erased_lake(spark, kafka_broker, tmp_path_factory):
    settings = load_settings().with_overrides(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        topic="erasure_events",
        root=str(tmp_path_factory.mktemp("lake")),
        mlflow_dir=str(tmp_path_factory.mktemp("mlflow")),
    )
    # The quality suites are not what this test is about, and they are slow.
    raw = copy.deepcopy(settings.raw)
    raw["quality"]["enabled"] = False
    settings = Settings(raw)
    ensure_topic(settings.bootstrap_servers, settings.topic, partitions=3)
    with create_producer(settings.bootstrap_servers) as producer:
        send_events(producer, settings.topic, handmade.EVENTS)
    trigger = Trigger("processing_time", "1 second")
    queries = []
    try:
        # Each layer starts once the table it reads exists.
        for start in (start_bronze, start_silver, start_gold):
            queries += start(spark, settings, trigger)
            drain(queries)
        deleted = erase_viewer(spark, settings, ERASED)
        with create_producer(settings.bootstrap_servers) as producer:
            send_events(producer, settings.topic, LATER_EVENTS)
        drain(queries)
        vacuum(spark, settings, retain_hours=0)
        drain(queries)
        failures = [query.exception() for query in queries if not query.isActive]
    finally:
        for query in queries:
            query.stop()
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "true")
    return settings, deleted, failures


def test_the_streams_kept_running_through_the_erasure_and_the_vacuum(erased_lake):
    _, _, failures = erased_lake
    assert failures == []


def test_the_erasure_reports_the_rows_it_deleted_per_table(erased_lake):
    _, deleted, _ = erased_lake
    viewer_events = [e for e in handmade.EVENTS if e.get("viewer_id") == ERASED]
    assert {name: deleted[name] for name in (config.BRONZE_EVENTS, config.SILVER_EVENTS)} == {
        config.BRONZE_EVENTS: len(viewer_events),
        config.SILVER_EVENTS: len(viewer_events),
    }
    assert (deleted[config.SILVER_SESSIONS], deleted[config.GOLD_SESSIONS]) == (2, 2)
    assert deleted[config.GOLD_RFM] == 1


def test_no_table_holds_the_viewer_and_silver_counts_each_kept_event_once(spark, erased_lake):
    settings, _, _ = erased_lake
    events = read_table(spark, settings.table(config.SILVER_EVENTS))
    ids = sorted(row.event_id for row in events.select("event_id").collect())
    assert ids == sorted(event["event_id"] for event in kept_events())
    for name in (config.SILVER_SESSIONS, config.GOLD_SESSIONS, config.GOLD_RFM):
        table = read_table(spark, settings.table(name))
        assert table.where(table.viewer_id == ERASED).count() == 0, name


def test_gold_counts_the_remaining_viewers_only(spark, erased_lake):
    settings, _, _ = erased_lake
    kpis = read_table(spark, settings.table(config.GOLD_KPIS)).where("scope = 'all'").first()
    minutes = read_table(spark, settings.table(config.GOLD_VIEWERS_PER_MINUTE)).collect()
    # Sessions b (v2), d (v3) and e (v4); no purchase is left (a and c bought).
    assert (kpis.total_sessions, kpis.unique_viewers, kpis.purchases) == (3, 3, 0)
    got = {(row.stream_id, row.minute): row.active_viewers for row in minutes}
    assert got == expected_viewers_per_minute()
    # The erased viewer's purchases leave the minutes they were counted in.
    assert {(row.purchases, str(row.revenue)) for row in minutes} == {(0, "0.00")}


def test_after_the_vacuum_no_data_file_of_bronze_names_the_viewer(erased_lake):
    settings, _, _ = erased_lake
    files = list(Path(settings.table(config.BRONZE_EVENTS)).rglob("*.parquet"))
    values = [value for f in files for value in pq.read_table(f, columns=["value"])["value"]]
    viewers = {json.loads(value.as_py()).get("viewer_id") for value in values}
    assert ERASED not in viewers
    assert viewers >= {"v2", "v3", "v4"}


def test_the_dashboard_reader_reads_every_table_as_spark_does_after_the_vacuum(spark, erased_lake):
    settings, _, _ = erased_lake
    tables = [name for name in ALL_TABLES if Path(settings.table(name)).exists()]
    by_deltalake = {
        name: DeltaTable(settings.table(name)).to_pyarrow_table().num_rows for name in tables
    }
    by_spark = {name: read_table(spark, settings.table(name)).count() for name in tables}
    assert by_deltalake == by_spark
    assert set(tables) >= {
        config.BRONZE_EVENTS,
        config.SILVER_EVENTS,
        config.SILVER_SESSIONS,
        config.GOLD_SESSIONS,
        config.GOLD_KPIS,
        config.GOLD_RFM,
        config.GOLD_VIEWERS_PER_MINUTE,
    }
