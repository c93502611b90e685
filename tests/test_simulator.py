"""The simulator's events follow the contract and the defaults give the prototype's figures.

The figures are computed here from the events alone, with SPEC section 3's definitions,
not with anything of the simulator's own. The last tests cover the Kafka sink with a
stand-in producer, so that none of them needs a broker.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from lakehouse.config import DEFAULT_CONF, load_settings
from lakehouse.contract import (
    DEVICE_TYPES,
    EVENT_TYPES,
    FIELDS,
    PRICED_EVENT_TYPES,
    PRODUCT_EVENT_TYPES,
    STREAM_EVENT_TYPES,
)
from lakehouse.producers.kafka_sink import (
    encode_event,
    seconds_to_wait,
    send_events,
    send_raw,
)
from lakehouse.producers.simulator import (
    DEVICE_WEIGHTS,
    SimulatorConfig,
    generate_events,
    simulated_span,
)

START = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
TIME_PATTERN = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SMALL = SimulatorConfig(
    seed=3,
    streams=2,
    viewers=12,
    stream_minutes=20,
    stream_interval_minutes=30,
    sessions_per_viewer=3,
    heartbeat_seconds=30,
    duplicate_ratio=0.0,
    late_ratio=0.0,
)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _unique(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({event["event_id"]: event for event in events}.values())


def _by_session(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    sessions = defaultdict(list)
    for event in _unique(events):
        if event["session_id"] is not None:
            sessions[event["session_id"]].append(event)
    for session_events in sessions.values():
        session_events.sort(key=lambda event: event["event_time"])
    return sessions


def _stream_bounds(events: list[dict[str, Any]]) -> dict[str, tuple[datetime, datetime]]:
    starts, ends = {}, {}
    for event in events:
        if event["event_type"] == "stream_start":
            starts[event["stream_id"]] = _moment(event["event_time"])
        elif event["event_type"] == "stream_end":
            ends[event["stream_id"]] = _moment(event["event_time"])
    return {stream_id: (starts[stream_id], ends[stream_id]) for stream_id in starts}


def _session_window(session_events: list[dict[str, Any]]) -> tuple[datetime, datetime]:
    """started_at and ended_at: the leave, or else the last event (the data has ended)."""
    times = [_moment(event["event_time"]) for event in session_events]
    leaves = [_moment(e["event_time"]) for e in session_events if e["event_type"] == "leave"]
    return min(times), leaves[0] if leaves else max(times)


def _figures(events: list[dict[str, Any]]) -> dict[str, float]:
    """SPEC section 3's session figures, from the events alone."""
    bounds = _stream_bounds(events)
    durations, lags = [], []
    eligible = dropped = converted = 0
    for session_events in _by_session(events).values():
        started, ended = _session_window(session_events)
        durations.append((ended - started).total_seconds() / 60)
        stream_start, stream_end = bounds[session_events[0]["stream_id"]]
        mid_point = stream_start + (stream_end - stream_start) / 2
        if started < mid_point:
            eligible += 1
            dropped += ended < mid_point
        purchases = [e for e in session_events if e["event_type"] == "purchase"]
        converted += bool(purchases)
        for purchase in purchases:
            clicks = [
                _moment(e["event_time"])
                for e in session_events
                if e["event_type"] == "product_click"
                and e["product_id"] == purchase["product_id"]
                and e["event_time"] <= purchase["event_time"]
            ]
            if clicks:
                lags.append((_moment(purchase["event_time"]) - min(clicks)).total_seconds() / 60)
    sessions = len(durations)
    return {
        "sessions": sessions,
        "viewers": len({e["viewer_id"] for e in events if e["viewer_id"] is not None}),
        "avg_session_minutes": statistics.mean(durations),
        "drop_off_rate": dropped / eligible,
        "conversion_rate": converted / sessions,
        "lag_mean_minutes": statistics.mean(lags),
    }


@pytest.fixture(scope="module")
def default_config() -> SimulatorConfig:
    return SimulatorConfig.from_settings(load_settings(DEFAULT_CONF).section("simulator"))


