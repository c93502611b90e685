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
