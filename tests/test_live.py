"""The live path (lakehouse/live.py): per-minute activity rows, replays, trimming, a real broker.

The unit tests feed tiny bronze frames (tests/test_silver.py's helpers) through
silver.parse_events, as the live query does; expected rows are worked out by
hand. The broker test runs the query on processing-time triggers and checks
active viewers per minute against a count made in plain Python from the events sent.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import Row

from lakehouse import config, live, silver
from lakehouse.config import load_settings
from lakehouse.erasure import erase_viewer
from lakehouse.pipeline import LIVE_QUERY, LiveBatch, LiveSettings, Trigger, start_live
from lakehouse.producers.kafka_sink import create_producer, ensure_topic, send_events
from tests.fixtures import handmade
from tests.test_silver import CART, DAY, LIKE, PURCHASE, STREAM_START, VIEW, at, bronze, message

MINUTE_58 = at("09:58:00")
MINUTE_59 = at("09:59:00")
SEEN_AT = at("09:58:30.250000")

# Session a (v1) likes, views, adds 2 x 12.50 to the cart and buys them at 09:58:30.250,
# the purchase sent twice; it likes again at 09:59:05. Session b (v2) likes at 09:59:10.
# A message that is not JSON and a stream_start (no viewer) count nowhere.
BATCH = [
    message(LIKE),
    message(VIEW),
    message(CART),
    message(PURCHASE),
    message(PURCHASE),
    message(LIKE, event_id="e-like-2", event_time=f"{DAY}T09:59:05Z"),
    message(
        LIKE,
        event_id="e-b",
        session_id="b",
        viewer_id="v2",
        device_type="tablet",
        viewer_state="NY",
        event_time=f"{DAY}T09:59:10Z",
    ),
    b"not json",
    message(STREAM_START),
]


def activity_of(spark, values, batch_id):
    return live.activity(silver.parse_events(bronze(spark, values)), batch_id)


def expected_row(minute, session, viewer, device, state, counts, revenue, seen_at):
    """A gold/live_activity row of batch 7; counts = (events, cart_adds, purchases)."""
    events, cart_adds, purchases = counts
    return Row(
        stream_id="s1",
        minute=minute,
        session_id=session,
        viewer_id=viewer,
        device_type=device,
        viewer_state=state,
        events=events,
        cart_adds=cart_adds,
        purchases=purchases,
        revenue=Decimal(revenue),
        first_event_at=seen_at,
        last_event_at=seen_at,
        batch_id=7,
        event_date=date.fromisoformat(DAY),
    )


def test_activity_has_one_row_per_stream_minute_and_session_counted_by_hand(spark):
    rows = activity_of(spark, BATCH, 7).orderBy("minute", "session_id").collect()

    assert rows == [
        expected_row(MINUTE_58, "a", "v1", "mobile", "CA", (4, 1, 1), "25.00", SEEN_AT),
        expected_row(MINUTE_59, "a", "v1", "mobile", "CA", (1, 0, 0), "0.00", at("09:59:05")),
        expected_row(MINUTE_59, "b", "v2", "tablet", "NY", (1, 0, 0), "0.00", at("09:59:10")),
    ]


def test_a_viewer_seen_in_two_batches_counts_once_in_its_minute(spark):
    # v1 in 09:59 again in batch 8, v3 new in 09:59: 09:59 has v1, v2, v3.
    later = [
        message(LIKE, event_id="e-like-3", event_time=f"{DAY}T09:59:40Z"),
        message(
            LIKE, event_id="e-c", session_id="c", viewer_id="v3", event_time=f"{DAY}T09:59:50Z"
        ),
    ]
    both = activity_of(spark, BATCH, 7).unionByName(activity_of(spark, later, 8))

    counts = {row.minute: row.active_viewers for row in live.viewers_per_minute(both).collect()}

    assert counts == {MINUTE_58: 1, MINUTE_59: 3}


def live_settings(tmp_path, **overrides):
    return load_settings().with_overrides(
        root=str(tmp_path / "lake"), mlflow_dir=str(tmp_path / "mlflow"), **overrides
    )


def test_a_replayed_batch_is_not_written_twice(spark, tmp_path):
    settings = live_settings(tmp_path)
    parsed = silver.parse_events(bronze(spark, BATCH))
    path = settings.table(config.GOLD_LIVE_ACTIVITY)

    def rows():
        return sorted(spark.read.format("delta").load(path).collect())

    write = LiveBatch(settings)
    write(parsed, 0)
    first = rows()
    write(parsed, 1)
    two_batches = rows()
    # A restart: a new writer, and Spark runs the last batch again.
    LiveBatch(settings)(parsed, 1)
    replayed = rows()
    LiveBatch(settings)(parsed, 2)
    batches = spark.read.format("delta").load(path).groupBy("batch_id").count().collect()

    assert len(first) == 3
    assert len(two_batches) == 6
    assert replayed == two_batches
    assert sorted((row.batch_id, row["count"]) for row in batches) == [(0, 3), (1, 3), (2, 3)]
    properties = spark.sql(f"SHOW TBLPROPERTIES delta.`{path}`").collect()
    assert ("delta.checkpointInterval", "100") in [(row.key, row.value) for row in properties]


def test_the_live_batch_trims_days_before_its_newest_minus_keep_days(spark, tmp_path):
    write = LiveBatch(live_settings(tmp_path))
    write.options = LiveSettings(keep_days=1, maintenance_minutes=0)
    today = date.fromisoformat(DAY)
    old_day = (today - timedelta(days=2)).isoformat()
    old_like = message(LIKE, event_id="e-old", event_time=f"{old_day}T09:58:30Z")

    write(silver.parse_events(bronze(spark, [old_like])), 0)
    write(silver.parse_events(bronze(spark, BATCH)), 1)

    rows = spark.read.format("delta").load(write.path)
    assert sorted(rows.select("event_date", "batch_id").distinct().collect()) == [(today, 1)]
    assert rows.count() == 3


def test_erasing_a_viewer_deletes_its_live_rows(spark, tmp_path):
    settings = live_settings(tmp_path)
    LiveBatch(settings)(silver.parse_events(bronze(spark, BATCH)), 0)

    deleted = erase_viewer(spark, settings, "v1")

    rows = spark.read.format("delta").load(settings.table(config.GOLD_LIVE_ACTIVITY)).collect()
    assert deleted[config.GOLD_LIVE_ACTIVITY] == 2
    assert [(row.session_id, row.viewer_id) for row in rows] == [("b", "v2")]


def test_trim_and_compact_drops_old_days_and_leaves_one_file_per_kept_day(spark, tmp_path):
    path = str(tmp_path / "live_activity")
    today = date.fromisoformat(DAY)
    for days_back, batch_id in ((3, 0), (1, 1), (1, 2), (0, 3), (0, 4)):
        day = (today - timedelta(days=days_back)).isoformat()
        values = [message(LIKE, event_id=f"e{batch_id}", event_time=f"{day}T09:58:30Z")]
        batch = activity_of(spark, values, batch_id)
        batch.write.format("delta").mode("append").partitionBy("event_date").save(path)
    before = spark.read.format("delta").load(path)
    kept_rows = sorted(before.where(before.event_date >= today - timedelta(days=1)).collect())

    done = live.trim_and_compact(spark, path, today - timedelta(days=1))

    after = spark.read.format("delta").load(path)
    assert done
    assert sorted(after.collect()) == kept_rows
    assert sorted(row.batch_id for row in kept_rows) == [1, 2, 3, 4]
    assert len(after.inputFiles()) == 2


@pytest.mark.slow
def test_the_live_query_counts_viewers_per_minute_as_plain_python_does(
    spark, kafka_broker, tmp_path
):
    settings = live_settings(
        tmp_path, bootstrap_servers=kafka_broker.bootstrap_servers, topic="live_path_events"
    )
    ensure_topic(settings.bootstrap_servers, settings.topic, partitions=3)
    path = settings.table(config.GOLD_LIVE_ACTIVITY)
    viewer_events = [event for event in handmade.EVENTS if "viewer_id" in event]
    expected: dict[datetime, set[str]] = defaultdict(set)
    for event in viewer_events:
        minute = datetime.fromisoformat(event["event_time"]).replace(second=0, microsecond=0)
        expected[minute.astimezone().replace(tzinfo=None)].add(event["viewer_id"])

    def run_until(rows: int, events: list[dict]) -> None:
        """Start the query, send once it has read the topic's end, stop at `rows` rows."""
        (query,) = start_live(spark, settings, Trigger("processing_time"))
        try:
            wait_for(lambda: query.lastProgress is not None, "the first live batch")
            with create_producer(settings.bootstrap_servers) as producer:
                send_events(producer, settings.topic, events)
            wait_for(lambda: row_count() >= rows, f"{rows} live rows")
            query.processAllAvailable()
        finally:
            query.stop()

    def row_count() -> int:
        if not (tmp_path / "lake" / config.GOLD_LIVE_ACTIVITY / "_delta_log").exists():
            return 0
        return spark.read.format("delta").load(path).count()

    # One row per minute and session with an event: counted from the events themselves.
    sessions_per_minute = {
        (event["session_id"], event["event_time"][:16]) for event in viewer_events
    }
    run_until(len(sessions_per_minute), viewer_events)
    first = spark.read.format("delta").load(path)
    counts = {row.minute: row.active_viewers for row in live.viewers_per_minute(first).collect()}
    first_rows = first.count()

    # After a restart from the checkpoint, a new viewer's event adds one row, nothing more.
    newcomer = {**viewer_events[-1], "event_id": "late-1", "session_id": "e", "viewer_id": "v9"}
    run_until(first_rows + 1, [newcomer])
    after = spark.read.format("delta").load(path)

    assert counts == {minute: len(viewers) for minute, viewers in expected.items()}
    assert after.count() == first_rows + 1
    assert after.where(after.viewer_id == "v9").count() == 1
    assert (tmp_path / "lake" / "_checkpoints" / LIVE_QUERY).is_dir()


def wait_for(condition, what: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {seconds:.0f} s")
        time.sleep(0.5)
