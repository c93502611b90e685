"""The streaming queries of each layer: read, transform (pure modules), write (sink).

Each start_* function starts its queries on a given SparkSession and returns
them; the jobs in jobs/ wait on them, the tests drive them to completion.
Query names double as checkpoint folder names and Delta txnAppIds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from lakehouse import config, gold, live, quality, silver
from lakehouse.bronze import to_bronze
from lakehouse.config import Settings, load_settings
from lakehouse.contract import STREAM_EVENT_TYPES
from lakehouse.kafka_options import KafkaSecurity
from lakehouse.offsets import check_no_data_loss
from lakehouse.progress import is_local, progress_folder, register_progress_listener
from lakehouse.quality import BatchChecks, Gate, QualitySettings, SuiteOutcome
from lakehouse.registry import ChampionModel
from lakehouse.runner import StepTimes, await_queries, configure_logging, job_arguments
from lakehouse.scoring import score_sessions
from lakehouse.sessions import build_sessions
from lakehouse.sink import (
    append_once,
    delta_stream_writer,
    merge_upsert,
    overwrite,
    read_table,
    table_exists,
)
from lakehouse.spark import build_session
from lakehouse.tracking import configure_tracking

log = logging.getLogger(__name__)

BRONZE_QUERY = "bronze_events"
SILVER_EVENTS_QUERY = "silver_events"
# The txnAppId of silver_events' appends to silver/quarantine.
SILVER_QUARANTINE_APP_ID = "silver_quarantine"
GOLD_QUERY = "gold_metrics"
LIVE_QUERY = "live_activity"
# The Spark scheduler pool of the live query (spark.scheduler.mode FAIR in
# conf/spark-defaults.conf): its small jobs go ahead of the layers' queued tasks.
LIVE_POOL = "live"

# How far back silver looks for the earlier events of the sessions in a batch.
# A session longer than this (a bot watching for days) is rebuilt from its
# recent events only; its counts then miss the older ones.
SESSION_LOOKBACK = timedelta(days=1)


def parse_duration(text: str) -> timedelta:
    """'10 minutes', '30 seconds', '2 hours' or '1 day' -> a timedelta."""
    amount, _, unit = text.strip().partition(" ")
    units = {"second": "seconds", "minute": "minutes", "hour": "hours", "day": "days"}
    name = units.get(unit.strip().lower().rstrip("s"))
    if name is None or not amount.isdigit():
        raise ValueError(f"cannot read the duration {text!r}: write e.g. '10 minutes'")
    return timedelta(**{name: int(amount)})


@dataclass(frozen=True)
class Trigger:
    """processing_time (live, every `interval`) or available_now (catch up, then stop)."""

    kind: str = "processing_time"
    interval: str = "10 seconds"

    @classmethod
    def from_settings(
        cls, settings: Settings, kind: str | None = None, interval: str | None = None
    ) -> Trigger:
        """conf [streaming] trigger and trigger_interval, unless given."""
        streaming = settings.section("streaming")
        return cls(kind or streaming["trigger"], interval or streaming["trigger_interval"])

    def apply(self, writer: DataStreamWriter) -> DataStreamWriter:
        if self.kind == "available_now":
            return writer.trigger(availableNow=True)
        if self.kind == "processing_time":
            return writer.trigger(processingTime=self.interval)
        raise ValueError(f"unknown trigger {self.kind!r}: use processing_time or available_now")


def read_kafka(
    spark: SparkSession,
    settings: Settings,
    starting_offsets: str | None = None,
    fail_on_data_loss: bool | None = None,
) -> DataFrame:
    """The topic as a stream; offsets and data-loss handling from conf [kafka] unless given."""
    kafka = settings.section("kafka")
    if fail_on_data_loss is None:
        fail_on_data_loss = bool(kafka.get("fail_on_data_loss", True))
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.bootstrap_servers)
        # TLS and SASL, from the environment or conf [kafka.security]; none by default.
        .options(**KafkaSecurity.from_settings(settings).spark_options())
        .option("subscribe", settings.topic)
        .option("startingOffsets", starting_offsets or kafka["starting_offsets"])
        .option("maxOffsetsPerTrigger", int(kafka["max_offsets_per_trigger"]))
        # Unread data deleted by retention stops the query loudly instead of
        # being skipped without a trace (conf [kafka] fail_on_data_loss).
        .option("failOnDataLoss", str(fail_on_data_loss).lower())
        .load()
    )


def read_delta_stream(spark: SparkSession, settings: Settings, path: str) -> DataFrame:
    """A Delta table as a stream of its appends.

    skipChangeCommits: commits that delete or rewrite rows (an erasure, see
    lakehouse/erasure.py) are passed over instead of failing the query, so a
    deleted row is neither read again nor counted twice downstream.
    maxFilesPerTrigger bounds a micro-batch after a backlog (conf [streaming]).
    """
    max_files = int(settings.section("streaming").get("max_files_per_trigger", 1000))
    return (
        spark.readStream.format("delta")
        .option("skipChangeCommits", "true")
        .option("maxFilesPerTrigger", max_files)
        .load(path)
    )


def start_bronze(spark: SparkSession, settings: Settings, trigger: Trigger) -> list[StreamingQuery]:
    """Kafka -> bronze/events, once no unread message has been lost (lakehouse/offsets.py)."""
    check_no_data_loss(
        settings.checkpoint(BRONZE_QUERY),
        settings.bootstrap_servers,
        settings.topic,
        KafkaSecurity.from_settings(settings),
        fail=bool(settings.section("kafka").get("fail_on_data_loss", True)),
        progress_dir=progress_folder(settings),
        query_name=BRONZE_QUERY,
    )
    bronze = to_bronze(read_kafka(spark, settings))
    writer = delta_stream_writer(
        bronze,
        settings.table(config.BRONZE_EVENTS),
        settings.checkpoint(BRONZE_QUERY),
        BRONZE_QUERY,
        partition_by=["ingest_date"],
    )
    return [trigger.apply(writer).start()]


@dataclass(frozen=True)
class LiveSettings:
    """conf [live]: the live query from Kafka to gold/live_activity (lakehouse/live.py)."""

    enabled: bool = True
    trigger_interval: str = "1 second"
    starting_offsets: str = "latest"
    keep_days: int = 1
    maintenance_minutes: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LiveSettings:
        section = settings.section("live")
        defaults = cls()
        return cls(
            enabled=bool(section.get("enabled", defaults.enabled)),
            trigger_interval=str(section.get("trigger_interval", defaults.trigger_interval)),
            starting_offsets=str(section.get("starting_offsets", defaults.starting_offsets)),
            keep_days=int(section.get("keep_days", defaults.keep_days)),
            maintenance_minutes=float(
                section.get("maintenance_minutes", defaults.maintenance_minutes)
            ),
        )


class QualityCheckedBatch:
    """What the foreachBatch writers share: one GE gate, built on first use."""

    def __init__(self, settings: Settings) -> None:
        self.quality = QualitySettings.from_settings(settings)
        self.quality_path = settings.table(config.GOLD_DATA_QUALITY)
        self._gate: Gate | None = None

    def gate(self) -> Gate:
        if self._gate is None:
            # Passing suites are recorded without counts: a third of the cost.
            self._gate = Gate(details_on_failure_only=True)
        return self._gate

    def _checks(self, spark: SparkSession, source: str, batch_id: int) -> BatchChecks:
        """The data-quality checks of one batch, saved to gold/data_quality once per batch."""

        def save(outcomes: Sequence[SuiteOutcome]) -> None:
            rows = quality.results_frame(spark, outcomes, source, batch_id, datetime.now(UTC))
            append_once(rows, self.quality_path, f"{source}_quality", batch_id)

        return BatchChecks(self.gate, self.quality, source, batch_id, save)


class RoutedBatch(NamedTuple):
    """One silver micro-batch after routing; rows, events and sessions are persisted."""

    rows: DataFrame  # every parsed row, reason null for a valid event
    events: DataFrame  # the valid events, in silver/events' shape
    sessions: DataFrame  # the sessions they touch, rebuilt
    recent: DataFrame  # the events of silver's lookback plus this batch's
    watermark: datetime | None
    clock: datetime | None
    reasons: dict[str | None, int]  # rows per quarantine reason, None for valid events
    newest_ingest: datetime  # the batch's newest ingest time


class SilverBatch(QualityCheckedBatch):
    """foreachBatch of silver_events over parsed bronze rows: route, check, then write.

    The writes come in this order, each safe to repeat for the batch id:
    data-quality results, quarantine rows, sessions (MERGE), events. Sessions
    are merged before the events are appended, so whoever sees an event in
    silver/events also sees its session in silver/sessions. When a suite whose
    action is "stop" fails, only the data-quality rows are written.

    The watermark is the newest event_time in silver/events when the batch
    starts, minus conf [streaming] watermark: a valid event older than that is
    quarantined as late_event. silver/events itself is the deduplication state
    (see silver.route_events); it is read back SESSION_LOOKBACK before the
    batch's oldest on-time event.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        streaming = settings.section("streaming")
        self.events_path = settings.table(config.SILVER_EVENTS)
        self.sessions_path = settings.table(config.SILVER_SESSIONS)
        self.quarantine_path = settings.table(config.SILVER_QUARANTINE)
        self.gap_minutes = int(settings.section("sessions")["inactivity_gap_minutes"])
        self.watermark_delay = parse_duration(streaming["watermark"])
        self.future_margin = timedelta(seconds=int(streaming["future_margin_seconds"]))
        self.suites = (
            quality.bronze_to_silver_suite(self.quality.max_quarantine_ratio),
            quality.silver_events_suite(),
            quality.silver_sessions_suite(),
        )

    def __call__(self, parsed_batch: DataFrame, batch_id: int) -> None:
        spark = parsed_batch.sparkSession
        parsed = parsed_batch.persist()
        routed: RoutedBatch | None = None
        times = StepTimes()
        try:
            if parsed.isEmpty():
                return
            with times.step("route"):
                routed = self._route(spark, parsed)
            checks = self._checks(spark, SILVER_EVENTS_QUERY, batch_id)
            with times.step("checks"):
                self._check(checks, routed)
                checks.finish()
            with times.step("quarantine"):
                quarantine = silver.quarantine_rows(routed.rows)
                append_once(quarantine, self.quarantine_path, SILVER_QUARANTINE_APP_ID, batch_id)
            with times.step("sessions"):
                merge_upsert(
                    routed.sessions, self.sessions_path, ["session_id"], newest_by="last_event_at"
                )
                if routed.clock is not None:
                    self._close_idle_sessions(spark, routed.clock)
            with times.step("events"):
                append_once(
                    routed.events, self.events_path, SILVER_EVENTS_QUERY, batch_id, ["event_date"]
                )
            log.info(
                "silver batch %s: watermark %s, data clock %s, reasons %s; %s",
                batch_id,
                routed.watermark,
                routed.clock,
                routed.reasons,
                times,
            )
        finally:
            # Unpersisting a frame that was never cached is a no-op.
            parsed.unpersist()
            if routed is not None:
                for frame in (routed.rows, routed.events, routed.sessions):
                    frame.unpersist()

    def _route(self, spark: SparkSession, parsed: DataFrame) -> RoutedBatch:
        """Late and repeated events given a reason; the valid ones, their sessions, the clock."""
        newest = self._newest_event_time(spark)
        watermark = None if newest is None else newest - self.watermark_delay
        on_time = F.col("reason").isNull()
        if watermark is not None:
            on_time &= F.col("event_time") >= F.lit(watermark).cast("timestamp")
        earliest = parsed.where(on_time).agg(F.min(F.to_date("event_time"))).first()[0]
        history = None
        if earliest is not None and table_exists(spark, self.events_path):
            history = read_table(spark, self.events_path).where(
                F.col("event_date") >= earliest - SESSION_LOOKBACK
            )

        routed = silver.route_events(parsed, history, watermark).persist()
        # One pass over the batch, which also fills the cache: counted after the
        # events are appended, every row would find itself in silver.
        summary = (
            routed.groupBy("reason")
            .agg(
                F.count("*").alias("rows"),
                F.max("event_time").alias("newest"),
                F.max("ingest_time").alias("newest_ingest"),
            )
            .collect()
        )
        reasons = {row.reason: row["rows"] for row in summary}
        newest_ingest = max(row.newest_ingest for row in summary)
        events = silver.with_event_date(silver.valid_events(routed)).persist()
        recent = events if history is None else history.unionByName(events)
        # The data clock: silver's newest event, or a newer one of this batch.
        batch_newest = next((row.newest for row in summary if row.reason is None), None)
        clock = max((t for t in (newest, batch_newest) if t is not None), default=None)
        touched = events.where(F.col("session_id").isNotNull()).select("session_id").distinct()
        session_events = recent.join(F.broadcast(touched), "session_id", "left_semi")
        sessions = build_sessions(session_events, clock, self.gap_minutes).persist()
        return RoutedBatch(
            routed, events, sessions, recent, watermark, clock, reasons, newest_ingest
        )

    def _newest_event_time(self, spark: SparkSession) -> datetime | None:
        """The newest event_time in silver/events before this batch; None while it is empty."""
        if not table_exists(spark, self.events_path):
            return None
        return read_table(spark, self.events_path).agg(F.max("event_time")).first()[0]

    def _check(self, checks: BatchChecks, batch: RoutedBatch) -> None:
        """The silver suites over this batch: what came in, what was accepted, its sessions."""
        if not checks.due:
            return
        stream_events = batch.recent.where(F.col("event_type").isin(*STREAM_EVENT_TYPES))
        session_streams = batch.sessions.select("stream_id").distinct()
        stream_rows = gold.streams(stream_events.join(session_streams, "stream_id", "left_semi"))
        # Computed once, not once for each expectation of the suite.
        session_checks = quality.session_checks(
            batch.sessions,
            quality.stream_lengths(stream_rows),
            self.quality.session_margin_minutes,
            self.quality.max_session_hours,
        ).persist()
        to_silver, events_suite, sessions_suite = self.suites
        try:
            came_in = batch.rows.select("reason", "event_id", "event_type")
            checks.run(to_silver, config.BRONZE_EVENTS, came_in)
            checks.run(
                events_suite,
                config.SILVER_EVENTS,
                batch.events,
                {"event_time_horizon": batch.newest_ingest + self.future_margin},
            )
            checks.run(sessions_suite, config.SILVER_SESSIONS, session_checks)
        finally:
            session_checks.unpersist()

    def _close_idle_sessions(self, spark: SparkSession, clock: object) -> None:
        """Sessions without new events close once the data clock passes their gap."""
        if not table_exists(spark, self.sessions_path):
            return
        cutoff = F.lit(clock).cast("timestamp") - F.make_dt_interval(mins=F.lit(self.gap_minutes))
        DeltaTable.forPath(spark, self.sessions_path).update(
            condition=~F.col("is_closed") & (F.col("last_event_at") <= cutoff),
            set={
                "is_closed": F.lit(True),
                "ended_at": F.col("last_event_at"),
                "updated_at": F.current_timestamp(),
            },
        )


