"""The live path: viewer activity per minute straight from Kafka, seconds after it happens.

bronze -> silver -> gold chains three micro-batches, each a dozen Spark jobs
and several Delta commits, so a figure reaches gold a minute or more after the
event on a small machine (bench/README.md). The live query reads Kafka itself,
keeps the events that pass silver's row rules, and appends one row per
(stream, minute, session) of each micro-batch to gold/live_activity: no read
of another table, one commit. The dashboard takes the minutes gold has not
counted yet from it.

What it gives up for speed, and why that is safe:
- A retry of an event that reached another micro-batch is counted twice in
  the per-session sums. Distinct viewers per minute, the live figure the
  dashboard shows, cannot change by a repeated event.
- No watermark: an event too late for silver still counts here. Gold is the
  record; the live rows only stand in for minutes gold has not reached.
"""

from __future__ import annotations

import logging
from datetime import date

from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteReadException,
    DeltaConcurrentModificationException,
)
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

log = logging.getLogger(__name__)

# Columns of gold/live_activity, in order.
ACTIVITY_COLUMNS = (
    "stream_id",
    "minute",
    "session_id",
    "viewer_id",
    "device_type",
    "viewer_state",
    "events",
    "cart_adds",
    "purchases",
    "revenue",
    "first_event_at",
    "last_event_at",
    "batch_id",
    "event_date",
)


def activity(parsed_df: DataFrame, batch_id: int) -> DataFrame:
    """Parsed Kafka rows (silver.parse_events) -> one row per stream, minute and session.

    Only events that pass every row rule and carry a viewer_id count. An
    event_id repeated within the batch counts once.
    """
    purchase = F.col("event_type") == "purchase"
    return (
        parsed_df.where(F.col("reason").isNull() & F.col("viewer_id").isNotNull())
        .dropDuplicates(["event_id"])
        .withColumn("minute", F.date_trunc("minute", "event_time"))
        .groupBy("stream_id", "minute", "session_id", "viewer_id")
        .agg(
            F.max("device_type").alias("device_type"),
            F.max("viewer_state").alias("viewer_state"),
            F.count("*").alias("events"),
            F.count_if(F.col("event_type") == "add_to_cart").cast("long").alias("cart_adds"),
            F.count_if(purchase).cast("long").alias("purchases"),
            F.coalesce(F.sum(F.when(purchase, F.col("price") * F.col("quantity"))), F.lit(0))
            .cast("decimal(18,2)")
            .alias("revenue"),
            F.min("event_time").alias("first_event_at"),
            F.max("event_time").alias("last_event_at"),
        )
        .withColumn("batch_id", F.lit(batch_id).cast("long"))
        .withColumn("event_date", F.to_date("minute"))
        .select(*ACTIVITY_COLUMNS)
    )


# A Delta checkpoint takes seconds on a small machine; at the default interval
# (10 commits) one live batch in ten would wait for one.
CHECKPOINT_INTERVAL = 100


def create_table(spark: SparkSession, path: str, schema: StructType) -> None:
    """gold/live_activity, partitioned by event_date, unless it exists."""
    (
        DeltaTable.createIfNotExists(spark)
        .location(path)
        .addColumns(schema)
        .partitionedBy("event_date")
        .property("delta.checkpointInterval", str(CHECKPOINT_INTERVAL))
        .execute()
    )


def viewers_per_minute(activity_df: DataFrame) -> DataFrame:
    """gold/live_activity -> distinct viewers per stream and minute, over every batch."""
    return activity_df.groupBy("stream_id", "minute").agg(
        F.count_distinct("viewer_id").alias("active_viewers")
    )


def trim_and_compact(spark: SparkSession, path: str, oldest_kept: date) -> bool:
    """Delete gold/live_activity's days before oldest_kept, compact the kept days' files.

    The live query commits a small file a second; compaction keeps reads of
    the table quick. The live query runs this itself between two appends.
    Both steps work on whole event_date partitions; a conflict with another
    writer (an erasure running at the same moment) leaves the work to the
    next call: the result is False, with a warning.
    """
    kept = f"event_date >= '{oldest_kept.isoformat()}'"
    table = DeltaTable.forPath(spark, path)
    try:
        table.delete(f"NOT ({kept})")
        table.optimize().where(kept).executeCompaction()
    except (
        ConcurrentAppendException,
        ConcurrentDeleteReadException,
        DeltaConcurrentModificationException,
    ) as error:
        log.warning("%s maintenance met a concurrent write; the next call retries: %s", path, error)
        return False
    log.info("%s: days before %s deleted, the rest compacted", path, oldest_kept)
    return True
