"""The bad-input catalogue end to end: real broker, every layer, each message's outcome.

tests/fixtures/bad_input.py lists the cases. Phase 1 goes through bronze,
silver and gold; phase 2 (late events and repeats) follows on the same
checkpoints, as a restarted job would. For each case the jobs keep running,
bronze holds every message sent, and every message is either in silver/events
or in silver/quarantine with the expected reason, never both, never neither.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import pytest

from lakehouse import config
from lakehouse.config import load_settings
from lakehouse.pipeline import run_available_now
from lakehouse.producers.kafka_sink import create_producer, ensure_topic, send_raw
from tests.fixtures import bad_input
from tests.fixtures.bad_input import CASES, SILVER

pytestmark = pytest.mark.slow

OUTCOMES = bad_input.expected_outcomes()
PHASE_1 = bad_input.messages(1)
PHASE_2 = bad_input.messages(2)


def utc(text: str) -> datetime:
    """A UTC time as PySpark hands timestamps back: naive, in the local time zone."""
    return datetime.fromisoformat(text).astimezone().replace(tzinfo=None)


@pytest.fixture(scope="module")
def catalogue_lake(spark, kafka_broker, tmp_path_factory):
    """Send phase 1, run every layer, send phase 2, run them again; hand back the settings."""
    settings = load_settings().with_overrides(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        topic="bad_input",
        root=str(tmp_path_factory.mktemp("lake")),
        mlflow_dir=str(tmp_path_factory.mktemp("mlflow")),
    )
    # One partition: a message's offset is its place in send order.
    ensure_topic(settings.bootstrap_servers, settings.topic, partitions=1)
    for phase in (PHASE_1, PHASE_2):
        # Keyed, because Kafka refuses a message with neither key nor value (the tombstone).
        keyed = [(f"key-{index}".encode(), value) for index, value in enumerate(phase)]
        with create_producer(settings.bootstrap_servers) as producer:
            send_raw(producer, settings.topic, keyed)
        run_available_now(spark, settings)
    return settings


def _table(spark, settings, name):
    return spark.read.format("delta").load(settings.table(name))


@pytest.fixture(scope="module")
def outcomes_at_offset(spark, catalogue_lake) -> dict[int, list[str]]:
    """Every outcome found for each Kafka offset: "silver" or the quarantine reason."""
    found = defaultdict(list)
    for row in _table(spark, catalogue_lake, config.SILVER_EVENTS).collect():
        found[row.kafka_offset].append(SILVER)
    for row in _table(spark, catalogue_lake, config.SILVER_QUARANTINE).collect():
        found[row.offset].append(row.reason)
    return dict(found)


def _offsets(case_name: str) -> list[int]:
    return [offset for offset, (name, _) in enumerate(OUTCOMES) if name == case_name]


def test_the_catalogue_has_at_least_30_kinds_of_bad_input():
    bad = [case for case in CASES if any(outcome != SILVER for _, outcome in case.messages)]
    assert len(bad) >= 30


def test_bronze_holds_every_message_sent_exactly_once(spark, catalogue_lake):
    bronze = _table(spark, catalogue_lake, config.BRONZE_EVENTS)
    offsets = sorted(row.offset for row in bronze.select("offset").collect())
    assert offsets == list(range(len(PHASE_1) + len(PHASE_2)))


def test_every_message_is_in_silver_or_in_quarantine_exactly_once(outcomes_at_offset):
    counts = {offset: len(found) for offset, found in outcomes_at_offset.items()}
    assert counts == {offset: 1 for offset in range(len(OUTCOMES))}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_input_has_its_outcome(case, outcomes_at_offset):
    got = [outcomes_at_offset.get(offset) for offset in _offsets(case.name)]
    assert got == [[outcome] for _, outcome in case.messages]


def _silver_event(spark, settings, event_id):
    events = _table(spark, settings, config.SILVER_EVENTS)
    return events.where(events.event_id == event_id).first()


def test_a_time_with_a_zone_offset_is_stored_in_utc(spark, catalogue_lake):
    assert _silver_event(spark, catalogue_lake, "offset").event_time == utc(
        "2026-11-21T10:30:00+00:00"
    )


def test_a_repeated_json_key_keeps_its_last_value(spark, catalogue_lake):
    assert _silver_event(spark, catalogue_lake, "twice").viewer_state == "NY"


def test_the_event_from_tomorrow_did_not_move_the_data_clock(spark, catalogue_lake):
    events = _table(spark, catalogue_lake, config.SILVER_EVENTS)
    newest = events.agg({"event_time": "max"}).first()[0]
    # The newest event is the 11:00 heartbeat; the 10:55 one of phase 2 was not late.
    assert newest == utc("2026-11-21T11:00:00+00:00")


def test_a_leave_before_its_join_leaves_the_session_open(spark, catalogue_lake):
    sessions = _table(spark, catalogue_lake, config.SILVER_SESSIONS)
    early = sessions.where(sessions.session_id == "s-early").first()
    got = (early.started_at, early.last_event_at, early.left_at, early.is_closed)
    assert got == (
        utc("2026-11-21T10:40:00+00:00"),
        utc("2026-11-21T10:45:00+00:00"),
        None,
        False,
    )


def _quality_rows(spark, settings, suite, batch_id):
    results = _table(spark, settings, config.GOLD_DATA_QUALITY)
    rows = results.where(
        (results.source == "silver_events")
        & (results.suite == suite)
        & (results.batch_id == batch_id)
    ).collect()
    return {(row.expectation, row.column_name): row for row in rows}


def test_the_bot_session_fails_the_sessions_suite_and_is_logged_not_stopped(spark, catalogue_lake):
    rows = _quality_rows(spark, catalogue_lake, "silver_sessions", batch_id=0)
    cap = rows[
        (
            "expect_column_pair_values_a_to_be_greater_than_b",
            "max_duration_seconds,duration_seconds",
        )
    ]
    # The bot watched 13 h 40 min of a 90-minute stream (cap 90 + 60 minutes); the
    # three other sessions of the batch stayed within it.
    touched = {"s-main", "s-clock", "s-early", "s-bot"}
    assert (cap.success, cap.unexpected_count, cap.element_count, cap.action) == (
        False,
        1,
        len(touched),
        "log",
    )
    bot = _table(spark, catalogue_lake, config.SILVER_SESSIONS).where("session_id = 's-bot'")
    assert bot.first().events == len(bad_input.BOT)


def test_a_batch_of_mostly_junk_fails_bronze_to_silver_with_its_share(spark, catalogue_lake):
    rows = _quality_rows(spark, catalogue_lake, "bronze_to_silver", batch_id=0)
    share = rows[("expect_column_values_to_be_null", "reason")]
    phase_1 = OUTCOMES[: len(PHASE_1)]
    quarantined = sum(1 for _, outcome in phase_1 if outcome != SILVER)
    assert (share.success, share.element_count, share.unexpected_count) == (
        False,
        len(PHASE_1),
        quarantined,
    )


def test_the_silver_events_suite_passed_on_every_batch(spark, catalogue_lake):
    results = _table(spark, catalogue_lake, config.GOLD_DATA_QUALITY)
    checked = results.where(results.suite == "silver_events").collect()
    assert {row.batch_id for row in checked} == {0, 1}
    assert [row for row in checked if not row.success] == []


def test_gold_was_computed_after_both_phases(spark, catalogue_lake):
    kpis = _table(spark, catalogue_lake, config.GOLD_KPIS)
    overall = kpis.where("scope = 'all'").first()
    # s-main, s-clock, s-early and s-bot; one purchase of 1 x 20.00.
    assert (overall.total_sessions, overall.purchases, str(overall.revenue)) == (4, 1, "20.00")
    assert overall.as_of == utc("2026-11-21T11:00:00+00:00")