@pytest.fixture(scope="module")
def default_events(default_config: SimulatorConfig) -> list[dict[str, Any]]:
    return generate_events(default_config, START)


@pytest.fixture(scope="module")
def small_events() -> list[dict[str, Any]]:
    return generate_events(SMALL, START)


def test_same_seed_and_start_give_identical_events(small_events):
    again = generate_events(SMALL, START)

    assert len(small_events) > 100
    assert again == small_events


def test_another_seed_gives_other_events(small_events):
    other = generate_events(replace(SMALL, seed=4), START)

    assert [e["event_type"] for e in other] != [e["event_type"] for e in small_events]
    assert not {e["event_id"] for e in other} & {e["event_id"] for e in small_events}


def test_another_start_time_shifts_the_clock_and_renews_the_ids(small_events):
    later = generate_events(SMALL, START + timedelta(hours=1))

    def model(event):
        return event["event_type"], event["viewer_id"], event["product_id"], event["price"]

    assert [model(e) for e in later] == [model(e) for e in small_events]
    shifts = {
        _moment(b["event_time"]) - _moment(a["event_time"])
        for a, b in zip(small_events, later, strict=True)
    }
    assert shifts == {timedelta(hours=1)}
    assert not {e["event_id"] for e in later} & {e["event_id"] for e in small_events}


def test_a_naive_start_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_events(SMALL, datetime(2026, 12, 1, 18, 0))


def test_every_event_has_the_contract_fields_with_valid_values(default_events):
    for event in default_events:
        assert tuple(event) == FIELDS
        assert event["event_type"] in EVENT_TYPES
        assert TIME_PATTERN.match(event["event_time"]), event
        assert event["stream_id"]
        assert (event["scheduled_end"] is not None) == (event["event_type"] == "stream_start")
        if event["event_type"] in STREAM_EVENT_TYPES:
            assert event["session_id"] is None and event["viewer_id"] is None
        else:
            assert event["session_id"] and event["viewer_id"]
            assert event["device_type"] in DEVICE_TYPES
            assert re.fullmatch(r"[A-Z]{2}", event["viewer_state"])
        assert (event["product_id"] is not None) == (event["event_type"] in PRODUCT_EVENT_TYPES)
        if event["event_type"] in PRICED_EVENT_TYPES:
            assert isinstance(event["price"], float) and event["price"] > 0
            assert re.fullmatch(r"\d+\.\d{1,2}", json.dumps(event["price"]))
            assert isinstance(event["quantity"], int) and event["quantity"] >= 1
        else:
            assert event["price"] is None and event["quantity"] is None
        assert (event["order_id"] is not None) == (event["event_type"] == "purchase")


def test_each_stream_is_framed_and_holds_its_sessions(default_events):
    bounds = _stream_bounds(default_events)
    starts = [e for e in _unique(default_events) if e["event_type"] == "stream_start"]

    assert len(bounds) == 5
    assert len(starts) == 5
    for start in starts:
        planned = _moment(start["scheduled_end"]) - _moment(start["event_time"])
        assert planned == timedelta(minutes=90)
    for event in default_events:
        stream_start, stream_end = bounds[event["stream_id"]]
        assert stream_start <= _moment(event["event_time"]) <= stream_end


def test_sessions_belong_to_one_viewer_and_viewers_come_back_to_other_streams(default_events):
    owners = defaultdict(set)
    streams_per_viewer = defaultdict(set)
    for event in default_events:
        if event["session_id"] is not None:
            owners[event["session_id"]].add((event["viewer_id"], event["stream_id"]))
            streams_per_viewer[event["viewer_id"]].add(event["stream_id"])

    assert len(owners) == 500
    assert {len(owner) for owner in owners.values()} == {1}
    assert max(len(streams) for streams in streams_per_viewer.values()) == 5


