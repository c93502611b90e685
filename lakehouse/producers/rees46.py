"""Replay of the REES46 e-commerce clickstream as live-shopping events.

The REES46 CSV (columns event_time, event_type, product_id, category_id, category_code,
brand, price, user_id, user_session) becomes one live stream, framed by a synthetic
`stream_start` at the first row's time and `stream_end` at the last row's time. Each data
row becomes one event (docs/replay.md has the table):

- view -> view_product, cart -> add_to_cart, purchase -> purchase (quantity 1);
  any other event_type is passed through unchanged, for the pipeline to quarantine;
- user_session -> session_id, user_id -> viewer_id, product_id and price kept;
  device_type and viewer_state are null, the source has neither;
- event_id "rees46-<line>" and order_id "rees46-order-<line>", <line> being the row's
  line number in the file (the header is line 1), so a replay is deterministic.

A row with missing fields (the sample file's last line is cut off mid-way) is mapped as
far as it goes and sent, with a warning: it is the pipeline's job to quarantine it.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from lakehouse.contract import FIELDS, PRICED_EVENT_TYPES, format_time

logger = logging.getLogger(__name__)

ID_PREFIX = "rees46"
EVENT_TYPE_MAP = {"view": "view_product", "cart": "add_to_cart", "purchase": "purchase"}
SOURCE_COLUMNS = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)
SOURCE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %Z"

Row = Mapping[str, str | None]


def parse_source_time(text: str | None) -> datetime | None:
    """A REES46 time such as "2019-10-01 00:00:00 UTC", or None if it is not one."""
    if not text:
        return None
    try:
        return datetime.strptime(text, SOURCE_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _event_time(text: str | None) -> str | None:
    """The contract's time format; text that is no time is passed on for the pipeline."""
    moment = parse_source_time(text)
    return format_time(moment) if moment else (text or None)


def _price(text: str | None) -> float | str | None:
    """The price as a number with 2 decimals; text that is no price is passed on as is."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return round(value, 2) if math.isfinite(value) else text


def map_row(row: Row, line_number: int, stream_id: str) -> dict[str, Any]:
    """One CSV row (as read by csv.DictReader) -> one event of the contract."""
    source_type = row.get("event_type") or None
    event_type = EVENT_TYPE_MAP.get(source_type, source_type)
    event = dict.fromkeys(FIELDS)
    event.update(
        event_id=f"{ID_PREFIX}-{line_number}",
        event_type=event_type,
        event_time=_event_time(row.get("event_time")),
        stream_id=stream_id,
        session_id=row.get("user_session") or None,
        viewer_id=row.get("user_id") or None,
        product_id=row.get("product_id") or None,
        price=_price(row.get("price")),
    )
    if event_type in PRICED_EVENT_TYPES:
        event["quantity"] = 1
    if event_type == "purchase":
        event["order_id"] = f"{ID_PREFIX}-order-{line_number}"
    return event


def stream_events(stream_id: str, first: datetime, last: datetime) -> tuple[dict, dict]:
    """The synthetic stream_start and stream_end that frame a replay."""
    start = dict.fromkeys(FIELDS)
    start.update(
        event_id=f"{stream_id}-start",
        event_type="stream_start",
        event_time=format_time(first),
        stream_id=stream_id,
        scheduled_end=format_time(last),
    )
    end = dict.fromkeys(FIELDS)
    end.update(
        event_id=f"{stream_id}-end",
        event_type="stream_end",
        event_time=format_time(last),
        stream_id=stream_id,
    )
    return start, end


def read_rows(path: str | Path, limit: int | None = None) -> Iterator[tuple[int, Row]]:
    """(line number, row) of the first `limit` data rows (all if None), streamed.

    A row with fewer or more fields than the header is yielded as it is, with a warning.
    """
    with Path(path).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for row in islice(reader, limit):
            if None in row or None in row.values():
                logger.warning(
                    "%s line %d does not have the %d fields of the header (cut off?); "
                    "it is sent as it is, for the pipeline to quarantine",
                    path,
                    reader.line_num,
                    len(reader.fieldnames or ()),
                )
            yield reader.line_num, row


def _time_range(path: str | Path, limit: int | None) -> tuple[datetime, datetime]:
    """The first and the last readable event_time of the rows."""
    first = last = None
    with Path(path).open(newline="", encoding="utf-8") as handle:
        for row in islice(csv.DictReader(handle), limit):
            moment = parse_source_time(row.get("event_time"))
            if moment is not None:
                first = first or moment
                last = moment
    if first is None or last is None:
        raise ValueError(f"{path}: no row with a readable event_time")
    return first, last


def iter_events(path: str | Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The replay's events in file order: stream_start, one event per row, stream_end.

    The file is read twice, streaming: once for the time range that frames the stream,
    once to map the rows.
    """
    first, last = _time_range(path, limit)
    stream_id = f"{ID_PREFIX}-{first:%Y-%m-%d}"
    start, end = stream_events(stream_id, first, last)
    yield start
    for line_number, row in read_rows(path, limit):
        yield map_row(row, line_number, stream_id)
    yield end


def map_file(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """iter_events() as a list."""
    return list(iter_events(path, limit))