def source_ready(spark: SparkSession, path: str, trigger: Trigger) -> bool:
    """Whether the table a layer reads exists; a live layer waits until the one before writes it.

    A catch-up (available_now) does not wait: without the table there is
    nothing to process. While waiting, a query of this application that fails
    raises its error here, so a pipeline whose bronze cannot start does not hang.
    """
    if table_exists(spark, path):
        return True
    if trigger.kind == "available_now":
        log.info("%s does not exist yet: nothing to process", path)
        return False
    log.info("waiting for %s to be written by the layer before", path)
    # Only queries that end from now on count.
    spark.streams.resetTerminated()
    while not table_exists(spark, path):
        if spark.streams.awaitAnyTermination(5):
            break
    return table_exists(spark, path)


def start_silver(spark: SparkSession, settings: Settings, trigger: Trigger) -> list[StreamingQuery]:
    """bronze/events -> silver/events, silver/sessions, silver/quarantine (one query)."""
    if not source_ready(spark, settings.table(config.BRONZE_EVENTS), trigger):
        return []
    streaming = settings.section("streaming")
    max_message_bytes = QualitySettings.from_settings(settings).max_message_bytes
    bronze = read_delta_stream(spark, settings, settings.table(config.BRONZE_EVENTS))
    parsed = silver.parse_events(bronze, int(streaming["future_margin_seconds"]), max_message_bytes)
    writer = (
        parsed.writeStream.queryName(SILVER_EVENTS_QUERY)
        .option("checkpointLocation", settings.checkpoint(SILVER_EVENTS_QUERY))
        .foreachBatch(SilverBatch(settings))
    )
    return [trigger.apply(writer).start()]


