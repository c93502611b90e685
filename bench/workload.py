"""The events the benchmark sends: the simulator's, repeated with fresh ids.

One pass is one simulation (SimulatorConfig below, about 110,000 events over
five shows two hours apart). Pass k gets ids suffixed with "-k" and is moved
k spans later, so passes never collide and each one is on time after the one
before: the pipeline sees a long, valid, growing history. The simulator's own
duplicates (1 %) and late events (2 %, within the watermark) stay in.

live_event() re-dates an event to the moment it is sent, for runs on
processing-time triggers; probe_event() is a join of a session of its own,
whose arrival in gold the latency run waits for.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from lakehouse.contract import format_time
from lakehouse.producers.kafka_sink import encode_event
from lakehouse.producers.simulator import SimulatorConfig, generate_events, simulated_span

SIMULATION = SimulatorConfig(viewers=1000, stream_interval_minutes=120)
START = datetime(2026, 1, 1, tzinfo=UTC)
ID_FIELDS = ("event_id", "stream_id", "session_id", "viewer_id", "order_id")
TIME_FIELDS = ("event_time", "scheduled_end")


class Workload:
    """Numbered events over any number of passes of one simulation."""

    def __init__(self, simulation: SimulatorConfig = SIMULATION) -> None:
        self.events = generate_events(simulation, START)
        # Whole minutes, plus a gap bigger than the session inactivity gap.
        self.span = timedelta(minutes=int(simulated_span(simulation).total_seconds() // 60) + 60)

    def event(self, number: int) -> dict[str, Any]:
        """Event `number` (from 0): pass number // len(events), moved and renamed."""
        passes, index = divmod(number, len(self.events))
        event = dict(self.events[index])
        for name in ID_FIELDS:
            if event.get(name):
                event[name] = f"{event[name]}-{passes}"
        if passes:
            for name in TIME_FIELDS:
                if event.get(name):
                    moved = datetime.fromisoformat(event[name]) + passes * self.span
                    event[name] = format_time(moved)
        return event

    def messages(self, first: int, count: int) -> Iterator[tuple[bytes | None, bytes]]:
        """(key, value) of events first .. first + count - 1, keyed as the simulator keys them."""
        for number in range(first, first + count):
            yield encode_event(self.event(number))

    def live_event(self, number: int, now: datetime) -> dict[str, Any]:
        """Event `number` with fresh ids, happening now (a show that never ends)."""
        event = self.event(number)
        event["event_time"] = format_time(now)
        if event.get("scheduled_end"):
            event["scheduled_end"] = format_time(now + timedelta(days=365))
        return event


def probe_event(number: int, stream_id: str, now: datetime) -> dict[str, Any]:
    """A join by a viewer of its own: its session shows up in gold/fct_sessions once processed."""
    return {
        "event_id": f"probe-{number}",
        "event_type": "join",
        "event_time": format_time(now),
        "stream_id": stream_id,
        "session_id": f"probe-{number}",
        "viewer_id": "probe-viewer",
        "device_type": "desktop",
        "viewer_state": "CA",
    }