def test_a_viewer_keeps_one_device_and_one_state(default_events):
    profiles = defaultdict(set)
    for event in default_events:
        if event["viewer_id"] is not None:
            profiles[event["viewer_id"]].add((event["device_type"], event["viewer_state"]))

    assert {len(profile) for profile in profiles.values()} == {1}
    devices = Counter(next(iter(profile))[0] for profile in profiles.values())
    assert devices["mobile"] > devices["desktop"] > 0


def test_sessions_of_one_viewer_in_one_stream_do_not_overlap(default_events):
    windows = defaultdict(list)
    for session_events in _by_session(default_events).values():
        first = session_events[0]
        windows[first["viewer_id"], first["stream_id"]].append(_session_window(session_events))

    assert any(len(visits) > 1 for visits in windows.values())
    for visits in windows.values():
        visits.sort()
        for (_, ended), (started, _) in pairwise(visits):
            assert ended < started


def test_heartbeats_come_every_heartbeat_seconds(small_events):
    for session_events in _by_session(small_events).values():
        join = _moment(session_events[0]["event_time"])
        beats = [_moment(e["event_time"]) for e in session_events if e["event_type"] == "heartbeat"]
        expected = [join + timedelta(seconds=30 * k) for k in range(1, len(beats) + 1)]
        assert session_events[0]["event_type"] == "join"
        assert beats == expected
        leaves = [e for e in session_events if e["event_type"] == "leave"]
        if leaves:
            assert _moment(leaves[0]["event_time"]) < join + timedelta(
                seconds=30 * (len(beats) + 1)
            )


def test_every_purchase_follows_a_click_and_a_cart_add_of_its_product(default_events):
    purchases = 0
    for session_events in _by_session(default_events).values():
        for purchase in (e for e in session_events if e["event_type"] == "purchase"):
            purchases += 1
            before = [e for e in session_events if e["event_time"] < purchase["event_time"]]
            touched = {
                e["product_id"]
                for e in before
                if e["event_type"] in ("product_click", "view_product")
            }
            carted = {
                (e["product_id"], e["price"], e["quantity"])
                for e in before
                if e["event_type"] == "add_to_cart"
            }
            assert purchase["product_id"] in touched
            assert (purchase["product_id"], purchase["price"], purchase["quantity"]) in carted

    assert purchases > 100


def test_duplicates_are_the_same_event_sent_twice_in_a_row():
    events = generate_events(replace(SMALL, duplicate_ratio=0.2), START)
    positions = defaultdict(list)
    for position, event in enumerate(events):
        positions[event["event_id"]].append(position)
    duplicated = [found for found in positions.values() if len(found) > 1]

    assert 0.12 < len(duplicated) / len(positions) < 0.28
    for found in duplicated:
        first, second = found
        assert second == first + 1
        assert events[first] == events[second]


def test_without_duplicates_every_event_id_is_unique(small_events):
    assert len({event["event_id"] for event in small_events}) == len(small_events)


def test_without_late_events_the_send_order_is_the_time_order(small_events):
    times = [event["event_time"] for event in small_events]

    assert times == sorted(times)


def test_late_events_come_after_later_events_by_at_most_late_max_seconds():
    events = generate_events(replace(SMALL, late_ratio=0.2, late_max_seconds=120), START)
    latest_so_far = _moment(events[0]["event_time"])
    lateness = []
    for event in events:
        moment = _moment(event["event_time"])
        lateness.append((latest_so_far - moment).total_seconds())
        latest_so_far = max(latest_so_far, moment)

    assert sum(late > 0 for late in lateness) > 0.05 * len(events)
    assert max(lateness) <= 120


def test_the_defaults_give_figures_of_the_prototypes_order(default_events):
    figures = _figures(default_events)

    assert figures["sessions"] == 500
    assert figures["viewers"] == 100
    assert 30 <= figures["avg_session_minutes"] <= 40
    assert 0.25 <= figures["drop_off_rate"] <= 0.35
    assert 10 <= figures["lag_mean_minutes"] <= 20
    assert 0.2 <= figures["conversion_rate"] <= 0.6


