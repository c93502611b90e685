"""Data-quality gates: Great Expectations suites over silver and gold, and their results.

Two levels of checks guard the lakehouse:

- Row level, in lakehouse/silver.py: every message that breaks a rule goes to
  silver/quarantine with the rule's name, and never reaches silver/events.
- Table level, here: GE suites judge a whole micro-batch or table. A failure
  means the data as a whole cannot be trusted (a producer sends mostly junk,
  a session outlives its stream, a rate leaves [0, 1]). Each result becomes
  rows of gold/data_quality; a failed suite is logged and, when conf
  [quality.on_failure] says "stop" for it, stops the job with DataQualityError.

The suites over silver/events repeat silver's row rules on the rows that
passed them, so a rule that stopped working is caught by a second, independent
implementation.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse import config
from lakehouse.config import Settings
from lakehouse.contract import (
    DEVICE_TYPES,
    EVENT_TYPES,
    ID_FIELDS,
    ID_PATTERN,
    VIEWER_STATE_PATTERN,
)
from lakehouse.sink import read_table, table_exists

# Great Expectations sends usage statistics unless told not to; this product
# never calls home.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
from great_expectations import expectations as gxe  # noqa: E402
from great_expectations.checkpoint import UpdateDataDocsAction  # noqa: E402
from great_expectations.core import ExpectationSuiteValidationResult  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

log = logging.getLogger(__name__)

BRONZE_TO_SILVER = "bronze_to_silver"
SILVER_EVENTS = "silver_events"
SILVER_SESSIONS = "silver_sessions"
GOLD_SESSIONS = "gold_fct_sessions"
GOLD_KPIS = "gold_kpis"
GOLD_RFM = "gold_rfm_analysis"
GOLD_VIEWERS = "gold_viewers_per_minute"
GOLD_PREDICTIONS = "gold_predicted_conversions"
SUITES = (
    BRONZE_TO_SILVER,
    SILVER_EVENTS,
    SILVER_SESSIONS,
    GOLD_SESSIONS,
    GOLD_KPIS,
    GOLD_RFM,
    GOLD_VIEWERS,
    GOLD_PREDICTIONS,
)
ACTIONS = ("log", "stop")

# The schema of gold/data_quality: one row per expectation per validation.
RESULT_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType()),
        T.StructField("checked_at", T.TimestampType()),
        T.StructField("source", T.StringType()),
        T.StructField("batch_id", T.LongType()),
        T.StructField("suite", T.StringType()),
        T.StructField("table_name", T.StringType()),
        T.StructField("expectation", T.StringType()),
        T.StructField("column_name", T.StringType()),
        T.StructField("success", T.BooleanType()),
        T.StructField("element_count", T.LongType()),
        T.StructField("unexpected_count", T.LongType()),
        T.StructField("unexpected_percent", T.DoubleType()),
        T.StructField("observed_value", T.StringType()),
        T.StructField("action", T.StringType()),
    ]
)

# silver/events, as silver writes it: the column order and the Spark types.
EVENT_COLUMN_TYPES = (
    ("event_id", "StringType"),
    ("event_type", "StringType"),
    ("event_time", "TimestampType"),
    ("stream_id", "StringType"),
    ("session_id", "StringType"),
    ("viewer_id", "StringType"),
    ("device_type", "StringType"),
    ("viewer_state", "StringType"),
    ("product_id", "StringType"),
    ("price", "DecimalType"),
    ("quantity", "IntegerType"),
    ("order_id", "StringType"),
    ("scheduled_end", "TimestampType"),
    ("kafka_partition", "IntegerType"),
    ("kafka_offset", "LongType"),
    ("ingest_time", "TimestampType"),
    ("event_date", "DateType"),
)


class DataQualityError(RuntimeError):
    """A suite whose conf action is "stop" failed: the job stops rather than publish."""


@dataclass(frozen=True)
class QualitySettings:
    """conf [quality]: whether and how often the streams validate, thresholds, actions."""

    enabled: bool = True
    every_n_batches: int = 1
    max_quarantine_ratio: float = 0.05
    session_margin_minutes: int = 60
    max_session_hours: float = 12.0
    max_message_bytes: int = 65536
    actions: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> QualitySettings:
        section = dict(settings.section("quality"))
        actions = dict(section.pop("on_failure", {}))
        unknown = sorted(set(actions) - set(SUITES))
        if unknown:
            raise ValueError(f"conf [quality.on_failure] names unknown suites: {unknown}")
        bad = sorted(name for name, action in actions.items() if action not in ACTIONS)
        if bad:
            raise ValueError(f"conf [quality.on_failure] {bad}: the action must be log or stop")
        quality = cls(**section, actions=actions)
        if quality.every_n_batches < 1:
            raise ValueError("conf [quality] every_n_batches must be at least 1")
        return quality

    def action(self, suite: str) -> str:
        return self.actions.get(suite, "log")

    def due(self, batch_id: int) -> bool:
        """Whether this micro-batch is validated (every n-th, counting from batch 0)."""
        return self.enabled and batch_id % self.every_n_batches == 0


def _between(column: str, low: float | None = None, high: float | None = None) -> Any:
    return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high)


def _suite(name: str, expectations: Sequence[Any]) -> gx.ExpectationSuite:
    # Given to the constructor, the expectations need no data context to exist yet.
    return gx.ExpectationSuite(name=name, expectations=list(expectations))


def bronze_to_silver_suite(max_quarantine_ratio: float) -> gx.ExpectationSuite:
    """Over a micro-batch of parsed messages: how much of it went to quarantine.

    Bad rows are quarantined one by one anyway; this fails when more than
    max_quarantine_ratio of a batch is bad, the sign of a broken producer.
    """
    mostly = 1.0 - max_quarantine_ratio
    return _suite(
        BRONZE_TO_SILVER,
        [
            gxe.ExpectColumnValuesToBeNull(column="reason", mostly=mostly),
            gxe.ExpectColumnValuesToNotBeNull(column="event_id", mostly=mostly),
            gxe.ExpectColumnValuesToBeInSet(
                column="event_type", value_set=list(EVENT_TYPES), mostly=mostly
            ),
        ],
    )


def silver_events_suite() -> gx.ExpectationSuite:
    """Over events accepted into silver: the schema, types and every value rule.

    The `event_time_horizon` parameter is the latest acceptable event_time (the
    batch's newest ingest time plus the future margin).
    """
    types = [gxe.ExpectColumnValuesToBeOfType(column=c, type_=t) for c, t in EVENT_COLUMN_TYPES]
    not_null = [
        gxe.ExpectColumnValuesToNotBeNull(column=column)
        for column in ("event_id", "event_type", "event_time", "stream_id", "event_date")
    ]
    ids = [gxe.ExpectColumnValuesToMatchRegex(column=c, regex=ID_PATTERN) for c in ID_FIELDS]
    return _suite(
        SILVER_EVENTS,
        [
            gxe.ExpectTableColumnsToMatchOrderedList(
                column_list=[column for column, _ in EVENT_COLUMN_TYPES]
            ),
            *types,
            *not_null,
            gxe.ExpectColumnValuesToBeUnique(column="event_id"),
            gxe.ExpectColumnValuesToBeInSet(column="event_type", value_set=list(EVENT_TYPES)),
            gxe.ExpectColumnValuesToBeInSet(column="device_type", value_set=list(DEVICE_TYPES)),
            gxe.ExpectColumnValuesToMatchRegex(column="viewer_state", regex=VIEWER_STATE_PATTERN),
            *ids,
            _between("price", low=0),
            _between("quantity", low=1),
            _between("event_time", high={"$PARAMETER": "event_time_horizon"}),
        ],
    )


def silver_sessions_suite() -> gx.ExpectationSuite:
    """Over sessions with their duration and cap (see session_checks)."""
    return _suite(
        SILVER_SESSIONS,
        [
            gxe.ExpectColumnValuesToNotBeNull(column="session_id"),
            gxe.ExpectColumnValuesToBeUnique(column="session_id"),
            _between("duration_seconds", low=0),
            _between("events", low=1),
            _between("revenue", low=0),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="ended_at",
                column_B="started_at",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            ),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="max_duration_seconds", column_B="duration_seconds", or_equal=True
            ),
        ],
    )


def gold_suites() -> dict[str, gx.ExpectationSuite]:
    """One suite per gold table: rates in [0, 1], scores 1-5, counts and amounts >= 0."""
    counts = ("total_sessions", "unique_viewers", "converted_sessions", "purchases", "events")
    rfm_scores = [
        gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[1, 2, 3, 4, 5])
        for column in ("r_score", "f_score", "m_score")
    ]
    return {
        GOLD_SESSIONS: _suite(
            GOLD_SESSIONS,
            [
                gxe.ExpectColumnValuesToBeUnique(column="session_id"),
                _between("duration_seconds", low=0),
                _between("engagement_score", low=0),
                *[_between(column, low=0) for column in ("events", "purchases", "cart_adds")],
            ],
        ),
        GOLD_KPIS: _suite(
            GOLD_KPIS,
            [
                gxe.ExpectColumnValuesToBeUnique(column="scope"),
                _between("conversion_rate", 0, 1),
                _between("drop_off_rate", 0, 1),
                *[_between(column, low=0) for column in counts],
                _between("revenue", low=0),
                _between("avg_session_duration_seconds", low=0),
                _between("click_to_purchase_lag_mean_seconds", low=0),
            ],
        ),
        GOLD_RFM: _suite(
            GOLD_RFM,
            [
                gxe.ExpectColumnValuesToBeUnique(column="viewer_id"),
                *rfm_scores,
                _between("recency_days", low=0),
                _between("frequency", low=1),
                _between("monetary", low=0),
            ],
        ),
        GOLD_VIEWERS: _suite(
            GOLD_VIEWERS,
            [
                _between("active_viewers", low=1),
                _between("purchases", low=0),
                _between("revenue", low=0),
            ],
        ),
        GOLD_PREDICTIONS: _suite(
            GOLD_PREDICTIONS,
            [
                gxe.ExpectColumnValuesToBeUnique(column="session_id"),
                _between("conversion_probability", 0, 1),
                _between("churn_risk", 0, 1),
            ],
        ),
    }


def session_checks(
    sessions_df: DataFrame,
    stream_lengths_df: DataFrame,
    margin_minutes: int,
    max_session_hours: float,
) -> DataFrame:
    """silver/sessions rows -> the frame silver_sessions_suite judges.

    duration_seconds runs to ended_at, or to the last event while the session
    is open. max_duration_seconds is the stream's length plus the margin, or
    max_session_hours where the stream's length is not known.
    stream_lengths_df: stream_id, stream_seconds.
    """
    end = F.coalesce("ended_at", "last_event_at")
    cap = F.coalesce(
        F.col("stream_seconds") + F.lit(margin_minutes * 60.0),
        F.lit(max_session_hours * 3600.0),
    )
    return (
        sessions_df.join(stream_lengths_df, "stream_id", "left")
        .withColumn("duration_seconds", (F.unix_micros(end) - F.unix_micros("started_at")) / 1e6)
        .withColumn("max_duration_seconds", cap)
        .select(
            "session_id",
            "stream_id",
            "started_at",
            "ended_at",
            "events",
            "revenue",
            "duration_seconds",
            "max_duration_seconds",
        )
    )


def stream_lengths(streams_df: DataFrame) -> DataFrame:
    """gold.streams() rows -> stream_id, stream_seconds (to its end, or its scheduled end)."""
    end = F.coalesce("ended_at", "scheduled_end")
    return streams_df.select(
        "stream_id",
        ((F.unix_micros(end) - F.unix_micros("started_at")) / 1e6).alias("stream_seconds"),
    )


@dataclass(frozen=True)
class SuiteOutcome:
    """One suite's validation of one table or batch, and what to do if it failed."""

    suite: str
    table_name: str
    action: str
    result: ExpectationSuiteValidationResult

    @property
    def success(self) -> bool:
        return bool(self.result.success)

    def failed(self) -> list[str]:
        """'expectation(column): observed' for each failed expectation."""
        failures = []
        for item in self.result.results:
            if not item.success:
                kwargs = item.expectation_config.kwargs
                column = kwargs.get("column") or kwargs.get("column_A") or ""
                failures.append(
                    f"{item.expectation_config.type}({column}): {_observed(item.result)}"
                )
        return failures

    def rows(self, source: str, batch_id: int, checked_at: datetime) -> list[tuple]:
        """gold/data_quality rows, in RESULT_SCHEMA's order."""
        run_id = f"{source}:{batch_id}"
        rows = []
        for item in self.result.results:
            kwargs = item.expectation_config.kwargs
            result = item.result or {}
            column = kwargs.get("column")
            if column is None and "column_A" in kwargs:
                column = f"{kwargs['column_A']},{kwargs['column_B']}"
            rows.append(
                (
                    run_id,
                    checked_at,
                    source,
                    batch_id,
                    self.suite,
                    self.table_name,
                    item.expectation_config.type,
                    column,
                    bool(item.success),
                    _as_int(result.get("element_count")),
                    _as_int(result.get("unexpected_count")),
                    _as_float(result.get("unexpected_percent")),
                    _observed(result),
                    self.action,
                )
            )
        return rows


def _as_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _observed(result: Mapping[str, Any] | None) -> str | None:
    """What the expectation saw, short: the observed value or a sample of unexpected ones.

    None when the validation kept no details (a passing suite, see Gate.validate).
    """
    if not result:
        return None
    if "observed_value" in result:
        return json.dumps(result["observed_value"], default=str)[:500]
    summary = {
        "unexpected_count": result.get("unexpected_count"),
        "sample": result.get("partial_unexpected_list", [])[:5],
    }
    return json.dumps(summary, default=str)[:500]


class Gate:
    """Runs suites on Spark DataFrames through one Great Expectations context.

    The default is an in-memory context (the streaming jobs keep results in
    gold/data_quality); validate_job passes a file context that also keeps GE's
    results and data docs.
    """

    def __init__(self, context: Any = None, details_on_failure_only: bool = False) -> None:
        self.details_on_failure_only = details_on_failure_only
        self.context = context or gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        datasource = self.context.data_sources.add_or_update_spark("lakehouse")
        asset = next((a for a in datasource.assets if a.name == "frames"), None)
        asset = asset or datasource.add_dataframe_asset("frames")
        self.batch_definition = next(
            (d for d in asset.batch_definitions if d.name == "whole_frame"), None
        ) or asset.add_batch_definition_whole_dataframe("whole_frame")

    def validate(
        self,
        frame: DataFrame,
        suite: gx.ExpectationSuite,
        parameters: Mapping[str, Any] | None = None,
    ) -> ExpectationSuiteValidationResult:
        """Validate with counts and samples of unexpected values (result format SUMMARY).

        With details_on_failure_only, a first pass asks only whether each
        expectation holds (BOOLEAN_ONLY, about a third of the Spark jobs); a
        suite that passes is returned as is, without counts, and only a suite
        that fails is validated again for its details.
        """
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        parameters = dict(parameters or {})
        if self.details_on_failure_only:
            quick = batch.validate(
                suite, result_format="BOOLEAN_ONLY", expectation_parameters=parameters
            )
            if quick.success:
                return quick
        return batch.validate(suite, result_format="SUMMARY", expectation_parameters=parameters)


def results_frame(
    spark: SparkSession,
    outcomes: Sequence[SuiteOutcome],
    source: str,
    batch_id: int,
    checked_at: datetime,
) -> DataFrame:
    """The outcomes as a gold/data_quality DataFrame."""
    rows = [row for outcome in outcomes for row in outcome.rows(source, batch_id, checked_at)]
    return spark.createDataFrame(rows, RESULT_SCHEMA)


class BatchChecks:
    """The suites one micro-batch runs, collected and saved together.

    run() validates a frame when the batch is due (conf [quality]); a failed
    suite whose action is "stop" saves what was collected and raises at once,
    so the caller writes nothing after it. finish() saves the rest and logs
    every failure. save must be idempotent per batch (an append with txnVersion).
    """

    def __init__(
        self,
        gate: Callable[[], Gate],
        settings: QualitySettings,
        source: str,
        batch_id: int,
        save: Callable[[Sequence[SuiteOutcome]], None],
    ) -> None:
        self.gate = gate
        self.settings = settings
        self.source = source
        self.batch_id = batch_id
        self.save = save
        self.due = settings.due(batch_id)
        self.outcomes: list[SuiteOutcome] = []

    def run(
        self,
        suite: gx.ExpectationSuite,
        table_name: str,
        frame: DataFrame,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        if not self.due:
            return
        started = time.perf_counter()
        result = self.gate().validate(frame, suite, parameters)
        outcome = SuiteOutcome(suite.name, table_name, self.settings.action(suite.name), result)
        log.info(
            "data quality: %s on %s %s in %.1f s",
            suite.name,
            table_name,
            "passed" if outcome.success else "failed",
            time.perf_counter() - started,
        )
        self.outcomes.append(outcome)
        if not outcome.success and outcome.action == "stop":
            self.finish()

    def finish(self) -> None:
        if self.outcomes:
            self.save(self.outcomes)
        enforce(self.outcomes, self.source, self.batch_id)


def enforce(outcomes: Sequence[SuiteOutcome], source: str, batch_id: int) -> None:
    """Log every failed suite; raise DataQualityError if a failed suite's action is stop."""
    stopping = []
    for outcome in outcomes:
        if outcome.success:
            continue
        details = "; ".join(outcome.failed())
        log.warning(
            "data quality: suite %s on %s failed in %s batch %s: %s",
            outcome.suite,
            outcome.table_name,
            source,
            batch_id,
            details,
        )
        if outcome.action == "stop":
            stopping.append(f"{outcome.suite} on {outcome.table_name}: {details}")
    if stopping:
        raise DataQualityError(
            f"{source} batch {batch_id} stopped by data quality (conf [quality.on_failure]): "
            + " | ".join(stopping)
        )


def _frames_to_validate(
    spark: SparkSession, settings: Settings, quality: QualitySettings
) -> list[tuple[gx.ExpectationSuite, str, DataFrame, dict[str, Any]]]:
    """(suite, table, frame, parameters) for every table that exists, whole."""

    def exists(name: str) -> bool:
        return table_exists(spark, settings.table(name))

    def read(name: str) -> DataFrame:
        return read_table(spark, settings.table(name))

    runs = []
    if exists(config.SILVER_EVENTS):
        events = read(config.SILVER_EVENTS)
        margin = int(settings.section("streaming")["future_margin_seconds"])
        newest_ingest = events.agg(F.max("ingest_time")).first()[0]
        horizon = {"event_time_horizon": newest_ingest + timedelta(seconds=margin)}
        runs.append((silver_events_suite(), config.SILVER_EVENTS, events, horizon))
        no_reason = F.lit(None).cast("string")
        accepted = events.select(no_reason.alias("reason"), "event_id", "event_type")
        if exists(config.SILVER_QUARANTINE):
            rejected = read(config.SILVER_QUARANTINE).select(
                "reason", "event_id", no_reason.alias("event_type")
            )
            accepted = accepted.unionByName(rejected)
        suite = bronze_to_silver_suite(quality.max_quarantine_ratio)
        runs.append((suite, config.BRONZE_EVENTS, accepted, {}))
    if exists(config.SILVER_SESSIONS) and exists(config.GOLD_STREAMS):
        checks = session_checks(
            read(config.SILVER_SESSIONS),
            stream_lengths(read(config.GOLD_STREAMS)),
            quality.session_margin_minutes,
            quality.max_session_hours,
        )
        runs.append((silver_sessions_suite(), config.SILVER_SESSIONS, checks, {}))
    gold_tables = {
        GOLD_SESSIONS: config.GOLD_SESSIONS,
        GOLD_KPIS: config.GOLD_KPIS,
        GOLD_RFM: config.GOLD_RFM,
        GOLD_VIEWERS: config.GOLD_VIEWERS_PER_MINUTE,
        GOLD_PREDICTIONS: config.GOLD_PREDICTIONS,
    }
    for name, suite in gold_suites().items():
        if exists(gold_tables[name]):
            runs.append((suite, gold_tables[name], read(gold_tables[name]), {}))
    return runs


def validate_tables(
    spark: SparkSession, settings: Settings, project_dir: str
) -> tuple[list[SuiteOutcome], str | None]:
    """Run every suite over its whole table in a file context under project_dir.

    GE keeps the suites, the validation results and the data docs (HTML) there.
    Returns the outcomes and the path of the data docs' index page.
    """
    quality = QualitySettings.from_settings(settings)
    context = gx.get_context(mode="file", project_root_dir=project_dir)
    gate = Gate(context)
    outcomes = []
    for suite, table_name, frame, parameters in _frames_to_validate(spark, settings, quality):
        stored = context.suites.add_or_update(suite)
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite.name, data=gate.batch_definition, suite=stored)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=suite.name,
                validation_definitions=[definition],
                actions=[UpdateDataDocsAction(name="update_data_docs")],
                result_format="SUMMARY",
            )
        )
        run = checkpoint.run(
            batch_parameters={"dataframe": frame}, expectation_parameters=parameters
        )
        result = next(iter(run.run_results.values()))
        outcomes.append(SuiteOutcome(suite.name, table_name, quality.action(suite.name), result))
        log.info("validated %s with %s: success=%s", table_name, suite.name, result.success)
    sites = context.get_docs_sites_urls()
    index = sites[0]["site_url"] if sites else None
    return outcomes, index
