"""Unit tests of lakehouse/silver.py on tiny bronze frames built inline.

Each rejected message below fails exactly one rule of silver._rules (one case fails two
on purpose), so the reason it gets is the rule it was written for, whatever the order of
the rules. The accepted messages fail none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse import silver

DAY = "2026-12-04"
FUTURE_MARGIN_SECONDS = 300


def at(clock: str, day: str = DAY) -> datetime:
    """A UTC time as PySpark passes timestamps in and out: naive, in the local time zone."""
    return datetime.fromisoformat(f"{day}T{clock}+00:00").astimezone().replace(tzinfo=None)


# Every message was ingested at 10:00:00, so the future horizon is 10:05:00.
INGEST_TIME = at("10:00:00")

BRONZE_SCHEMA = T.StructType(
    [
        T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField("key", T.StringType()),
        T.StructField("value", T.BinaryType()),
        T.StructField("ingest_time", T.TimestampType()),
    ]
)

LIKE = {
    "event_id": "e-like",
    "event_type": "like",
    "event_time": f"{DAY}T09:58:30.250Z",
    "stream_id": "s1",
    "session_id": "a",
    "viewer_id": "v1",
    "device_type": "mobile",
    "viewer_state": "CA",
}
VIEW = {**LIKE, "event_id": "e-view", "event_type": "view_product", "product_id": "p1"}
CART = {**VIEW, "event_id": "e-cart", "event_type": "add_to_cart", "price": 12.5, "quantity": 2}
PURCHASE = {**CART, "event_id": "e-buy", "event_type": "purchase", "order_id": "o1"}
STREAM_START = {
    "event_id": "e-start",
    "event_type": "stream_start",
    "event_time": f"{DAY}T09:00:00.000Z",
    "stream_id": "s1",
    "scheduled_end": f"{DAY}T10:30:00.000Z",
}


def message(base: dict[str, Any], *, drop: tuple[str, ...] = (), **changes: Any) -> bytes:
    """The JSON bytes of base with some fields changed and some left out."""
    fields = {name: value for name, value in {**base, **changes}.items() if name not in drop}
    return json.dumps(fields).encode()


def bronze(spark, values: list[bytes | None]) -> DataFrame:
    """One bronze row per message, at offsets 0, 1, 2... of partition 0, keyed k0, k1, k2..."""
    rows = [
        ("live_events", 0, offset, f"k{offset}", value, INGEST_TIME)
        for offset, value in enumerate(values)
    ]
    return spark.createDataFrame(rows, BRONZE_SCHEMA)


# (what is wrong with the message, the message, the reason it must get)
REJECTED = [
    ("empty bytes", b"", "empty_message"),
    ("only spaces", b"   ", "empty_message"),
    ("null value (a tombstone)", None, "empty_message"),
    ("not JSON", b"this is not json", "malformed_json"),
    ("JSON cut off", message(LIKE)[:40], "malformed_json"),
    ("a JSON array holding an event", b"[" + message(LIKE) + b"]", "malformed_json"),
    ("a JSON number", b"42", "malformed_json"),
    ("invalid UTF-8", b"\xff\xfe{", "invalid_utf8"),
    ("no event_id", message(LIKE, drop=("event_id",)), "missing_event_id"),
    ("blank event_id", message(LIKE, event_id="  "), "missing_event_id"),
    ("event_id of a tab", message(LIKE, event_id="\t"), "missing_event_id"),
    ("only a newline", b"\n", "empty_message"),
    ("no event_type", message(LIKE, drop=("event_type",)), "missing_event_type"),
    ("unknown event_type", message(LIKE, event_type="dance"), "unknown_event_type"),
    ("no event_time", message(LIKE, drop=("event_time",)), "missing_event_time"),
    ("event_time not ISO-8601", message(LIKE, event_time="04/12/2026"), "invalid_event_time"),
    # 10:00:00 ingest + 300 s margin = 10:05:00; one millisecond later is beyond it.
    (
        "event_time beyond the future margin",
        message(LIKE, event_time=f"{DAY}T10:05:00.001Z"),
        "event_time_in_future",
    ),
    ("no stream_id", message(LIKE, drop=("stream_id",)), "missing_stream_id"),
    ("viewer event without session_id", message(LIKE, drop=("session_id",)), "missing_session_id"),
    ("viewer event without viewer_id", message(LIKE, drop=("viewer_id",)), "missing_viewer_id"),
    ("unknown device_type", message(LIKE, device_type="smartwatch"), "invalid_device_type"),
    ("view without product_id", message(VIEW, drop=("product_id",)), "missing_product_id"),
    ("add_to_cart without price", message(CART, drop=("price",)), "missing_price"),
    ("price with a decimal comma", message(CART, price="12,50"), "invalid_price"),
    ("negative price", message(CART, price=-0.01), "negative_price"),
    ("add_to_cart without quantity", message(CART, drop=("quantity",)), "missing_quantity"),
    ("fractional quantity", message(CART, quantity=2.5), "invalid_quantity"),
    ("quantity zero", message(CART, quantity=0), "quantity_below_one"),
    ("purchase without order_id", message(PURCHASE, drop=("order_id",)), "missing_order_id"),
    (
        "stream_start without scheduled_end",
        message(STREAM_START, drop=("scheduled_end",)),
        "missing_scheduled_end",
    ),
    (
        "scheduled_end not a time",
        message(STREAM_START, scheduled_end="soon"),
        "invalid_scheduled_end",
    ),
    ("larger than the size limit", message(LIKE, padding="x" * 70_000), "oversized_message"),
    ("two events glued together", message(LIKE) + message(LIKE), "malformed_json"),
    ("an event followed by text", message(LIKE) + b" trailing", "malformed_json"),
    (
        "event_time without a zone",
        message(LIKE, event_time=f"{DAY}T09:58:30"),
        "invalid_event_time",
    ),
    ("event_time of a date only", message(LIKE, event_time=DAY), "invalid_event_time"),
    ("event_id with an emoji", message(LIKE, event_id="e-\U0001f525"), "invalid_event_id"),
    ("stream_id with a space", message(LIKE, stream_id="show 1"), "invalid_stream_id"),
    (
        "session_id with a control character",
        message(LIKE, session_id="a\x07"),
        "invalid_session_id",
    ),
    ("viewer_id of 129 characters", message(LIKE, viewer_id="v" * 129), "invalid_viewer_id"),
    ("product_id with a slash-n", message(VIEW, product_id="p\n1"), "invalid_product_id"),
    ("order_id with a quote", message(PURCHASE, order_id='o"1'), "invalid_order_id"),
    ("viewer_state in lower case", message(LIKE, viewer_state="ca"), "invalid_viewer_state"),
    (
        "viewer_state an emoji flag",
        message(LIKE, viewer_state="\U0001f1fa\U0001f1f8"),
        "invalid_viewer_state",
    ),
    (
        "scheduled_end without a zone",
        message(STREAM_START, scheduled_end=f"{DAY}T10:30:00"),
        "invalid_scheduled_end",
    ),
    # Fails missing_product_id and invalid_price: the earlier rule is the one reported.
    (
        "two failures",
        message(CART, drop=("product_id",), price="12,50"),
        "missing_product_id",
    ),
]

# (what the message is, the message), each a valid event.
ACCEPTED = [
    ("like", message(LIKE)),
    (
        "like at +02:00",
        message(LIKE, event_id="e-like-cest", event_time=f"{DAY}T11:58:30.250+02:00"),
    ),
    ("add_to_cart, price as a string", message(CART, price="12.50")),
    ("purchase, price as a number", message(PURCHASE)),
    (
        "stream_start at -05:00",
        message(STREAM_START, scheduled_end=f"{DAY}T05:30:00.000-05:00"),
    ),
    (
        "event_time right at the future margin",
        message(LIKE, event_id="e-edge", event_time=f"{DAY}T10:05:00.000Z"),
    ),
    (
        "every other field an explicit null, as the producers send them",
        message(
            LIKE,
            event_id="e-join",
            event_type="join",
            product_id=None,
            price=None,
            quantity=None,
            order_id=None,
            scheduled_end=None,
        ),
    ),
]
MESSAGES = [value for _, value, _ in REJECTED] + [value for _, value in ACCEPTED]
REJECTED_OFFSETS = list(range(len(REJECTED)))
ACCEPTED_OFFSETS = list(range(len(REJECTED), len(MESSAGES)))


@pytest.fixture(scope="module")
def parsed(spark) -> Iterator[DataFrame]:
    frame = silver.parse_events(bronze(spark, MESSAGES), FUTURE_MARGIN_SECONDS).cache()
    yield frame
    frame.unpersist()


@pytest.fixture(scope="module")
def reason_at_offset(parsed) -> dict[int, str | None]:
    return {row.offset: row.reason for row in parsed.select("offset", "reason").collect()}


def test_the_rejected_messages_cover_every_rule_of_silver(spark):
    rules = [name for name, _ in silver._rules(FUTURE_MARGIN_SECONDS)]

    assert sorted({reason for _, _, reason in REJECTED}) == sorted(rules)


@pytest.mark.parametrize(
    ("offset", "expected_reason"),
    [(offset, reason) for offset, (_, _, reason) in enumerate(REJECTED)],
    ids=[what for what, _, _ in REJECTED],
)
def test_a_broken_message_gets_the_reason_of_the_rule_it_fails(
    reason_at_offset, offset, expected_reason
):
    assert reason_at_offset[offset] == expected_reason


@pytest.mark.parametrize("offset", ACCEPTED_OFFSETS, ids=[what for what, _ in ACCEPTED])
def test_a_valid_message_gets_no_reason(reason_at_offset, offset):
    assert reason_at_offset[offset] is None


def expected_event(offset: int, **fields: Any) -> dict[str, Any]:
    """A silver/events row as valid_events() returns it, null where not given."""
    row = dict.fromkeys(silver.EVENT_COLUMNS)
    row.update(fields)
    row.update(kafka_partition=0, kafka_offset=offset, ingest_time=INGEST_TIME)
    return row


def test_valid_events_carry_the_typed_values_in_utc_with_their_kafka_lineage(parsed):
    first = len(REJECTED)
    viewer = {
        "stream_id": "s1",
        "session_id": "a",
        "viewer_id": "v1",
        "device_type": "mobile",
        "viewer_state": "CA",
    }
    cart = {**viewer, "product_id": "p1", "price": Decimal("12.50"), "quantity": 2}
    expected = [
        expected_event(
            first, event_id="e-like", event_type="like", event_time=at("09:58:30.250"), **viewer
        ),
        # 11:58:30.250+02:00 is 09:58:30.250 UTC.
        expected_event(
            first + 1,
            event_id="e-like-cest",
            event_type="like",
            event_time=at("09:58:30.250"),
            **viewer,
        ),
        expected_event(
            first + 2,
            event_id="e-cart",
            event_type="add_to_cart",
            event_time=at("09:58:30.250"),
            **cart,
        ),
        expected_event(
            first + 3,
            event_id="e-buy",
            event_type="purchase",
            event_time=at("09:58:30.250"),
            order_id="o1",
            **cart,
        ),
        # scheduled_end 05:30-05:00 is 10:30 UTC.
        expected_event(
            first + 4,
            event_id="e-start",
            event_type="stream_start",
            event_time=at("09:00:00"),
            stream_id="s1",
            scheduled_end=at("10:30:00"),
        ),
        expected_event(
            first + 5, event_id="e-edge", event_type="like", event_time=at("10:05:00"), **viewer
        ),
        expected_event(
            first + 6, event_id="e-join", event_type="join", event_time=at("09:58:30.250"), **viewer
        ),
    ]

    valid = silver.valid_events(parsed)

    assert [row.asDict() for row in valid.orderBy("kafka_offset").collect()] == expected


def test_valid_events_have_the_silver_column_types(parsed):
    text = ("stream_id", "session_id", "viewer_id", "device_type", "viewer_state", "product_id")
    expected = [
        ("event_id", "string"),
        ("event_type", "string"),
        ("event_time", "timestamp"),
        *[(name, "string") for name in text],
        ("price", "decimal(10,2)"),
        ("quantity", "int"),
        ("order_id", "string"),
        ("scheduled_end", "timestamp"),
        ("kafka_partition", "int"),
        ("kafka_offset", "bigint"),
        ("ingest_time", "timestamp"),
    ]

    assert silver.valid_events(parsed).dtypes == expected


def test_valid_events_and_quarantine_rows_split_every_message_exactly_once(parsed):
    valid_offsets = [row.kafka_offset for row in silver.valid_events(parsed).collect()]
    quarantined_offsets = [row.offset for row in silver.quarantine_rows(parsed).collect()]

    assert sorted(valid_offsets) == ACCEPTED_OFFSETS
    assert sorted(quarantined_offsets) == REJECTED_OFFSETS


def test_quarantine_rows_keep_the_raw_text_the_readable_event_id_and_the_reason(spark):
    cut_off = message(LIKE)[:40]
    unknown = message(LIKE, event_id="x2", event_type="dance")
    parsed = silver.parse_events(bronze(spark, [cut_off, unknown, message(LIKE)]))

    quarantine = silver.quarantine_rows(parsed)
    rows = [row.asDict() for row in quarantine.orderBy("offset").collect()]
    stamped = [row.pop("quarantined_at") for row in rows]

    assert rows == [
        {
            "topic": "live_events",
            "partition": 0,
            "offset": 0,
            "key": "k0",
            "raw_value": cut_off.decode(),
            "event_id": None,
            "reason": "malformed_json",
            "ingest_time": INGEST_TIME,
        },
        {
            "topic": "live_events",
            "partition": 0,
            "offset": 1,
            "key": "k1",
            "raw_value": unknown.decode(),
            "event_id": "x2",
            "reason": "unknown_event_type",
            "ingest_time": INGEST_TIME,
        },
    ]
    assert all(isinstance(moment, datetime) for moment in stamped)


def test_the_future_margin_is_a_parameter(spark):
    # 10:01:00 is 60 s after the 10:00:00 ingest: inside a 300 s margin, beyond a 30 s one.
    one_minute_ahead = message(LIKE, event_time=f"{DAY}T10:01:00.000Z")
    frame = bronze(spark, [one_minute_ahead])

    reasons = [
        silver.parse_events(frame, margin).first().reason for margin in (FUTURE_MARGIN_SECONDS, 30)
    ]

    assert reasons == [None, "event_time_in_future"]


def test_a_price_with_three_decimals_is_quarantined_as_invalid_price(spark):
    # docs/events.md: a price has at most 2 decimals; 12.555 would become 12.56.
    parsed = silver.parse_events(bronze(spark, [message(CART, price="12.555")]))

    assert parsed.first().reason == "invalid_price"


def test_quarantine_replaces_invalid_utf8_in_raw_value(spark):
    parsed = silver.parse_events(bronze(spark, [b"\xff\xfe{"]))

    quarantine = silver.quarantine_rows(parsed)
    stored = quarantine.select(F.col("raw_value").cast("binary")).first()[0]

    # Each invalid byte becomes U+FFFD, which is EF BF BD in UTF-8.
    assert bytes(stored) == "\ufffd\ufffd{".encode()


EVENT_SCHEMA = T.StructType(
    [
        T.StructField("event_id", T.StringType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("event_time", T.TimestampType()),
        T.StructField("viewer_id", T.StringType()),
        T.StructField("kafka_offset", T.LongType()),
    ]
)


def routed_reasons(spark, values: list[bytes], earlier=None, watermark=None) -> list:
    """The reason of each message after parse_events and route_events, in offset order."""
    routed = silver.route_events(silver.parse_events(bronze(spark, values)), earlier, watermark)
    return [row.reason for row in routed.orderBy("offset").select("reason").collect()]


def test_route_keeps_the_first_copy_read_and_names_each_repeat(spark):
    values = [
        message(LIKE),
        message(LIKE),  # a producer retry: the same bytes
        message(LIKE, viewer_id="v2"),  # the same event_id with other content
        message(VIEW),
    ]

    assert routed_reasons(spark, values) == [
        None,
        "duplicate_event",
        "conflicting_duplicate",
        None,
    ]


def test_route_finds_repeats_of_events_already_in_silver(spark):
    earlier = silver.valid_events(
        silver.parse_events(bronze(spark, [message(LIKE), message(VIEW)]))
    )
    values = [message(LIKE), message(VIEW, product_id="p2"), message(CART)]

    assert routed_reasons(spark, values, earlier=earlier) == [
        "duplicate_event",
        "conflicting_duplicate",
        None,
    ]


def test_route_quarantines_valid_events_older_than_the_watermark_as_late(spark):
    # LIKE happened at 09:58:30.250; a watermark at that instant still admits it.
    values = [message(LIKE), message(VIEW, event_time=f"{DAY}T09:58:30.249Z"), b"not json"]

    reasons = routed_reasons(spark, values, watermark=at("09:58:30.250"))

    assert reasons == [None, "late_event", "malformed_json"]


def test_with_event_date_is_the_utc_date_of_event_time(spark):
    events = spark.createDataFrame(
        [
            ("e1", "like", at("23:59:59.999"), "v1", 0),
            ("e2", "like", at("00:00:00", day="2026-12-05"), "v1", 1),
        ],
        EVENT_SCHEMA,
    )

    rows = [tuple(row) for row in silver.with_event_date(events).orderBy("event_id").collect()]

    assert rows == [
        ("e1", "like", at("23:59:59.999"), "v1", 0, date(2026, 12, 4)),
        ("e2", "like", at("00:00:00", day="2026-12-05"), "v1", 1, date(2026, 12, 5)),
    ]
