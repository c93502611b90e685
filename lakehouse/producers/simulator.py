"""A seeded simulator of live-shopping events, following the contract of docs/events.md.

The model, in short (docs/replay.md has the numbers):

- `streams` shows of `stream_minutes` each, one every `stream_interval_minutes`, each
  framed by `stream_start` (with `scheduled_end`) and `stream_end` (up to 3 minutes late);
  each show features 8 products of a 40-product catalogue.
- `viewers` viewers with a fixed device, US state, buying propensity and chattiness. Every
  viewer watches at least once; `viewers * sessions_per_viewer` sessions in all, the extra
  ones going to the more active viewers. A viewer watches different shows before coming
  back to one already seen; two sessions of one viewer in one show never overlap.
- A session joins early (30 %) or any time up to 15 minutes before the end, and is either a
  short browse (25 %, 1-15 minutes) or a long stay (72 minutes on average), cut at the
  show's end. It sends a heartbeat every `heartbeat_seconds`, likes, comments and shares, and
  walks products down the funnel view -> click -> add to cart -> purchase (or remove).
  A purchase comes 10-20 minutes after the click, and only if the session is still there.
  5 % of sessions vanish without a `leave`.

generate_events() is a pure function: the same config and start time give the same events,
event_ids included. It returns the events in the order they are to be sent: by event_time,
except that a `duplicate_ratio` share is sent twice in a row (same event_id) and a
`late_ratio` share is sent as if it had happened up to `late_max_seconds` later.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from lakehouse.contract import FIELDS, format_time

logger = logging.getLogger(__name__)

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS

# Keys of the [simulator] settings that are about sending, not generating.
SENDING_KEYS = frozenset({"rate"})

DEVICE_WEIGHTS = {"mobile": 0.60, "desktop": 0.25, "tablet": 0.10, "tv": 0.05}
# Buying propensity is multiplied by this: a TV remote is a poor checkout.
DEVICE_BUYING_FACTOR = {"mobile": 1.0, "desktop": 1.15, "tablet": 0.95, "tv": 0.6}
# The 30 most populous US states, weighted roughly by population.
STATE_WEIGHTS = {
    "CA": 12.0, "TX": 9.0, "FL": 6.5, "NY": 6.0, "PA": 4.0, "IL": 3.8, "OH": 3.5, "GA": 3.2,
    "NC": 3.2, "MI": 3.0, "NJ": 2.8, "VA": 2.6, "WA": 2.3, "AZ": 2.2, "MA": 2.1, "TN": 2.1,
    "IN": 2.0, "MO": 1.9, "MD": 1.9, "WI": 1.8, "CO": 1.8, "MN": 1.7, "SC": 1.6, "AL": 1.5,
    "LA": 1.4, "KY": 1.4, "OR": 1.3, "OK": 1.2, "CT": 1.1, "UT": 1.0,
}  # fmt: skip

CATALOG_SIZE = 40
PRODUCTS_PER_STREAM = 8
STREAM_OVERRUN_MAX_MINUTES = 3.0

EARLY_JOIN_SHARE = 0.30
EARLY_JOIN_MINUTES = 10.0
LAST_JOIN_BEFORE_END_MINUTES = 15.0
BROWSE_SHARE = 0.25
BROWSE_MINUTES = (1.0, 15.0)
STAY_MEAN_MINUTES = 72.0
STAY_SHAPE = 10.0
NO_LEAVE_SHARE = 0.05
REJOIN_GAP_MINUTES = (1.0, 10.0)

# Interactions per minute of a viewer of chattiness 1.
SOCIAL_PER_MINUTE = {"like": 0.20, "comment": 0.05, "share": 0.01}
# Product views per minute: base + interest x propensity.
VIEWS_PER_MINUTE = (0.06, 0.20)
# Funnel step probabilities: base + interest x propensity.
CLICK_PROBABILITY = (0.40, 0.50)
CART_PROBABILITY = (0.30, 0.50)
BUY_PROBABILITY = (0.55, 0.40)
REMOVE_SHARE = 0.30
CLICK_DELAY_MEAN_MS = 20 * SECOND_MS
CART_DELAY_MEAN_MS = 4 * MINUTE_MS
PURCHASE_LAG_MEAN_MS = 18 * MINUTE_MS
PURCHASE_LAG_SHAPE = 3.0
QUANTITY_WEIGHTS = {1: 0.80, 2: 0.15, 3: 0.05}


@dataclass(frozen=True)
class SimulatorConfig:
    """The simulator's knobs; the defaults are those of conf/lakehouse.toml [simulator]."""

    seed: int = 7
    streams: int = 5
    viewers: int = 100
    stream_minutes: float = 90.0
    stream_interval_minutes: float = 1440.0
    sessions_per_viewer: float = 5.0
    heartbeat_seconds: float = 60.0
    duplicate_ratio: float = 0.01
    late_ratio: float = 0.02
    late_max_seconds: float = 240.0

    def __post_init__(self) -> None:
        checks = {
            "streams >= 1": self.streams >= 1,
            "viewers >= 1": self.viewers >= 1,
            "stream_minutes >= 2": self.stream_minutes >= 2,
            "stream_interval_minutes >= 0": self.stream_interval_minutes >= 0,
            "sessions_per_viewer >= 1": self.sessions_per_viewer >= 1,
            "heartbeat_seconds > 0": self.heartbeat_seconds > 0,
            "0 <= duplicate_ratio <= 1": 0 <= self.duplicate_ratio <= 1,
            "0 <= late_ratio <= 1": 0 <= self.late_ratio <= 1,
            "late_max_seconds >= 0": self.late_max_seconds >= 0,
        }
        failed = [rule for rule, holds in checks.items() if not holds]
        if failed:
            raise ValueError(f"invalid simulator config {self}: expected {', '.join(failed)}")

    @classmethod
    def from_settings(cls, section: Mapping[str, Any], **overrides: Any) -> SimulatorConfig:
        """Build from a [simulator] settings section; overrides that are None are ignored.

        Keys about sending (`rate`) are skipped; any other unknown key is an error, so
        that a typo in the settings file does not silently fall back to a default.
        """
        known = {field.name for field in fields(cls)}
        values = {key: value for key, value in section.items() if key not in SENDING_KEYS}
        values.update({key: value for key, value in overrides.items() if value is not None})
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown simulator settings: {', '.join(unknown)}")
        return cls(**values)


