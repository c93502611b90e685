"""Tests of lakehouse/quality.py: each suite catches what it is for, and what a failure does.

Suites run on tiny Spark frames whose expected unexpected counts are worked out
by hand in the comments. The last tests run the silver and gold streams on a
bronze Delta table written here (no broker needed) and the validate job.
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.errors import StreamingQueryException
from pyspark.sql import types as T

from jobs.validate import validate
from lakehouse import config, quality
from lakehouse.config import Settings, load_settings
from lakehouse.pipeline import Trigger, start_gold, start_silver
from lakehouse.runner import await_queries
from lakehouse.sink import read_table, table_exists


def at(text: str) -> datetime:
    """A UTC time as PySpark takes and gives timestamps: naive, in the local time zone."""
    return datetime.fromisoformat(f"{text}+00:00").astimezone().replace(tzinfo=None)


def outcome_of(result) -> dict[tuple[str, str | None], tuple[bool, int | None]]:
    """(expectation, column) -> (success, unexpected_count) of a suite's validation."""
    found = {}
    for item in result.results:
        kwargs = item.expectation_config.kwargs
        column = kwargs.get("column") or kwargs.get("column_A")
        found[(item.expectation_config.type, column)] = (
            bool(item.success),
            (item.result or {}).get("unexpected_count"),
        )
    return found


@pytest.fixture(scope="module")
def gate() -> quality.Gate:
    return quality.Gate()


def test_quality_settings_read_the_conf_file():
    settings = quality.QualitySettings.from_settings(load_settings())

    assert (settings.max_quarantine_ratio, settings.max_session_hours) == (0.05, 12.0)
    assert (settings.action("silver_events"), settings.action("silver_sessions")) == (
        "stop",
        "log",
    )


@pytest.mark.parametrize(
    ("on_failure", "message"),
    [
        ({"silver_event": "stop"}, "unknown suites: ['silver_event']"),
        ({"silver_events": "halt"}, "the action must be log or stop"),
    ],
)
def test_quality_settings_refuse_unknown_suites_and_actions(on_failure, message):
    raw = copy.deepcopy(load_settings().raw)
    raw["quality"]["on_failure"] = on_failure

    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        quality.QualitySettings.from_settings(Settings(raw))


def test_every_nth_batch_is_due_counting_from_zero():
    every_third = quality.QualitySettings(every_n_batches=3)
    switched_off = quality.QualitySettings(enabled=False)

    assert [every_third.due(batch) for batch in range(5)] == [True, False, False, True, False]
    assert switched_off.due(0) is False


SESSION_SCHEMA = T.StructType(
    [
        T.StructField("session_id", T.StringType()),
        T.StructField("stream_id", T.StringType()),
        T.StructField("started_at", T.TimestampType()),
        T.StructField("last_event_at", T.TimestampType()),
        T.StructField("ended_at", T.TimestampType()),
        T.StructField("events", T.LongType()),
        T.StructField("revenue", T.DecimalType(18, 2)),
    ]
)