class GoldBatch(QualityCheckedBatch):
    """foreachBatch of gold_metrics: recompute what the new silver events touched.

    With a champion conversion model registered, it also scores the open
    sessions of the touched streams; the alias is checked every batch, so a
    newly promoted model is picked up without a restart. Each table's suite
    runs on the rows about to be written, before they are written.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.settings = settings
        self.weights = settings.engagement_weights
        model = settings.section("model")
        self.threshold = float(model["high_intent_threshold"])
        configure_tracking(settings)
        self.champion = ChampionModel(model["conversion_model_name"], model["champion_alias"])
        self.suites = quality.gold_suites()

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        spark = batch_df.sparkSession
        table = self.settings.table
        batch = batch_df.select(
            "stream_id", "viewer_id", "event_type", "event_time", "scheduled_end", "event_date"
        ).persist()
        times = StepTimes()
        try:
            earliest_date = batch.agg(F.min("event_date")).first()[0]
            if earliest_date is None:
                return
            checks = self._checks(spark, GOLD_QUERY, batch_id)
            events = read_table(spark, table(config.SILVER_EVENTS))
            recent = events.where(F.col("event_date") >= earliest_date)
            clock = recent.agg(F.max("event_time")).first()[0]

            with times.step("streams"):
                stream_rows = self._update_streams(spark, batch)

            touched_streams = batch.select("stream_id").distinct()
            with times.step("sessions"):
                self._refresh_session_facts(spark, touched_streams, stream_rows, checks)
            with times.step("viewers"):
                self._refresh_viewers(batch, recent, checks)
            with times.step("scores"):
                self._score_open_sessions(spark, touched_streams, earliest_date, clock, checks)
            with times.step("kpis_rfm"):
                self._publish_kpis_and_rfm(spark, clock, checks)
            with times.step("quality_results"):
                checks.finish()
            log.info("gold batch %s: data clock %s; %s", batch_id, clock, times)
        finally:
            batch.unpersist()

    def _refresh_session_facts(
        self,
        spark: SparkSession,
        touched_streams: DataFrame,
        stream_rows: DataFrame,
        checks: BatchChecks,
    ) -> None:
        """Merge the facts of the sessions to refresh into gold/fct_sessions."""
        path = self.settings.table(config.GOLD_SESSIONS)
        if not table_exists(spark, self.settings.table(config.SILVER_SESSIONS)):
            return
        sessions = self._sessions_to_refresh(spark, touched_streams)
        facts = gold.session_facts(sessions, stream_rows, self.weights).persist()
        try:
            checks.run(self.suites[quality.GOLD_SESSIONS], config.GOLD_SESSIONS, facts)
            merge_upsert(facts, path, ["session_id"], newest_by="last_event_at")
        finally:
            facts.unpersist()

    def _refresh_viewers(self, batch: DataFrame, recent: DataFrame, checks: BatchChecks) -> None:
        """Recount the (stream, minute) windows the batch has events in."""
        touched_minutes = (
            batch.where(F.col("viewer_id").isNotNull())
            .select("stream_id", F.date_trunc("minute", "event_time").alias("minute"))
            .distinct()
        )
        minute_events = recent.withColumn("minute", F.date_trunc("minute", "event_time")).join(
            F.broadcast(touched_minutes), ["stream_id", "minute"], "left_semi"
        )
        viewers = gold.viewers_per_minute(minute_events).persist()
        try:
            checks.run(self.suites[quality.GOLD_VIEWERS], config.GOLD_VIEWERS_PER_MINUTE, viewers)
            path = self.settings.table(config.GOLD_VIEWERS_PER_MINUTE)
            merge_upsert(viewers, path, ["stream_id", "minute"])
        finally:
            viewers.unpersist()

    def _publish_kpis_and_rfm(
        self, spark: SparkSession, clock: datetime, checks: BatchChecks
    ) -> None:
        """gold/kpis and gold/rfm_analysis, rewritten from the whole of gold/fct_sessions."""
        table = self.settings.table
        if not table_exists(spark, table(config.GOLD_SESSIONS)):
            return
        all_facts = read_table(spark, table(config.GOLD_SESSIONS))
        # silver may already hold sessions newer than this batch's events:
        # the clock must not fall behind them (a negative recency).
        newest_session = all_facts.agg(F.max("last_event_at")).first()[0]
        as_of = max(clock, newest_session) if newest_session else clock
        for name, path, frame in (
            (quality.GOLD_KPIS, config.GOLD_KPIS, gold.kpis(all_facts, as_of)),
            (quality.GOLD_RFM, config.GOLD_RFM, gold.rfm(all_facts, as_of)),
        ):
            published = frame.persist()
            try:
                checks.run(self.suites[name], path, published)
                overwrite(published, table(path))
            finally:
                published.unpersist()

    def _update_streams(self, spark: SparkSession, batch: DataFrame) -> DataFrame:
        """gold/streams with the batch's stream_start and stream_end events merged in."""
        path = self.settings.table(config.GOLD_STREAMS)
        stream_events = batch.where(F.col("event_type").isin(*STREAM_EVENT_TYPES))
        if not table_exists(spark, path):
            overwrite(gold.streams(stream_events), path)
        elif not stream_events.isEmpty():
            known = read_table(spark, path)
            merge_upsert(gold.streams(stream_events, known), path, ["stream_id"])
        return read_table(spark, path)

    def _sessions_to_refresh(self, spark: SparkSession, touched_streams: DataFrame) -> DataFrame:
        """silver/sessions of the touched streams, and any silver changed since gold last looked.

        The second part catches sessions that silver closed for inactivity
        without a new event: fct_sessions carries silver's updated_at, so its
        newest value is how far gold has read.
        """
        sessions = read_table(spark, self.settings.table(config.SILVER_SESSIONS))
        facts_path = self.settings.table(config.GOLD_SESSIONS)
        touched = sessions.join(F.broadcast(touched_streams), "stream_id", "left_semi")
        if not table_exists(spark, facts_path):
            return touched
        seen_until = read_table(spark, facts_path).agg(F.max("updated_at")).first()[0]
        if seen_until is None:
            return touched
        changed = sessions.where(F.col("updated_at") > F.lit(seen_until))
        return touched.unionByName(changed).dropDuplicates(["session_id"])

    def _score_open_sessions(
        self,
        spark: SparkSession,
        touched_streams: DataFrame,
        earliest_date: object,
        clock: object,
        checks: BatchChecks,
    ) -> None:
        version, model = self.champion.current()
        table = self.settings.table
        needed = (config.SILVER_SESSIONS, config.GOLD_SESSIONS)
        if model is None or not all(table_exists(spark, table(name)) for name in needed):
            return
        sessions = read_table(spark, table(config.SILVER_SESSIONS))
        open_sessions = sessions.where(~F.col("is_closed")).join(
            F.broadcast(touched_streams), "stream_id", "left_semi"
        )
        events = (
            read_table(spark, table(config.SILVER_EVENTS))
            .where(F.col("event_date") >= earliest_date - SESSION_LOOKBACK)
            .join(open_sessions.select("session_id"), "session_id", "left_semi")
        )
        facts = read_table(spark, table(config.GOLD_SESSIONS))
        scores = score_sessions(
            model, version, open_sessions, events, sessions, facts, clock, self.threshold
        )
        scores = scores.persist()
        checks.run(self.suites[quality.GOLD_PREDICTIONS], config.GOLD_PREDICTIONS, scores)
        merge_upsert(scores, table(config.GOLD_PREDICTIONS), ["session_id"], newest_by="as_of")
        scores.unpersist()


