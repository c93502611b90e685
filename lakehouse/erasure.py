"""Erasure on request: remove one viewer from every layer, then vacuum by the retention policy.

Each table loses the viewer's rows through a Delta DELETE: bronze (messages
whose JSON names the viewer), silver events, sessions and quarantine, and the
gold tables keyed by viewer. The gold tables that count viewers without naming
them are recomputed without the viewer: viewers_per_minute for the minutes the
viewer was active, the KPI tiles and the RFM scores. The model inputs are silver's events and
sessions, so every model trained after the erasure is trained without the
viewer; the MLflow input examples hold feature values, no ids.

The streaming jobs keep running: their Delta sources skip change commits
(lakehouse/pipeline.read_delta_stream), so the DELETE commits are neither
re-read nor counted again. The deleted rows stay in older files of each
table until vacuum() removes the files older than the retention period.
Messages still in Kafka are beyond this module: Kafka deletes them when the
topic's retention passes (docs/operations.md).
"""

from __future__ import annotations

import logging

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import config, gold
from lakehouse.config import Settings
from lakehouse.sink import merge_upsert, overwrite, read_table, table_exists

log = logging.getLogger(__name__)

DELTA_DEFAULT_RETAIN_HOURS = 168

# Tables whose rows carry viewer_id as a column.
VIEWER_TABLES = (
    config.SILVER_EVENTS,
    config.SILVER_SESSIONS,
    config.GOLD_SESSIONS,
    config.GOLD_PREDICTIONS,
    config.GOLD_RFM,
    config.GOLD_SEGMENTS_SCORED,
    config.GOLD_SEGMENTS_NAMED,
    config.GOLD_LIVE_ACTIVITY,
)
# Every table a vacuum goes over: all of the lakehouse's Delta tables.
ALL_TABLES = (
    config.BRONZE_EVENTS,
    config.SILVER_QUARANTINE,
    *VIEWER_TABLES,
    config.GOLD_STREAMS,
    config.GOLD_VIEWERS_PER_MINUTE,
    config.GOLD_KPIS,
    config.GOLD_DATA_QUALITY,
)


def _json_viewer(text: Column, viewer_id: str) -> Column:
    """The message text is a JSON object whose viewer_id is the viewer."""
    return F.coalesce(F.get_json_object(text, "$.viewer_id") == viewer_id, F.lit(False))


def erasure_conditions(viewer_id: str) -> dict[str, Column]:
    """Table -> the rows of that table that are about the viewer."""
    conditions = {table: F.col("viewer_id") == viewer_id for table in VIEWER_TABLES}
    conditions[config.BRONZE_EVENTS] = _json_viewer(F.col("value").cast("string"), viewer_id)
    conditions[config.SILVER_QUARANTINE] = _json_viewer(F.col("raw_value"), viewer_id)
    return conditions


def _delete(spark: SparkSession, path: str, condition: Column) -> int:
    """Delete the matching rows; return how many there were."""
    rows = read_table(spark, path).where(condition).count()
    if rows:
        DeltaTable.forPath(spark, path).delete(condition)
    return rows


def _viewer_minutes(events: DataFrame, viewer_id: str) -> DataFrame:
    """(stream_id, minute) of every minute in which the viewer had an event."""
    return (
        events.where(F.col("viewer_id") == viewer_id)
        .select("stream_id", F.date_trunc("minute", "event_time").alias("minute"))
        .distinct()
    )


def _recount_minutes(spark: SparkSession, settings: Settings, minutes: DataFrame) -> None:
    """Recompute active viewers of those minutes from silver; drop minutes left empty."""
    path = settings.table(config.GOLD_VIEWERS_PER_MINUTE)
    if not table_exists(spark, path):
        return
    events = read_table(spark, settings.table(config.SILVER_EVENTS)).withColumn(
        "minute", F.date_trunc("minute", "event_time")
    )
    remaining = gold.viewers_per_minute(events.join(minutes, ["stream_id", "minute"], "left_semi"))
    merge_upsert(remaining, path, ["stream_id", "minute"])
    emptied = minutes.join(remaining, ["stream_id", "minute"], "left_anti").collect()
    table = DeltaTable.forPath(spark, path)
    for row in emptied:
        table.delete((F.col("stream_id") == row.stream_id) & (F.col("minute") == row.minute))


def _recompute_overall(spark: SparkSession, settings: Settings) -> None:
    """KPI tiles and RFM from fct_sessions without the viewer, at the same as_of as before.

    RFM scores are quintiles over all viewers, so the others' scores can move too.
    """
    facts_path = settings.table(config.GOLD_SESSIONS)
    if not table_exists(spark, facts_path):
        return
    facts = read_table(spark, facts_path)
    for table, compute in ((config.GOLD_KPIS, gold.kpis), (config.GOLD_RFM, gold.rfm)):
        path = settings.table(table)
        if table_exists(spark, path):
            as_of = read_table(spark, path).agg(F.max("as_of")).first()[0]
            overwrite(compute(facts, as_of), path)


def erase_viewer(spark: SparkSession, settings: Settings, viewer_id: str) -> dict[str, int]:
    """Delete every row about viewer_id from every table; return the rows deleted per table."""
    if not viewer_id.strip():
        raise ValueError("a viewer_id is needed: an empty one would match nothing useful")
    events_path = settings.table(config.SILVER_EVENTS)
    minutes = None
    if table_exists(spark, events_path):
        # Collected before the events go: the minutes whose counts must drop.
        minutes = spark.createDataFrame(
            _viewer_minutes(read_table(spark, events_path), viewer_id).collect(),
            "stream_id string, minute timestamp",
        )

    deleted = {}
    for table, condition in erasure_conditions(viewer_id).items():
        path = settings.table(table)
        if table_exists(spark, path):
            deleted[table] = _delete(spark, path, condition)
            log.info("erased %s rows of viewer %s from %s", deleted[table], viewer_id, table)

    if minutes is not None:
        _recount_minutes(spark, settings, minutes)
    _recompute_overall(spark, settings)
    return deleted


def vacuum(spark: SparkSession, settings: Settings, retain_hours: float) -> list[str]:
    """VACUUM every table: remove the files unused for longer than retain_hours.

    Delta refuses less than its default of 168 hours unless
    spark.databricks.delta.retentionDurationCheck.enabled is false, because a
    shorter period may delete files that a running stream or a reader still
    needs; a policy below 168 hours turns that check off for this session.
    """
    if retain_hours < DELTA_DEFAULT_RETAIN_HOURS:
        log.warning(
            "vacuum keeps only %s hours: files a lagging stream still needs may go", retain_hours
        )
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    # VACUUM lists files with one task per slot of this setting, 10,000 by default:
    # minutes of empty tasks on a small cluster. A few tasks per core list as fast.
    listing = "spark.sql.sources.parallelPartitionDiscovery.parallelism"
    before = spark.conf.get(listing)
    spark.conf.set(listing, str(4 * spark.sparkContext.defaultParallelism))
    vacuumed = []
    try:
        for table in ALL_TABLES:
            path = settings.table(table)
            if table_exists(spark, path):
                DeltaTable.forPath(spark, path).vacuum(retain_hours)
                vacuumed.append(table)
    finally:
        spark.conf.set(listing, before)
    log.info("vacuumed %s keeping %s hours", ", ".join(vacuumed), retain_hours)
    return vacuumed