def test_the_sessions_suite_flags_negative_and_overlong_sessions(spark, gate):
    sessions = spark.createDataFrame(
        [
            # 30 minutes of a 90-minute stream: within 90 + 60.
            ("ok", "s1", at("2026-12-04T10:00:00"), at("2026-12-04T10:30:00"),
             at("2026-12-04T10:30:00"), 5, Decimal("0.00")),
            # Open, 2 h 40 min so far: beyond the 150-minute cap of s1.
            ("long", "s1", at("2026-12-04T08:00:00"), at("2026-12-04T10:40:00"), None, 9,
             Decimal("0.00")),
            # Stream unknown, 13 h: beyond max_session_hours (12).
            ("bot", "s9", at("2026-12-04T00:00:00"), at("2026-12-04T13:00:00"), None, 40,
             Decimal("0.00")),
            # Ends a minute before it starts.
            ("backwards", "s1", at("2026-12-04T10:00:00"), at("2026-12-04T10:00:00"),
             at("2026-12-04T09:59:00"), 1, Decimal("0.00")),
        ],
        SESSION_SCHEMA,
    )  # fmt: skip
    lengths = spark.createDataFrame([("s1", 5400.0)], "stream_id string, stream_seconds double")
    checks = quality.session_checks(sessions, lengths, margin_minutes=60, max_session_hours=12)

    caps = {row.session_id: row.max_duration_seconds for row in checks.collect()}
    result = gate.validate(checks, quality.silver_sessions_suite())

    assert caps == {"ok": 9000.0, "long": 9000.0, "bot": 43200.0, "backwards": 9000.0}
    assert outcome_of(result) == {
        ("expect_column_values_to_not_be_null", "session_id"): (True, 0),
        ("expect_column_values_to_be_unique", "session_id"): (True, 0),
        ("expect_column_values_to_be_between", "duration_seconds"): (False, 1),
        ("expect_column_values_to_be_between", "events"): (True, 0),
        ("expect_column_values_to_be_between", "revenue"): (True, 0),
        ("expect_column_pair_values_a_to_be_greater_than_b", "ended_at"): (False, 1),
        ("expect_column_pair_values_a_to_be_greater_than_b", "max_duration_seconds"): (False, 2),
    }


def test_the_kpi_suite_fails_a_rate_above_one_and_a_negative_count(spark, gate):
    kpis = spark.createDataFrame(
        [
            ("all", 10, 8, 3, 0.3, 0.5, 600.0, 30.0, 10, 55, Decimal("9.99")),
            ("s1", 10, 8, 12, 1.2, 0.5, 600.0, 30.0, -1, 55, Decimal("9.99")),
        ],
        "scope string, total_sessions long, unique_viewers long, converted_sessions long, "
        "conversion_rate double, drop_off_rate double, avg_session_duration_seconds double, "
        "click_to_purchase_lag_mean_seconds double, purchases long, events long, "
        "revenue decimal(18,2)",
    )

    failed = {
        key: value
        for key, value in outcome_of(
            gate.validate(kpis, quality.gold_suites()["gold_kpis"])
        ).items()
        if not value[0]
    }

    assert failed == {
        ("expect_column_values_to_be_between", "conversion_rate"): (False, 1),
        ("expect_column_values_to_be_between", "purchases"): (False, 1),
    }


def test_the_rfm_suite_accepts_scores_one_to_five_only(spark, gate):
    rfm = spark.createDataFrame(
        [("v1", 5, 1, 3, 0, 2, Decimal("10.00")), ("v2", 6, 0, 5, 3, 1, Decimal("0.00"))],
        "viewer_id string, r_score int, f_score int, m_score int, recency_days int, "
        "frequency long, monetary decimal(18,2)",
    )

    result = outcome_of(gate.validate(rfm, quality.gold_suites()["gold_rfm_analysis"]))

    assert result[("expect_column_values_to_be_in_set", "r_score")] == (False, 1)
    assert result[("expect_column_values_to_be_in_set", "f_score")] == (False, 1)
    assert result[("expect_column_values_to_be_in_set", "m_score")] == (True, 0)


VIEWERS_SCHEMA = "stream_id string, active_viewers long, purchases long, revenue decimal(18,2)"


def minute_row(active_viewers: int) -> tuple:
    """A gold/viewers_per_minute row of stream s1 without purchases."""
    return ("s1", active_viewers, 0, Decimal("0.00"))


def test_the_viewers_suite_fails_negative_purchases_and_revenue(spark, gate):
    viewers = spark.createDataFrame(
        [("s1", 3, -1, Decimal("5.00")), ("s1", 2, 1, Decimal("-0.01")), minute_row(1)],
        VIEWERS_SCHEMA,
    )

    result = outcome_of(gate.validate(viewers, quality.gold_suites()["gold_viewers_per_minute"]))

    assert result == {
        ("expect_column_values_to_be_between", "active_viewers"): (True, 0),
        ("expect_column_values_to_be_between", "purchases"): (False, 1),
        ("expect_column_values_to_be_between", "revenue"): (False, 1),
    }