def start_gold(spark: SparkSession, settings: Settings, trigger: Trigger) -> list[StreamingQuery]:
    """silver/events -> gold/streams, fct_sessions, viewers_per_minute, kpis, rfm_analysis."""
    if not source_ready(spark, settings.table(config.SILVER_EVENTS), trigger):
        return []
    events = read_delta_stream(spark, settings, settings.table(config.SILVER_EVENTS))
    writer = (
        events.writeStream.queryName(GOLD_QUERY)
        .option("checkpointLocation", settings.checkpoint(GOLD_QUERY))
        .foreachBatch(GoldBatch(settings))
    )
    return [trigger.apply(writer).start()]


class LiveBatch:
    """foreachBatch of live_activity: parsed Kafka rows -> gold/live_activity, one append.

    The query is the table's only writer, and Spark calls foreachBatch again
    for a batch id only in the first batch after a restart. So the newest
    batch_id in the table, read once per run, is enough to skip a replayed
    batch: a plain append costs about a second less per batch here than one
    carrying Delta's txnAppId, whose commit the 1-second trigger would wait for.
    Every [live] maintenance_minutes the batch then trims and compacts the
    table (live.trim_and_compact), so the query stays its only writer, which
    S3's default Delta log store needs.
    """

    def __init__(self, settings: Settings) -> None:
        self.path = settings.table(config.GOLD_LIVE_ACTIVITY)
        self.options = LiveSettings.from_settings(settings)
        # The newest batch in the table; None until read in this run.
        self.written_up_to: int | None = None
        # The first round comes one interval after the start, not with the first batch.
        self.maintained_at = time.monotonic()

    def __call__(self, parsed_batch: DataFrame, batch_id: int) -> None:
        spark = parsed_batch.sparkSession
        # Again here: Python's foreachBatch may submit from a thread of its own.
        spark.sparkContext.setLocalProperty("spark.scheduler.pool", LIVE_POOL)
        # One file per batch: a live batch is a few thousand rows.
        activity = live.activity(parsed_batch, batch_id).coalesce(1)
        if self._written_already(spark, activity, batch_id):
            log.info("live batch %s is in %s already: a replay, skipped", batch_id, self.path)
            return
        times = StepTimes()
        with times.step("append"):
            activity.write.format("delta").mode("append").save(self.path)
        self.written_up_to = batch_id
        if self._maintenance_due():
            with times.step("maintenance"):
                self._maintain(spark)
        log.info("live batch %s; %s", batch_id, times)

    def _written_already(self, spark: SparkSession, activity: DataFrame, batch_id: int) -> bool:
        """Whether batch_id is in the table; creates the table on the first batch ever."""
        if self.written_up_to is None:
            live.create_table(spark, self.path, activity.schema)
            newest = read_table(spark, self.path).agg(F.max("batch_id")).first()[0]
            self.written_up_to = -1 if newest is None else newest
        return batch_id <= self.written_up_to

    def _maintenance_due(self) -> bool:
        now = time.monotonic()
        if now - self.maintained_at < self.options.maintenance_minutes * 60:
            return False
        self.maintained_at = now
        return True

    def _maintain(self, spark: SparkSession) -> None:
        """Keep the newest day in the table and [live] keep_days before it, compacted."""
        if not table_exists(spark, self.path):
            return
        newest = read_table(spark, self.path).agg(F.max("event_date")).first()[0]
        if newest is not None:
            oldest_kept = newest - timedelta(days=self.options.keep_days)
            live.trim_and_compact(spark, self.path, oldest_kept)


