"""The event contract of the `live_events` topic, shared by producers and jobs.

One JSON object per Kafka message; the message key is the session_id, or the
stream_id for stream events, so a session's events stay in order within a
partition. docs/events.md describes each field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

STREAM_EVENT_TYPES = ("stream_start", "stream_end")
VIEWER_EVENT_TYPES = (
    "join",
    "heartbeat",
    "view_product",
    "like",
    "comment",
    "share",
    "product_click",
    "add_to_cart",
    "remove_from_cart",
    "purchase",
    "leave",
)
EVENT_TYPES = STREAM_EVENT_TYPES + VIEWER_EVENT_TYPES
PRODUCT_EVENT_TYPES = (
    "view_product",
    "product_click",
    "add_to_cart",
    "remove_from_cart",
    "purchase",
)
PRICED_EVENT_TYPES = ("add_to_cart", "purchase")
DEVICE_TYPES = ("mobile", "desktop", "tablet", "tv")

# Identifiers: 1 to 128 printable ASCII characters from a safe set, so that an
# id never carries spaces, control characters or emoji into joins and keys.
ID_FIELDS = ("event_id", "stream_id", "session_id", "viewer_id", "product_id", "order_id")
ID_PATTERN = r"^[A-Za-z0-9_.:@/+=-]{1,128}$"
# viewer_state is a two-letter region code in capitals, such as CA.
VIEWER_STATE_PATTERN = r"^[A-Z]{2}$"
# ISO-8601 with a date, a time to the second or finer, and an explicit zone:
# a time without a zone would be read in whatever zone the job runs in.
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"

FIELDS = (
    "event_id",
    "event_type",
    "event_time",
    "stream_id",
    "session_id",
    "viewer_id",
    "device_type",
    "viewer_state",
    "product_id",
    "price",
    "quantity",
    "order_id",
    "scheduled_end",
)


def format_time(moment: datetime) -> str:
    """ISO-8601 in UTC with millisecond precision, e.g. 2026-12-04T15:00:00.250Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_key(event: dict[str, Any]) -> str | None:
    """The Kafka key of an event: its session, or its stream for stream events."""
    return event.get("session_id") or event.get("stream_id")