def _failing_outcome(spark, gate, action: str) -> quality.SuiteOutcome:
    viewers = spark.createDataFrame([minute_row(0), minute_row(4)], VIEWERS_SCHEMA)
    result = gate.validate(viewers, quality.gold_suites()["gold_viewers_per_minute"])
    return quality.SuiteOutcome(
        "gold_viewers_per_minute", "gold/viewers_per_minute", action, result
    )


def test_an_outcome_becomes_data_quality_rows(spark, gate):
    outcome = _failing_outcome(spark, gate, "log")
    checked_at = at("2026-12-04T12:00:00")

    frame = quality.results_frame(spark, [outcome], "gold_metrics", 7, checked_at)
    rows = [row.asDict() for row in frame.collect()]

    def row(column: str, unexpected: list[int]) -> dict:
        return {
            "run_id": "gold_metrics:7",
            "checked_at": checked_at,
            "source": "gold_metrics",
            "batch_id": 7,
            "suite": "gold_viewers_per_minute",
            "table_name": "gold/viewers_per_minute",
            "expectation": "expect_column_values_to_be_between",
            "column_name": column,
            "success": not unexpected,
            "element_count": 2,
            "unexpected_count": len(unexpected),
            "unexpected_percent": 50.0 * len(unexpected),
            "observed_value": json.dumps(
                {"unexpected_count": len(unexpected), "sample": unexpected}
            ),
            "action": "log",
        }

    assert frame.schema == quality.RESULT_SCHEMA
    # Only active_viewers fails (the row with 0); purchases and revenue pass.
    assert rows == [row("active_viewers", [0]), row("purchases", []), row("revenue", [])]


def test_a_failed_stop_suite_saves_its_results_then_raises_with_the_failure(spark, gate):
    saved = []
    checks = quality.BatchChecks(
        lambda: gate,
        quality.QualitySettings(actions={"gold_viewers_per_minute": "stop"}),
        "gold_metrics",
        3,
        saved.append,
    )
    viewers = spark.createDataFrame([minute_row(0)], VIEWERS_SCHEMA)

    with pytest.raises(quality.DataQualityError) as raised:
        checks.run(quality.gold_suites()["gold_viewers_per_minute"], "gold/vpm", viewers)

    assert str(raised.value) == (
        "gold_metrics batch 3 stopped by data quality (conf [quality.on_failure]): "
        "gold_viewers_per_minute on gold/vpm: expect_column_values_to_be_between"
        '(active_viewers): {"unexpected_count": 1, "sample": [0]}'
    )
    assert [[outcome.suite for outcome in batch] for batch in saved] == [
        ["gold_viewers_per_minute"]
    ]


def test_a_failed_log_suite_warns_and_goes_on(spark, gate, caplog):
    saved = []
    checks = quality.BatchChecks(
        lambda: gate, quality.QualitySettings(), "gold_metrics", 4, saved.append
    )
    viewers = spark.createDataFrame([minute_row(0)], VIEWERS_SCHEMA)

    with caplog.at_level(logging.WARNING, logger="lakehouse.quality"):
        checks.run(quality.gold_suites()["gold_viewers_per_minute"], "gold/vpm", viewers)
        checks.finish()

    assert len(saved) == 1
    assert [record.getMessage()[:60] for record in caplog.records] == [
        "data quality: suite gold_viewers_per_minute on gold/vpm fail"
    ]


def test_a_batch_that_is_not_due_runs_no_suite(spark):
    saved = []
    checks = quality.BatchChecks(
        lambda: pytest.fail("no gate may be built"),
        quality.QualitySettings(every_n_batches=2),
        "gold_metrics",
        1,
        saved.append,
    )
    viewers = spark.createDataFrame([minute_row(0)], VIEWERS_SCHEMA)

    checks.run(quality.gold_suites()["gold_viewers_per_minute"], "gold/vpm", viewers)
    checks.finish()

    assert saved == []