def simulated_span(config: SimulatorConfig) -> timedelta:
    """The longest simulated time the events can cover, from the first stream_start on."""
    minutes = (
        (config.streams - 1) * config.stream_interval_minutes
        + config.stream_minutes
        + STREAM_OVERRUN_MAX_MINUTES
    )
    # Late events do not widen it: they are sent late, their event_time is unchanged.
    return timedelta(minutes=minutes)


@dataclass(frozen=True)
class _Product:
    product_id: str
    price: float


@dataclass(frozen=True)
class _Viewer:
    viewer_id: str
    device_type: str
    viewer_state: str
    activity: float
    propensity: float
    chattiness: float


@dataclass(frozen=True)
class _Stream:
    stream_id: str
    start_ms: int
    scheduled_end_ms: int
    end_ms: int
    products: tuple[_Product, ...]


@dataclass(frozen=True)
class _Session:
    session_id: str
    stream: _Stream
    viewer: _Viewer
    join_ms: int
    leave_ms: int
    sends_leave: bool


class _EventFactory:
    """Builds event dicts on the simulated clock (milliseconds since start_time)."""

    def __init__(self, start_time: datetime, id_seed: str) -> None:
        self._start_time = start_time
        self._ids = random.Random(id_seed)

    def new_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def time_text(self, at_ms: int) -> str:
        return format_time(self._start_time + timedelta(milliseconds=at_ms))

    def stream_event(self, event_type: str, at_ms: int, stream: _Stream) -> tuple[int, dict]:
        event = dict.fromkeys(FIELDS)
        event.update(
            event_id=self.new_id(),
            event_type=event_type,
            event_time=self.time_text(at_ms),
            stream_id=stream.stream_id,
        )
        if event_type == "stream_start":
            event["scheduled_end"] = self.time_text(stream.scheduled_end_ms)
        return at_ms, event

    def session_event(
        self, event_type: str, at_ms: int, session: _Session, **product_fields: Any
    ) -> tuple[int, dict]:
        event = dict.fromkeys(FIELDS)
        event.update(
            event_id=self.new_id(),
            event_type=event_type,
            event_time=self.time_text(at_ms),
            stream_id=session.stream.stream_id,
            session_id=session.session_id,
            viewer_id=session.viewer.viewer_id,
            device_type=session.viewer.device_type,
            viewer_state=session.viewer.viewer_state,
            **product_fields,
        )
        return at_ms, event