def start_live(spark: SparkSession, settings: Settings, trigger: Trigger) -> list[StreamingQuery]:
    """Kafka -> gold/live_activity on its own short trigger; nothing for a catch-up.

    It starts from [live] starting_offsets ("latest": the live table is about
    now, bronze keeps the history) and accepts offsets Kafka has deleted:
    bronze, not this table, is the record of every message.
    """
    options = LiveSettings.from_settings(settings)
    if trigger.kind != "processing_time":
        log.info("no live query for a catch-up: gold/live_activity is about now")
        return []
    streaming = settings.section("streaming")
    max_message_bytes = QualitySettings.from_settings(settings).max_message_bytes
    kafka = read_kafka(spark, settings, options.starting_offsets, fail_on_data_loss=False)
    parsed = silver.parse_events(
        to_bronze(kafka), int(streaming["future_margin_seconds"]), max_message_bytes
    )
    writer = (
        parsed.writeStream.queryName(LIVE_QUERY)
        .option("checkpointLocation", settings.checkpoint(LIVE_QUERY))
        .foreachBatch(LiveBatch(settings))
    )
    # A query's thread takes the pool set when it starts; the next queries must not.
    spark.sparkContext.setLocalProperty("spark.scheduler.pool", LIVE_POOL)
    try:
        return [Trigger("processing_time", options.trigger_interval).apply(writer).start()]
    finally:
        spark.sparkContext.setLocalProperty("spark.scheduler.pool", None)


