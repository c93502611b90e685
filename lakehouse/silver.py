"""Silver: parse bronze messages into typed events, validate them, deduplicate them.

Every bronze row leaves parse_events() with a `reason` column: null for a
valid event, otherwise the first rule it failed. route_events() adds the two
reasons that need what silver already holds: an event older than the
watermark (late_event) and a second copy of an event_id (duplicate_event, or
conflicting_duplicate when the copies differ). valid_events() and
quarantine_rows() split on the reason, so each message lands in exactly one
of silver/events and silver/quarantine.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.contract import (
    DEVICE_TYPES,
    EVENT_TYPES,
    FIELDS,
    ID_FIELDS,
    ID_PATTERN,
    PRICED_EVENT_TYPES,
    PRODUCT_EVENT_TYPES,
    TIMESTAMP_PATTERN,
    VIEWER_EVENT_TYPES,
    VIEWER_STATE_PATTERN,
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

# Messages above this size are quarantined unread: no event of the contract
# comes near it, and parsing megabytes of junk would slow the whole batch.
DEFAULT_MAX_MESSAGE_BYTES = 65536

LATE_EVENT = "late_event"
DUPLICATE_EVENT = "duplicate_event"
CONFLICTING_DUPLICATE = "conflicting_duplicate"


def _missing(column: str) -> Column:
    """Null, empty, or only whitespace (tabs and newlines included)."""
    return F.col(column).isNull() | F.col(column).rlike(r"^\s*$")


def _single_json_object() -> Column:
    """True when raw_value is one JSON object and nothing else.

    from_json reads the first object and ignores what follows it, so two
    events glued together would pass as the first one. Wrapped in brackets, a
    lone object is a JSON array of length 1; trailing text makes it invalid
    (null) and a second object makes it longer. The closing brace check
    catches a stray `]` after the object, which the array parser would accept.
    """
    braced = F.ltrim("raw_value").startswith("{") & F.rtrim("raw_value").endswith("}")
    wrapped = F.concat(F.lit("["), F.col("raw_value"), F.lit("]"))
    return braced & F.coalesce(F.json_array_length(wrapped) == 1, F.lit(False))


def _bad_format(column: str, pattern: str) -> Column:
    """Present (not null) but not matching the pattern."""
    return F.col(column).isNotNull() & ~F.col(column).rlike(pattern)


def _rules(
    future_margin_seconds: int, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
) -> list[tuple[str, Column]]:
    """(reason, failing condition) in the order they are checked."""
    viewer_event = F.col("event_type").isin(*VIEWER_EVENT_TYPES)
    product_event = F.col("event_type").isin(*PRODUCT_EVENT_TYPES)
    priced_event = F.col("event_type").isin(*PRICED_EVENT_TYPES)
    horizon = F.col("ingest_time") + F.make_dt_interval(secs=F.lit(future_margin_seconds))
    id_formats = [(f"invalid_{name}", _bad_format(name, ID_PATTERN)) for name in ID_FIELDS]
    return [
        ("empty_message", _missing("raw_value")),
        ("oversized_message", F.col("value_bytes") > max_message_bytes),
        ("invalid_utf8", ~F.col("utf8_ok")),
        (
            "malformed_json",
            F.col(CORRUPT).isNotNull() | F.col("raw").isNull() | ~_single_json_object(),
        ),
        ("missing_event_id", _missing("event_id")),
        ("missing_event_type", _missing("event_type")),
        ("unknown_event_type", ~F.col("event_type").isin(*EVENT_TYPES)),
        ("missing_event_time", _missing("raw.event_time")),
        (
            "invalid_event_time",
            F.col("event_time").isNull() | ~F.col("raw.event_time").rlike(TIMESTAMP_PATTERN),
        ),
        ("event_time_in_future", F.col("event_time") > horizon),
        ("missing_stream_id", _missing("stream_id")),
        ("missing_session_id", viewer_event & _missing("session_id")),
        ("missing_viewer_id", viewer_event & _missing("viewer_id")),
        *id_formats,
        (
            "invalid_device_type",
            F.col("device_type").isNotNull() & ~F.col("device_type").isin(*DEVICE_TYPES),
        ),
        ("invalid_viewer_state", _bad_format("viewer_state", VIEWER_STATE_PATTERN)),
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
            (F.col("raw.scheduled_end").isNotNull() & F.col("scheduled_end").isNull())
            | _bad_format("raw.scheduled_end", TIMESTAMP_PATTERN),
        ),
    ]


def _first_failure(rules: list[tuple[str, Column]]) -> Column:
    reason = F.lit(None).cast("string")
    for name, failed in reversed(rules):
        # A null condition (a comparison with a missing value) is not a failure.
        reason = F.when(F.coalesce(failed, F.lit(False)), F.lit(name)).otherwise(reason)
    return reason


def parse_events(
    bronze_df: DataFrame,
    future_margin_seconds: int = 300,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> DataFrame:
    """Bronze rows -> typed event columns, lineage columns, raw_value and `reason`."""
    oversized = F.octet_length("value") > max_message_bytes
    parsed = bronze_df.select(
        "topic",
        "partition",
        "offset",
        "key",
        "ingest_time",
        F.coalesce(F.octet_length("value"), F.lit(0)).alias("value_bytes"),
        # Bytes that are not UTF-8 become U+FFFD in the text; bronze keeps the originals.
        F.when(oversized, F.lit("<oversized message: bronze keeps the bytes>"))
        .otherwise(F.make_valid_utf8(F.col("value").cast("string")))
        .alias("raw_value"),
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
    rules = _rules(future_margin_seconds, max_message_bytes)
    return typed.withColumn("reason", _first_failure(rules))


def fingerprint() -> Column:
    """A hash of an event's typed contract fields: equal for a retry, not for a changed copy."""
    return F.sha2(F.to_json(F.struct(*FIELDS)), 256)


