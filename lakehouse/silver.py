"""Silver: parse bronze messages into typed events, validate them, deduplicate them.

Every bronze row leaves parse_events() with a `reason` column: null for a
valid event, otherwise the first rule it failed. valid_events() and
quarantine_rows() split on it, so each message lands in exactly one of
silver/events and silver/quarantine.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.contract import (
    DEVICE_TYPES,
    EVENT_TYPES,
    FIELDS,
    PRICED_EVENT_TYPES,
    PRODUCT_EVENT_TYPES,
    VIEWER_EVENT_TYPES,
)

CORRUPT = "_corrupt_record"

# Every field is read as text first, so a value of the wrong type is caught
# by the typed casts below and reported, instead of turning into a silent null.
RAW_SCHEMA = T.StructType(
    [T.StructField(name, T.StringType()) for name in FIELDS]
    + [T.StructField(CORRUPT, T.StringType())]
)

# silver/events holds the contract's fields, typed, in the contract's order.
EVENT_COLUMNS = FIELDS
LINEAGE_COLUMNS = ("kafka_partition", "kafka_offset", "ingest_time")


def _missing(column: str) -> Column:
    """Null, empty, or only whitespace (tabs and newlines included)."""
    return F.col(column).isNull() | F.col(column).rlike(r"^\s*$")


def _rules(future_margin_seconds: int) -> list[tuple[str, Column]]:
    """(reason, failing condition) in the order they are checked."""
    viewer_event = F.col("event_type").isin(*VIEWER_EVENT_TYPES)
    product_event = F.col("event_type").isin(*PRODUCT_EVENT_TYPES)
    priced_event = F.col("event_type").isin(*PRICED_EVENT_TYPES)
    horizon = F.col("ingest_time") + F.make_dt_interval(secs=F.lit(future_margin_seconds))
    return [
        ("empty_message", _missing("raw_value")),
        ("invalid_utf8", ~F.col("utf8_ok")),
        ("malformed_json", F.col(CORRUPT).isNotNull() | F.col("raw").isNull()),
        ("missing_event_id", _missing("event_id")),
        ("missing_event_type", _missing("event_type")),
        ("unknown_event_type", ~F.col("event_type").isin(*EVENT_TYPES)),
        ("missing_event_time", _missing("raw.event_time")),
        ("invalid_event_time", F.col("event_time").isNull()),
        ("event_time_in_future", F.col("event_time") > horizon),
        ("missing_stream_id", _missing("stream_id")),
        ("missing_session_id", viewer_event & _missing("session_id")),
        ("missing_viewer_id", viewer_event & _missing("viewer_id")),
        (
            "invalid_device_type",
            F.col("device_type").isNotNull() & ~F.col("device_type").isin(*DEVICE_TYPES),
        ),
        ("missing_product_id", product_event & _missing("product_id")),
        ("missing_price", priced_event & _missing("raw.price")),
        # Not a number, or more than two decimals (12.555 would silently round to 12.56).
        (
            "invalid_price",
            (F.col("raw.price").isNotNull() & F.col("price").isNull())
            | (F.col("price") != F.col("raw.price").try_cast("decimal(38,10)")),
        ),
        ("negative_price", F.col("price") < 0),
        ("missing_quantity", priced_event & _missing("raw.quantity")),
        ("invalid_quantity", F.col("raw.quantity").isNotNull() & F.col("quantity").isNull()),
        ("quantity_below_one", F.col("quantity") < 1),
        ("missing_order_id", (F.col("event_type") == "purchase") & _missing("order_id")),
        (
            "missing_scheduled_end",
            (F.col("event_type") == "stream_start") & _missing("raw.scheduled_end"),
        ),
        (
            "invalid_scheduled_end",
            F.col("raw.scheduled_end").isNotNull() & F.col("scheduled_end").isNull(),
        ),
    ]


def _first_failure(rules: list[tuple[str, Column]]) -> Column:
    reason = F.lit(None).cast("string")
    for name, failed in reversed(rules):
        # A null condition (a comparison with a missing value) is not a failure.
        reason = F.when(F.coalesce(failed, F.lit(False)), F.lit(name)).otherwise(reason)
    return reason


def parse_events(bronze_df: DataFrame, future_margin_seconds: int = 300) -> DataFrame:
    """Bronze rows -> typed event columns, lineage columns, raw_value and `reason`."""
    parsed = bronze_df.select(
        "topic",
        "partition",
        "offset",
        "key",
        "ingest_time",
        # Bytes that are not UTF-8 become U+FFFD in the text; bronze keeps the originals.
        F.make_valid_utf8(F.col("value").cast("string")).alias("raw_value"),
        F.is_valid_utf8(F.col("value").cast("string")).alias("utf8_ok"),
    ).withColumn(
        "raw",
        F.from_json(
            "raw_value", RAW_SCHEMA, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}
        ),
    )
    typed = parsed.select(
        "*",
        F.col(f"raw.{CORRUPT}").alias(CORRUPT),
        F.col("raw.event_id").alias("event_id"),
        F.col("raw.event_type").alias("event_type"),
        F.col("raw.event_time").try_cast("timestamp").alias("event_time"),
        F.col("raw.stream_id").alias("stream_id"),
        F.col("raw.session_id").alias("session_id"),
        F.col("raw.viewer_id").alias("viewer_id"),
        F.col("raw.device_type").alias("device_type"),
        F.col("raw.viewer_state").alias("viewer_state"),
        F.col("raw.product_id").alias("product_id"),
        F.col("raw.price").try_cast("decimal(10,2)").alias("price"),
        F.col("raw.quantity").try_cast("int").alias("quantity"),
        F.col("raw.order_id").alias("order_id"),
        F.col("raw.scheduled_end").try_cast("timestamp").alias("scheduled_end"),
    )
    return typed.withColumn("reason", _first_failure(_rules(future_margin_seconds)))


def valid_events(parsed_df: DataFrame) -> DataFrame:
    """The events that passed every rule, in silver/events' shape (without event_date)."""
    return parsed_df.where(F.col("reason").isNull()).select(
        *EVENT_COLUMNS,
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        "ingest_time",
    )


def quarantine_rows(parsed_df: DataFrame) -> DataFrame:
    """The messages that failed a rule, with the raw text and the reason."""
    return parsed_df.where(F.col("reason").isNotNull()).select(
        "topic",
        "partition",
        "offset",
        "key",
        "raw_value",
        "event_id",
        "reason",
        F.current_timestamp().alias("quarantined_at"),
    )


def deduplicate(events_df: DataFrame, watermark: str) -> DataFrame:
    """Keep the first copy of each event_id; state is dropped once the watermark passes."""
    return events_df.withWatermark("event_time", watermark).dropDuplicatesWithinWatermark(
        ["event_id"]
    )


def with_event_date(events_df: DataFrame) -> DataFrame:
    """Add silver/events' partition column."""
    return events_df.withColumn("event_date", F.to_date("event_time"))