def run_available_now(spark: SparkSession, settings: Settings) -> None:
    """Catch every layer up with what Kafka holds now: bronze, then silver, then gold."""
    trigger = Trigger("available_now")
    for start in (start_bronze, start_silver, start_gold):
        await_queries(start(spark, settings, trigger))


def report_progress(spark: SparkSession, settings: Settings) -> None:
    """Have every query of the session write its progress where the dashboard reads it."""
    folder = progress_folder(settings)
    if not is_local(folder):
        log.warning(
            "no progress files for the dashboard: %s is not a local folder; "
            "set conf [streaming] progress_dir to one the dashboard can read",
            folder,
        )
        return
    register_progress_listener(spark, folder)


def run_streaming_job(
    app_name: str,
    start: Callable[[SparkSession, Settings, Trigger], list[StreamingQuery]],
    description: str,
    argv: list[str] | None = None,
) -> int:
    """The main() of a layer's job: arguments, settings, session, start the queries, wait."""
    args = job_arguments(description, argv)
    configure_logging(args.log_level)
    settings = load_settings(args.conf)
    trigger = Trigger.from_settings(settings, args.trigger, args.interval)

    spark = build_session(app_name)
    try:
        report_progress(spark, settings)
        await_queries(start(spark, settings, trigger))
    finally:
        spark.stop()
    return 0