def route_events(
    parsed_df: DataFrame, earlier_events: DataFrame | None, watermark: datetime | None
) -> DataFrame:
    """Give late events and repeated event_ids their reason; other rows pass unchanged.

    watermark: events older than it are quarantined as late_event (None: nothing is
    late yet). earlier_events: the silver events a repeated event_id is looked up in
    (None: silver is empty). Within the micro-batch the copy read first from Kafka
    (ingest time, partition, offset) is kept.
    """
    valid = F.col("reason").isNull()
    if watermark is not None:
        late = valid & (F.col("event_time") < F.lit(watermark).cast("timestamp"))
        parsed_df = parsed_df.withColumn(
            "reason", F.when(late, F.lit(LATE_EVENT)).otherwise(F.col("reason"))
        )
    rejected = parsed_df.where(~valid)
    candidates = parsed_df.where(valid).withColumn("_fingerprint", fingerprint())

    first_read = Window.partitionBy("event_id").orderBy("ingest_time", "partition", "offset")
    candidates = candidates.withColumn("_copy", F.row_number().over(first_read)).withColumn(
        "_kept_fingerprint", F.first("_fingerprint").over(first_read)
    )
    if earlier_events is not None:
        # Only the earlier events whose id comes again are hashed, not the whole lookback.
        repeats = earlier_events.join(candidates.select("event_id"), "event_id", "left_semi")
        earlier = repeats.select(
            "event_id", fingerprint().alias("_earlier_fingerprint")
        ).dropDuplicates(["event_id"])
        candidates = candidates.join(earlier, "event_id", "left")
        kept = F.coalesce("_earlier_fingerprint", "_kept_fingerprint")
        repeated = F.col("_earlier_fingerprint").isNotNull() | (F.col("_copy") > 1)
    else:
        kept = F.col("_kept_fingerprint")
        repeated = F.col("_copy") > 1
    same = F.col("_fingerprint") == kept
    reason = F.when(repeated & same, F.lit(DUPLICATE_EVENT)).when(
        repeated, F.lit(CONFLICTING_DUPLICATE)
    )
    routed = candidates.withColumn("reason", reason).select(*parsed_df.columns)
    return rejected.unionByName(routed)


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
        "ingest_time",
        F.current_timestamp().alias("quarantined_at"),
    )


def with_event_date(events_df: DataFrame) -> DataFrame:
    """Add silver/events' partition column."""
    return events_df.withColumn("event_date", F.to_date("event_time"))