def test_the_config_defaults_are_those_of_the_settings_file(default_config):
    assert SimulatorConfig() == default_config


def test_from_settings_applies_overrides_and_skips_the_sending_rate():
    config = SimulatorConfig.from_settings(
        {"seed": 1, "viewers": 9, "rate": 50}, viewers=20, seed=None
    )

    assert config == replace(SimulatorConfig(), seed=1, viewers=20)


def test_from_settings_refuses_an_unknown_key():
    with pytest.raises(ValueError, match="unknown simulator settings: viewer"):
        SimulatorConfig.from_settings({"viewer": 9})


def test_an_out_of_range_ratio_is_refused():
    with pytest.raises(ValueError, match="0 <= late_ratio <= 1"):
        SimulatorConfig(late_ratio=1.5)


def test_simulated_span_covers_every_stream_and_its_overrun(default_events):
    span = simulated_span(SimulatorConfig(streams=5, stream_interval_minutes=1440))

    # 4 intervals of 1440 minutes, a 90-minute show and at most 3 minutes of overrun.
    assert span == timedelta(minutes=5853)
    assert max(_moment(e["event_time"]) for e in default_events) <= START + span


def test_the_device_mix_covers_the_contracts_devices():
    assert set(DEVICE_WEIGHTS) == set(DEVICE_TYPES)


class _Future:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def add_errback(self, callback):
        if self.error is not None:
            callback(self.error)
        return self


class _Producer:
    """Records what a KafkaProducer would have been asked to send."""

    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self.flushes = 0
        self.error = error

    def send(self, topic, value=None, key=None):
        self.sent.append((topic, key, value))
        return _Future(self.error)

    def flush(self, timeout=None):
        self.flushes += 1


def test_encode_event_keys_by_session_then_by_stream():
    session_event = {"event_id": "e1", "stream_id": "live-1", "session_id": "s1", "price": 9.5}
    stream_event = {"event_id": "e2", "stream_id": "live-1", "session_id": None}

    assert encode_event(session_event) == (
        b"s1",
        b'{"event_id": "e1", "stream_id": "live-1", "session_id": "s1", "price": 9.5}',
    )
    assert encode_event(stream_event) == (
        b"live-1",
        b'{"event_id": "e2", "stream_id": "live-1", "session_id": null}',
    )
    assert encode_event({"event_id": "e3"}) == (None, b'{"event_id": "e3"}')


def test_send_events_sends_each_event_and_flushes():
    producer = _Producer()
    events = [{"event_id": "e1", "session_id": "s1"}, {"event_id": "e2", "stream_id": "live-1"}]

    sent = send_events(producer, "live_events", events)

    assert sent == 2
    assert producer.sent == [
        ("live_events", b"s1", b'{"event_id": "e1", "session_id": "s1"}'),
        ("live_events", b"live-1", b'{"event_id": "e2", "stream_id": "live-1"}'),
    ]
    assert producer.flushes == 1


def test_send_raw_sends_the_bytes_as_given():
    producer = _Producer()

    sent = send_raw(producer, "live_events", [(None, b"{not json"), (b"k", b"")])

    assert sent == 2
    assert producer.sent == [("live_events", None, b"{not json"), ("live_events", b"k", b"")]
    assert producer.flushes == 1


def test_a_refused_message_raises():
    producer = _Producer(error=OSError("broker gone"))

    with pytest.raises(RuntimeError, match="1 of 1 messages to live_events failed"):
        send_events(producer, "live_events", [{"event_id": "e1"}])


def test_seconds_to_wait_spaces_messages_at_the_rate():
    # At 5 messages/s the 11th message (10 sent) is due 2 s after the first.
    assert seconds_to_wait(10, 5.0, 1.0) == 1.0
    assert seconds_to_wait(10, 5.0, 3.0) == 0.0
    assert seconds_to_wait(0, 5.0, 0.0) == 0.0
    assert seconds_to_wait(10, 0.0, 0.0) == 0.0