def _weighted_choice(rng: random.Random, weights: Mapping[Any, float]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _catalog() -> list[_Product]:
    """The product catalogue; a product keeps its price whatever the seed."""
    products = []
    for number in range(1, CATALOG_SIZE + 1):
        rng = random.Random(f"product-{number}")
        dollars = max(2, round(rng.lognormvariate(3.4, 0.7)))
        products.append(_Product(f"sku-{number:04d}", round(dollars - 0.01, 2)))
    return products


def _viewers(count: int) -> list[_Viewer]:
    """The viewers; a viewer keeps its device, state and habits whatever the seed."""
    viewers = []
    for number in range(1, count + 1):
        rng = random.Random(f"viewer-{number}")
        viewers.append(
            _Viewer(
                viewer_id=f"viewer-{number:04d}",
                device_type=_weighted_choice(rng, DEVICE_WEIGHTS),
                viewer_state=_weighted_choice(rng, STATE_WEIGHTS),
                activity=rng.lognormvariate(0.0, 0.75),
                propensity=rng.betavariate(2.0, 2.5),
                chattiness=rng.lognormvariate(0.0, 0.5),
            )
        )
    return viewers


def _streams(
    rng: random.Random, config: SimulatorConfig, start_time: datetime, catalog: list[_Product]
) -> list[_Stream]:
    streams = []
    for index in range(config.streams):
        start_ms = round(index * config.stream_interval_minutes * MINUTE_MS)
        scheduled_end_ms = start_ms + round(config.stream_minutes * MINUTE_MS)
        overrun_ms = round(rng.uniform(0.0, STREAM_OVERRUN_MAX_MINUTES) * MINUTE_MS)
        opened = start_time + timedelta(milliseconds=start_ms)
        streams.append(
            _Stream(
                stream_id=f"live-{opened:%Y%m%d-%H%M}-{index + 1}",
                start_ms=start_ms,
                scheduled_end_ms=scheduled_end_ms,
                end_ms=scheduled_end_ms + overrun_ms,
                products=tuple(rng.sample(catalog, PRODUCTS_PER_STREAM)),
            )
        )
    return streams


def _session_counts(
    rng: random.Random, config: SimulatorConfig, viewers: list[_Viewer]
) -> list[int]:
    """Sessions per viewer: one each, the rest drawn in proportion to activity."""
    total = max(len(viewers), round(len(viewers) * config.sessions_per_viewer))
    counts = [1] * len(viewers)
    extra = rng.choices(
        range(len(viewers)), weights=[v.activity for v in viewers], k=total - len(viewers)
    )
    for index in extra:
        counts[index] += 1
    return counts


def _watch_window(rng: random.Random, stream: _Stream) -> tuple[int, int]:
    """(join, leave) of one session, in ms on the simulated clock, inside the stream."""
    length = stream.end_ms - stream.start_ms
    latest_join = length - min(round(LAST_JOIN_BEFORE_END_MINUTES * MINUTE_MS), length // 2)
    if rng.random() < EARLY_JOIN_SHARE:
        offset = rng.uniform(0, min(EARLY_JOIN_MINUTES * MINUTE_MS, latest_join))
    else:
        offset = rng.uniform(0, latest_join)
    if rng.random() < BROWSE_SHARE:
        minutes = rng.uniform(*BROWSE_MINUTES)
    else:
        minutes = rng.gammavariate(STAY_SHAPE, STAY_MEAN_MINUTES / STAY_SHAPE)
    join_ms = stream.start_ms + round(offset)
    leave_ms = min(join_ms + max(SECOND_MS, round(minutes * MINUTE_MS)), stream.end_ms)
    return join_ms, leave_ms


def _apart(
    rng: random.Random, windows: list[tuple[int, int]], end_ms: int
) -> list[tuple[int, int]]:
    """Watch windows of one viewer in one stream, moved so that they do not overlap.

    A window that starts before the previous one has ended is moved to start a few
    minutes after it, keeping its length; when the stream has no room left for that, the
    previous window is cut short instead (the viewer left and came back).
    """
    apart: list[tuple[int, int]] = []
    for join_ms, leave_ms in sorted(windows):
        if apart and join_ms <= apart[-1][1]:
            moved_join_ms = apart[-1][1] + round(rng.uniform(*REJOIN_GAP_MINUTES) * MINUTE_MS)
            if moved_join_ms < end_ms - MINUTE_MS:
                leave_ms = min(moved_join_ms + leave_ms - join_ms, end_ms)
                join_ms = moved_join_ms
            else:
                join_ms = max(join_ms, apart[-1][0] + 2 * SECOND_MS)
                leave_ms = max(leave_ms, join_ms + SECOND_MS)
                apart[-1] = (apart[-1][0], join_ms - SECOND_MS)
        apart.append((join_ms, leave_ms))
    return apart


def _viewer_sessions(
    rng: random.Random, factory: _EventFactory, viewer: _Viewer, visits: list[_Stream]
) -> list[_Session]:
    """The sessions of one viewer; repeated visits to one stream do not overlap."""
    sessions = []
    for stream in dict.fromkeys(visits):
        windows = [_watch_window(rng, stream) for _ in range(visits.count(stream))]
        for join_ms, leave_ms in _apart(rng, windows, stream.end_ms):
            sessions.append(
                _Session(
                    session_id=factory.new_id(),
                    stream=stream,
                    viewer=viewer,
                    join_ms=join_ms,
                    leave_ms=leave_ms,
                    sends_leave=rng.random() >= NO_LEAVE_SHARE,
                )
            )
    return sessions


def _plan_sessions(
    rng: random.Random,
    config: SimulatorConfig,
    factory: _EventFactory,
    viewers: list[_Viewer],
    streams: list[_Stream],
) -> list[_Session]:
    sessions = []
    for viewer, count in zip(viewers, _session_counts(rng, config, viewers), strict=True):
        # Different streams first; a viewer comes back to a stream only once all were seen.
        order = rng.sample(streams, len(streams))
        visits = [order[visit % len(order)] for visit in range(count)]
        sessions.extend(_viewer_sessions(rng, factory, viewer, visits))
    return sessions


def _arrivals(rng: random.Random, per_minute: float, start_ms: int, end_ms: int) -> list[int]:
    """Times of a Poisson process of the given rate strictly between start and end."""
    times: list[int] = []
    if per_minute <= 0:
        return times
    at = float(start_ms)
    while True:
        at += rng.expovariate(per_minute / MINUTE_MS)
        if round(at) >= end_ms:
            return times
        if round(at) > start_ms:
            times.append(round(at))


def _product_funnel(
    rng: random.Random,
    factory: _EventFactory,
    session: _Session,
    product: _Product,
    viewed_ms: int,
    propensity: float,
) -> list[tuple[int, dict]]:
    """Click, add to cart, then purchase or remove, each step only while the session lasts."""
    events: list[tuple[int, dict]] = []
    leave_ms = session.leave_ms
    if rng.random() >= CLICK_PROBABILITY[0] + CLICK_PROBABILITY[1] * propensity:
        return events
    clicked_ms = viewed_ms + SECOND_MS + round(rng.expovariate(1 / CLICK_DELAY_MEAN_MS))
    if clicked_ms >= leave_ms:
        return events
    events.append(
        factory.session_event("product_click", clicked_ms, session, product_id=product.product_id)
    )

    if rng.random() >= CART_PROBABILITY[0] + CART_PROBABILITY[1] * propensity:
        return events
    carted_ms = clicked_ms + SECOND_MS + round(rng.gammavariate(2.0, CART_DELAY_MEAN_MS / 2.0))
    if carted_ms >= leave_ms:
        return events
    quantity = _weighted_choice(rng, QUANTITY_WEIGHTS)
    line = {"product_id": product.product_id, "price": product.price, "quantity": quantity}
    events.append(factory.session_event("add_to_cart", carted_ms, session, **line))

    lag_ms = round(rng.gammavariate(PURCHASE_LAG_SHAPE, PURCHASE_LAG_MEAN_MS / PURCHASE_LAG_SHAPE))
    purchased_ms = max(clicked_ms + lag_ms, carted_ms + SECOND_MS)
    buys = rng.random() < BUY_PROBABILITY[0] + BUY_PROBABILITY[1] * propensity
    if buys and purchased_ms < leave_ms:
        order = {"order_id": factory.new_id(), **line}
        events.append(factory.session_event("purchase", purchased_ms, session, **order))
    elif rng.random() < REMOVE_SHARE and carted_ms + SECOND_MS < leave_ms:
        removed_ms = rng.randint(carted_ms + SECOND_MS, leave_ms - 1)
        events.append(
            factory.session_event(
                "remove_from_cart", removed_ms, session, product_id=product.product_id
            )
        )
    return events


def _session_events(
    rng: random.Random, config: SimulatorConfig, factory: _EventFactory, session: _Session
) -> list[tuple[int, dict]]:
    viewer = session.viewer
    events = [factory.session_event("join", session.join_ms, session)]
    heartbeat_ms = max(1, round(config.heartbeat_seconds * SECOND_MS))
    for at_ms in range(session.join_ms + heartbeat_ms, session.leave_ms, heartbeat_ms):
        events.append(factory.session_event("heartbeat", at_ms, session))
    for event_type, per_minute in SOCIAL_PER_MINUTE.items():
        rate = per_minute * viewer.chattiness
        for at_ms in _arrivals(rng, rate, session.join_ms, session.leave_ms):
            events.append(factory.session_event(event_type, at_ms, session))

    propensity = min(1.0, viewer.propensity * DEVICE_BUYING_FACTOR[viewer.device_type])
    views_per_minute = VIEWS_PER_MINUTE[0] + VIEWS_PER_MINUTE[1] * propensity
    seen: set[str] = set()
    for viewed_ms in _arrivals(rng, views_per_minute, session.join_ms, session.leave_ms):
        product = rng.choice(session.stream.products)
        events.append(
            factory.session_event("view_product", viewed_ms, session, product_id=product.product_id)
        )
        if product.product_id not in seen:
            # A second look at a product does not start its funnel again.
            seen.add(product.product_id)
            events.extend(_product_funnel(rng, factory, session, product, viewed_ms, propensity))

    if session.sends_leave:
        events.append(factory.session_event("leave", session.leave_ms, session))
    return events


def _send_order(
    rng: random.Random, config: SimulatorConfig, timed: list[tuple[int, dict]]
) -> list[dict]:
    """Events by time, with duplicates right after their original and late events moved."""
    late_max_ms = round(config.late_max_seconds * SECOND_MS)
    keyed = []
    for sequence, (at_ms, event) in enumerate(sorted(timed, key=lambda item: item[0])):
        send_ms = at_ms
        if late_max_ms >= 1 and rng.random() < config.late_ratio:
            send_ms += rng.randint(1, late_max_ms)
        keyed.append((send_ms, sequence, 0, event))
        if rng.random() < config.duplicate_ratio:
            keyed.append((send_ms, sequence, 1, dict(event)))
    keyed.sort(key=lambda item: item[:3])
    return [event for *_, event in keyed]


def generate_events(config: SimulatorConfig, start_time: datetime) -> list[dict[str, Any]]:
    """All events of the simulation, in send order.

    start_time (timezone-aware) is when the first stream starts on the simulated clock.
    Each event is a dict with every field of lakehouse.contract.FIELDS (None where the
    field does not apply). The model follows `config.seed`; event, session and order ids
    follow the seed and start_time, so that two runs started at different times can share
    a topic without their events being taken for duplicates.
    """
    if start_time.tzinfo is None:
        raise ValueError("start_time must be timezone-aware")
    rng = random.Random(config.seed)
    factory = _EventFactory(start_time, id_seed=f"{config.seed}/{format_time(start_time)}")

    streams = _streams(rng, config, start_time, _catalog())
    sessions = _plan_sessions(rng, config, factory, _viewers(config.viewers), streams)
    timed = []
    for stream in streams:
        timed.append(factory.stream_event("stream_start", stream.start_ms, stream))
        timed.append(factory.stream_event("stream_end", stream.end_ms, stream))
    for session in sessions:
        timed.extend(_session_events(rng, config, factory, session))
    events = _send_order(rng, config, timed)

    logger.info(
        "simulated %d events: %d streams, %d sessions, %d viewers, seed %d",
        len(events),
        len(streams),
        len(sessions),
        config.viewers,
        config.seed,
    )
    return events
