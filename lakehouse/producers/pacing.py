"""Pacing a sequence of events on their own clock, for replays and live simulation."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any


def _event_moment(event: Mapping[str, Any]) -> datetime | None:
    text = event.get("event_time")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def paced(
    events: Iterable[dict[str, Any]],
    speedup: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Yield the events on a schedule: a gap in event_time takes gap / speedup to replay.

    Each event is due at (its event_time - the first event_time) / speedup after the first
    one was yielded, so sleeps do not add up drift. An event without a readable time, or
    one earlier than an event already yielded, goes out at once. speedup 0 means no
    waiting at all.
    """
    if speedup < 0:
        raise ValueError(f"speedup must be >= 0, got {speedup}")
    first_moment = None
    started = 0.0
    for event in events:
        moment = _event_moment(event) if speedup > 0 else None
        if moment is not None and first_moment is None:
            first_moment, started = moment, clock()
        elif moment is not None:
            due = started + (moment - first_moment).total_seconds() / speedup
            wait = due - clock()
            if wait > 0:
                sleep(wait)
        yield event