# A stream of 90 minutes and one viewer who stays 13 hours: the silver_sessions suite fails.
STREAM_START = {
    "event_id": "q-start",
    "event_type": "stream_start",
    "event_time": "2026-11-22T10:00:00.000Z",
    "stream_id": "q1",
    "scheduled_end": "2026-11-22T11:30:00.000Z",
}
VIEWER = {"stream_id": "q1", "session_id": "q-s", "viewer_id": "q-v", "viewer_state": "CA"}
HEARTBEATS = [
    {
        "event_id": f"q-{hour}-{minute}",
        "event_type": "join" if hour == 0 else "heartbeat",
        "event_time": f"2026-11-22T{hour:02d}:{minute:02d}:00.000Z",
        **VIEWER,
    }
    for hour in range(0, 13)
    for minute in (0, 20, 40)
]


def write_bronze(spark, settings: Settings, events: list[dict]) -> None:
    """The events as bronze rows of one Kafka partition, as the bronze job writes them."""
    ingest = at("2026-12-04T09:00:00")
    rows = [
        ("q", 0, offset, ingest, "k", json.dumps(event).encode(), ingest, ingest.date())
        for offset, event in enumerate(events)
    ]
    schema = (
        "topic string, partition int, offset long, kafka_timestamp timestamp, key string, "
        "value binary, ingest_time timestamp, ingest_date date"
    )
    bronze = spark.createDataFrame(rows, schema)
    bronze.write.format("delta").save(settings.table(config.BRONZE_EVENTS))


def lake_settings(tmp_path: Path, on_failure: dict[str, str]) -> Settings:
    settings = load_settings().with_overrides(
        root=str(tmp_path / "lake"), mlflow_dir=str(tmp_path / "mlflow")
    )
    raw = copy.deepcopy(settings.raw)
    raw["quality"]["on_failure"] = {**raw["quality"]["on_failure"], **on_failure}
    return Settings(raw)


def test_a_stop_suite_stops_silver_before_it_writes_the_batch(spark, tmp_path):
    settings = lake_settings(tmp_path, {"silver_sessions": "stop"})
    write_bronze(spark, settings, [STREAM_START, *HEARTBEATS])

    with pytest.raises(StreamingQueryException, match="stopped by data quality") as raised:
        await_queries(start_silver(spark, settings, Trigger("available_now")))

    results = read_table(spark, settings.table(config.GOLD_DATA_QUALITY))
    failed = [(row.suite, row.column_name) for row in results.where("not success").collect()]
    assert "silver_sessions on silver/sessions" in str(raised.value)
    # Nothing of the batch was published; its data-quality results were.
    assert not table_exists(spark, settings.table(config.SILVER_EVENTS))
    assert not table_exists(spark, settings.table(config.SILVER_QUARANTINE))
    assert failed == [("silver_sessions", "max_duration_seconds,duration_seconds")]


def test_the_validate_job_checks_every_table_and_writes_data_docs(spark, tmp_path):
    settings = lake_settings(tmp_path, {})
    write_bronze(spark, settings, [STREAM_START, *HEARTBEATS[-3:]])
    for start in (start_silver, start_gold):
        await_queries(start(spark, settings, Trigger("available_now")))
    project_dir = tmp_path / "quality"

    exit_code = validate(spark, settings, str(project_dir))

    results = read_table(spark, settings.table(config.GOLD_DATA_QUALITY)).where(
        "source = 'validate'"
    )
    suites = {row.suite: row.success for row in results.select("suite", "success").collect()}
    assert exit_code == 0
    # No predictions (no model is registered), so that suite has no table to judge.
    assert suites == {
        "silver_events": True,
        "bronze_to_silver": True,
        "silver_sessions": True,
        "gold_fct_sessions": True,
        "gold_kpis": True,
        "gold_rfm_analysis": True,
        "gold_viewers_per_minute": True,
    }
    index = project_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert "silver_sessions" in index.read_text()
