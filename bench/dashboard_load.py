"""Dashboard data-load time: how long each page takes to read and shape its data.

Input:  nothing; it builds its own tables. build_gold() writes a simulated lakehouse of
        --sessions sessions under --root (a temporary folder by default): the gold tables
        the pages read (fct_sessions, kpis, streams, viewers_per_minute,
        predicted_conversions, rfm_analysis, customer_segments_named, data_quality), the
        silver table they read (quarantine) and the streaming progress files. No page reads
        silver/events, so it is not written; its planned events only place the quarantine.
Output: JSON on stdout: the tables built (rows, files, commits, bytes) and, per page (Live,
        Retarget, Segments, Pipeline health), the seconds from nothing to the frames it draws:
        cold (the first load in a fresh process) and warm (the median of --repeats more),
        each step's seconds and the rows read per table.

The tables are written the way the Spark pipeline leaves them after --hours of running
(docs/tables.md, lakehouse/pipeline.py): Spark's column names and types, Parquet files as
the pipeline's Spark writes them (microsecond timestamps, decimals as integers, snappy),
Spark's file statistics in the Delta log (min/max truncated as Spark does, none for
booleans), a checkpoint every 10 commits, and --commits commits per table. MERGE-written
tables (fct_sessions, streams, viewers_per_minute, predicted_conversions) get each row in
the commit of the time it was last updated; kpis and rfm_analysis are overwritten --commits
times; the appended ones (silver/quarantine, gold/data_quality) get one append per time
slice. Files per commit follow the pipeline's parallelism: 2 (spark.sql.shuffle.partitions)
for gold, one per Kafka partition (3) for silver/quarantine.

Each page is timed in a fresh process with the undecorated loaders of dashboard/data.py and
dashboard/health.py (no st.cache_data) plus the pure shaping the page does before drawing,
in the order dashboard/views/*.py call them. The Model page reads MLflow and is left out.

Run:  .venv/bin/python -m bench.dashboard_load --sessions 1000000
      .venv/bin/python -m bench.dashboard_load --sessions 50000 --root /tmp/lake
      .venv/bin/python -m bench.dashboard_load --root /tmp/lake --skip-build
"""

from __future__ import annotations

import argparse
import binascii
import json
import logging
import os
import platform
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable, Schema
from deltalake.transaction import AddAction, create_table_with_add_actions
from pyspark.sql.pandas.types import to_arrow_schema

from dashboard import data, health
from lakehouse import config, progress
from lakehouse.contract import DEVICE_TYPES
from lakehouse.producers.simulator import DEVICE_WEIGHTS, QUANTITY_WEIGHTS, STATE_WEIGHTS
from lakehouse.quality import RESULT_SCHEMA
from lakehouse.segments import SCORED_COLUMNS

log = logging.getLogger(__name__)

# --- the scenario -------------------------------------------------------------------------

DATA_CLOCK = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
DEFAULT_HOURS = 20.0
DEFAULT_COMMITS = 40
SESSIONS_PER_VIEWER = 5
SESSIONS_PER_STREAM = 2500
STREAM_MINUTES = 90.0
# The newest stream started this long before the data clock.
NEWEST_STREAM_AGE_MINUTES = 20.0
# Share of sessions scored in gold/predicted_conversions: None scores the open ones only.
DEFAULT_SCORED_SHARE = None
# Share of the messages silver quarantines, by reason (the simulator's duplicate_ratio).
QUARANTINE_SHARES = {"duplicate_event": 0.01, "late_event": 0.0005, "malformed_json": 0.0001}
# One silver and one gold micro-batch a minute: the pace bench/soak.py measured here.
BATCHES_PER_HOUR = 60
QUALITY_FAILURE_SHARE = 0.005
MODEL_VERSION = "3"
SEGMENT_NAMES = (
    "High-Value Loyal",
    "Big Spenders",
    "Frequent Low-Spend",
    "New & Promising",
    "Low-Value Infrequent",
)

# Spark's parallelism in the pipeline: files one commit writes.
GOLD_FILES_PER_COMMIT = 2
SILVER_FILES_PER_COMMIT = 3
KAFKA_PARTITIONS = 3
CHECKPOINT_INTERVAL = 10
# Spark's Delta writer truncates string statistics to this many characters.
STATS_STRING_PREFIX = 32

MICROS = 1_000_000
MINUTE_US = 60 * MICROS
DAY_US = 86_400 * MICROS

TIMESTAMP = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 2)

# Mirrors of dashboard/views/*.py constants: the views run Streamlit at import.
TOP_SESSIONS = 10
ALL_STREAMS_CHART_MINUTES = 6 * 60
RETARGET_SHOWN = 20

PAGES = ("live", "retarget", "segments", "health")


@dataclass(frozen=True)
class Scenario:
    """What build_gold() simulates: who watched which stream when, and for how long."""

    sessions: int
    seed: int
    hours: float = DEFAULT_HOURS
    commits: int = DEFAULT_COMMITS
    scored_share: float | None = DEFAULT_SCORED_SHARE

    @property
    def viewers(self) -> int:
        return max(1, self.sessions // SESSIONS_PER_VIEWER)

    @property
    def streams(self) -> int:
        return max(2, self.sessions // SESSIONS_PER_STREAM)

    @property
    def clock_us(self) -> int:
        return int(DATA_CLOCK.timestamp()) * MICROS

    @property
    def start_us(self) -> int:
        return self.clock_us - int(self.hours * 3600 * MICROS)


# --- writing Delta tables the way Spark does -----------------------------------------------


def _stat_value(value: Any, arrow_type: pa.DataType) -> Any:
    """A min or max as Spark's Delta writer puts it in the log's stats JSON.

    Timestamps come as microseconds and are cut to milliseconds.
    """
    if pa.types.is_timestamp(arrow_type):
        stamp = datetime.fromtimestamp(value // 1000 / 1000, tz=UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
    if pa.types.is_date(arrow_type):
        return value.isoformat()
    if pa.types.is_decimal(arrow_type):
        return float(value)
    return value


def spark_stats(table: pa.Table) -> str:
    """numRecords, minValues, maxValues and nullCount as Spark writes them for one file.

    Like Spark: no min/max for booleans and lists, strings cut to 32 characters (a cut
    maximum gets a DEL appended so it stays an upper bound), timestamps to milliseconds.
    """
    minimum: dict[str, Any] = {}
    maximum: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for field, column in zip(table.schema, table.columns, strict=True):
        nulls[field.name] = column.null_count
        if column.null_count == len(column) or not (
            pa.types.is_integer(field.type)
            or pa.types.is_floating(field.type)
            or pa.types.is_decimal(field.type)
            or pa.types.is_string(field.type)
            or pa.types.is_timestamp(field.type)
            or pa.types.is_date(field.type)
        ):
            continue
        low, high = pc.min_max(column).values()
        low, high = low.as_py(), high.as_py()
        if pa.types.is_string(field.type):
            if len(high) > STATS_STRING_PREFIX:
                high = high[:STATS_STRING_PREFIX] + "\x7f"
            low = low[:STATS_STRING_PREFIX]
        elif pa.types.is_timestamp(field.type):
            low, high = pc.min_max(column.cast(pa.int64())).values()
            low, high = low.as_py(), high.as_py()
        minimum[field.name] = _stat_value(low, field.type)
        maximum[field.name] = _stat_value(high, field.type)
    return json.dumps(
        {
            "numRecords": table.num_rows,
            "minValues": minimum,
            "maxValues": maximum,
            "nullCount": nulls,
        }
    )


def _write_parquet(table: pa.Table, path: Path) -> None:
    """One data file as the pipeline's Spark writes it (conf/spark-defaults.conf).

    Timestamps as 64-bit microseconds, decimals as integers, snappy.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table,
        path,
        compression="snappy",
        coerce_timestamps="us",
        store_decimal_as_integer=True,
        store_schema=False,
    )


class DeltaWriter:
    """Commits files to one Delta table as the Spark pipeline's writes would.

    Every commit writes up to `files_per_commit` files per partition value: the rows of one
    Spark task each, taken from `task_column` (e.g. the Kafka partition) or at random, as a
    hash repartition does. A checkpoint follows every CHECKPOINT_INTERVAL commits.
    """

    def __init__(
        self,
        path: Path,
        schema: pa.Schema,
        files_per_commit: int,
        partition_by: str | None = None,
        task_column: str | None = None,
        seed: int = 0,
    ) -> None:
        self.path = path
        self.schema = schema
        self.files_per_commit = files_per_commit
        self.partition_by = partition_by
        self.task_column = task_column
        self.rng = np.random.default_rng(seed)
        self.commits = 0

    def _files(self, rows: pa.Table) -> Iterator[tuple[dict[str, str | None], pa.Table]]:
        if self.task_column is None:
            task = self.rng.integers(0, self.files_per_commit, rows.num_rows)
        else:
            task = rows.column(self.task_column).to_numpy() % self.files_per_commit
        if self.partition_by is None:
            values, group = [None], np.zeros(rows.num_rows, dtype=np.int64)
        else:
            encoded = rows.column(self.partition_by).combine_chunks().dictionary_encode()
            values = encoded.dictionary.to_pylist()
            group = encoded.indices.to_numpy().astype(np.int64)
            rows = rows.drop_columns([self.partition_by])
        key = group * self.files_per_commit + task
        order = np.argsort(key, kind="stable")
        rows = rows.take(pa.array(order))
        bounds = np.searchsorted(key[order], np.arange(len(values) * self.files_per_commit + 1))
        for number in range(len(values) * self.files_per_commit):
            if bounds[number + 1] > bounds[number]:
                value = values[number // self.files_per_commit]
                partition = {} if value is None else {self.partition_by: value.isoformat()}
                yield partition, rows.slice(bounds[number], bounds[number + 1] - bounds[number])

    def commit(self, rows: pa.Table, mode: str = "append") -> None:
        """Write `rows` (in self.schema) as one commit: an append or an overwrite."""
        rows = rows.select(self.schema.names).cast(self.schema)

        def write(numbered_piece: tuple[int, tuple[dict[str, str | None], pa.Table]]) -> AddAction:
            number, (partition, piece) = numbered_piece
            folder = "".join(f"{key}={value}/" for key, value in partition.items())
            name = f"{folder}part-{number:05d}-{uuid.uuid4()}.c000.snappy.parquet"
            _write_parquet(piece, self.path / name)
            return AddAction(
                path=name,
                size=(self.path / name).stat().st_size,
                partition_values=partition,
                modification_time=int(time.time() * 1000),
                data_change=True,
                stats=spark_stats(piece),
            )

        # Like Spark's tasks, the files of one commit are written side by side.
        with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
            actions = list(pool.map(write, enumerate(self._files(rows))))
        partition_by = [self.partition_by] if self.partition_by else None
        if self.commits == 0:
            create_table_with_add_actions(
                str(self.path), Schema.from_arrow(self.schema), actions, partition_by=partition_by
            )
        else:
            table = DeltaTable(str(self.path))
            table.create_write_transaction(
                actions, mode, Schema.from_arrow(self.schema), partition_by=partition_by
            )
            if table.version() % CHECKPOINT_INTERVAL == CHECKPOINT_INTERVAL - 1:
                DeltaTable(str(self.path)).create_checkpoint()
        self.commits += 1


def commit_in_slices(
    writer: DeltaWriter, rows: pa.Table, slice_of_row: np.ndarray, slices: int
) -> None:
    """Append `rows` in `slices` commits, one per slice of `slice_of_row`; empty ones skipped."""
    order = np.argsort(slice_of_row, kind="stable")
    bounds = np.searchsorted(slice_of_row[order], np.arange(slices + 1))
    for number in range(slices):
        taken = order[bounds[number] : bounds[number + 1]]
        if len(taken):
            writer.commit(rows.take(pa.array(taken)))


# --- column helpers -----------------------------------------------------------------------

# (start, end) of the hex digit groups of a UUID's text, and where each starts among the 32.
_UUID_GROUPS = ((0, 8, 0), (9, 13, 8), (14, 18, 12), (19, 23, 16), (24, 36, 20))


def uuid_strings(rng: np.random.Generator, count: int) -> pa.Array:
    """`count` random version-4-looking UUIDs as a string array, built without Python loops."""
    digits = np.frombuffer(binascii.hexlify(rng.bytes(16 * count)), dtype=np.uint8)
    digits = digits.reshape(count, 32)
    text = np.full((count, 36), ord("-"), dtype=np.uint8)
    for start, end, first in _UUID_GROUPS:
        text[:, start:end] = digits[:, first : first + end - start]
    text[:, 14] = ord("4")
    offsets = np.arange(0, 36 * (count + 1), 36, dtype=np.int64)
    strings = pa.Array.from_buffers(
        pa.large_string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(text.tobytes())]
    )
    return strings.cast(pa.string())


def numbered(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    return pa.array([f"{prefix}{number:0{width}d}" for number in numbers.tolist()], pa.string())


def timestamps(micros: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else ~valid
    return pa.array(micros.astype(np.int64), TIMESTAMP, mask=mask)


def decimals(
    cents: np.ndarray, arrow_type: pa.DataType, valid: np.ndarray | None = None
) -> pa.Array:
    """Integer hundredths as a decimal128 array (little-endian 128-bit unscaled values)."""
    cents = cents.astype(np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = np.where(cents < 0, -1, 0)
    validity = None
    if valid is not None:
        validity = pa.array(valid).buffers()[1]
    return pa.Array.from_buffers(
        arrow_type, len(cents), [validity, pa.py_buffer(words.tobytes())], null_count=-1
    )


def choose_strings(values: Sequence[str], indices: np.ndarray, valid: np.ndarray | None = None):
    chosen = pa.array(values, pa.string()).take(pa.array(indices))
    if valid is None:
        return chosen
    return pc.if_else(pa.array(valid), chosen, pa.scalar(None, pa.string()))


def _weighted(rng: np.random.Generator, weights: Mapping[Any, float], count: int) -> np.ndarray:
    shares = np.array(list(weights.values()), dtype=float)
    return rng.choice(len(shares), size=count, p=shares / shares.sum())


def _slice_of(micros: np.ndarray, scenario: Scenario) -> np.ndarray:
    """The commit (0 .. commits-1) whose time slice holds each moment."""
    span = scenario.clock_us - scenario.start_us
    slices = (micros - scenario.start_us) * scenario.commits // span
    return np.clip(slices, 0, scenario.commits - 1).astype(np.int64)


# --- the simulation -------------------------------------------------------------------------


@dataclass
class Simulation:
    """Per-stream, per-viewer and per-session arrays; index -1 means none."""

    scenario: Scenario
    stream_ids: list[str]
    stream_start: np.ndarray
    stream_end: np.ndarray  # the actual end, or -1 while live
    stream_scheduled_end: np.ndarray
    viewer_ids: pa.Array
    viewer_device: np.ndarray
    viewer_state: np.ndarray
    session_ids: pa.Array
    stream: np.ndarray
    viewer: np.ndarray
    started: np.ndarray
    last_event: np.ndarray
    left: np.ndarray  # -1 when no leave
    ended: np.ndarray  # -1 while open
    closed: np.ndarray
    counts: dict[str, np.ndarray]
    units: np.ndarray
    revenue_cents: np.ndarray
    lags: pa.Array
    updated: np.ndarray
    purchases: dict[str, np.ndarray]  # per purchase event: session, time, product, price, qty
    catalogue_cents: np.ndarray  # the price of each of the 40 products


def _stream_schedule(scenario: Scenario, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    newest = scenario.clock_us - int(NEWEST_STREAM_AGE_MINUTES * MINUTE_US)
    gap = (newest - scenario.start_us) // max(1, scenario.streams - 1)
    start = scenario.start_us + gap * np.arange(scenario.streams, dtype=np.int64)
    scheduled = start + int(STREAM_MINUTES * MINUTE_US)
    end = scheduled + rng.integers(0, 3 * MINUTE_US, scenario.streams)
    end = np.where(end <= scenario.clock_us, end, -1)
    return start, scheduled, end


def _poisson(rng: np.random.Generator, rate: np.ndarray) -> np.ndarray:
    return rng.poisson(np.maximum(rate, 0.0)).astype(np.int64)


def simulate(scenario: Scenario) -> Simulation:
    """Sessions with the simulator's shape (lakehouse/producers/simulator.py, docs/replay.md).

    A heartbeat a minute, likes, comments, the product funnel; a quarter short browses, 5 %
    without a leave; sessions of the streams still live at the data clock are open. It gives
    about 68 events and 0.86 purchases a session, a little more than the simulator's
    defaults (59 and 0.72).
    """
    rng = np.random.default_rng(scenario.seed)
    n, clock = scenario.sessions, scenario.clock_us
    stream_start, scheduled_end, stream_end = _stream_schedule(scenario, rng)
    stream_ids = [
        f"live-{datetime.fromtimestamp(start / MICROS, tz=UTC):%Y%m%d-%H%M}-{number + 1}"
        for number, start in enumerate(stream_start.tolist())
    ]

    popularity = rng.lognormal(0.0, 0.5, scenario.streams)
    per_stream = rng.multinomial(n, popularity / popularity.sum())
    stream = np.repeat(np.arange(scenario.streams), per_stream)

    viewers = scenario.viewers
    activity = rng.lognormal(0.0, 1.0, viewers)
    viewer = rng.choice(viewers, size=n, p=activity / activity.sum())
    viewer[rng.permutation(n)[: min(n, viewers)]] = np.arange(min(n, viewers))
    viewer_device = _weighted(rng, DEVICE_WEIGHTS, viewers)
    viewer_state = _weighted(rng, STATE_WEIGHTS, viewers)
    chattiness = rng.lognormal(0.0, 0.6, viewers)
    propensity = rng.lognormal(0.0, 0.6, viewers) / np.exp(0.18)

    start = stream_start[stream]
    actual_end = np.where(stream_end[stream] >= 0, stream_end[stream], scheduled_end[stream])
    window = np.minimum(75 * MINUTE_US, clock - start - MINUTE_US)
    early = rng.random(n) < 0.30
    window = np.where(early, np.minimum(window, 10 * MINUTE_US), window)
    started = start + (rng.random(n) * window).astype(np.int64)
    browse = rng.random(n) < 0.25
    minutes = np.where(browse, rng.uniform(1.0, 15.0, n), rng.gamma(10.0, 7.2, n))
    leave = np.minimum(started + (minutes * MINUTE_US).astype(np.int64), actual_end)
    vanished = rng.random(n) < 0.05

    gone = leave <= clock
    heartbeat_before_clock = started + (clock - started) // MINUTE_US * MINUTE_US
    last_event = np.where(gone, leave, heartbeat_before_clock)
    left = np.where(gone & ~vanished, leave, -1)
    timed_out = gone & vanished & (last_event <= clock - 30 * MINUTE_US)
    closed = (left >= 0) | timed_out
    ended = np.where(left >= 0, left, np.where(timed_out, last_event, -1))

    watched = (last_event - started) / MINUTE_US
    chat = chattiness[viewer] * watched
    views = _poisson(rng, 0.16 * propensity[viewer] * watched)
    clicks = rng.binomial(views, 0.39)
    carts = rng.binomial(clicks, 0.55)
    buying = np.array([0.6, 0.66, 0.55, 0.35])[viewer_device[viewer]]
    purchases = rng.binomial(carts, buying)
    counts = {
        "heartbeats": np.floor(watched).astype(np.int64),
        "product_views": views,
        "likes": _poisson(rng, 0.20 * chat),
        "comments": _poisson(rng, 0.05 * chat),
        "shares": _poisson(rng, 0.01 * chat),
        "product_clicks": clicks,
        "cart_adds": carts,
        "cart_removes": rng.binomial(carts - purchases, 0.33),
        "purchases": purchases,
    }

    # Purchases one by one: their product, price and quantity make the session's revenue.
    buyer = np.repeat(np.arange(n), purchases)
    bought = len(buyer)
    catalogue_cents = rng.integers(5, 200, 40) * 100 - 1
    product = (stream[buyer] * 3 + rng.integers(0, 8, bought)) % 40
    quantity = np.array(list(QUANTITY_WEIGHTS))[_weighted(rng, QUANTITY_WEIGHTS, bought)]
    price = catalogue_cents[product]
    purchase_time = started[buyer] + (rng.random(bought) * (last_event - started)[buyer]).astype(
        np.int64
    )
    units = np.bincount(buyer, weights=quantity, minlength=n).astype(np.int64)
    revenue = np.rint(np.bincount(buyer, weights=price * quantity, minlength=n)).astype(np.int64)
    lag_seconds = rng.gamma(3.0, 360.0, bought)
    order = np.lexsort((lag_seconds, buyer))
    offsets = np.concatenate([[0], np.cumsum(purchases)]).astype(np.int32)
    lags = pa.ListArray.from_arrays(pa.array(offsets), pa.array(lag_seconds[order]))

    # silver rebuilds a session at its last event; a timed-out one when the clock passes.
    updated = np.where(timed_out, last_event + 30 * MINUTE_US, last_event)
    updated = np.minimum(updated + rng.integers(10, 70, n) * MICROS, clock + 60 * MICROS)

    return Simulation(
        scenario=scenario,
        stream_ids=stream_ids,
        stream_start=stream_start,
        stream_end=stream_end,
        stream_scheduled_end=scheduled_end,
        viewer_ids=numbered("viewer-", np.arange(viewers), 7),
        viewer_device=viewer_device,
        viewer_state=viewer_state,
        session_ids=uuid_strings(rng, n),
        stream=stream,
        viewer=viewer,
        started=started,
        last_event=last_event,
        left=left,
        ended=ended,
        closed=closed,
        counts=counts,
        units=units,
        revenue_cents=revenue,
        lags=lags,
        updated=updated,
        purchases={
            "session": buyer,
            "time": purchase_time,
            "product": product,
            "price": price,
            "quantity": quantity,
        },
        catalogue_cents=catalogue_cents,
    )


# --- the tables -------------------------------------------------------------------------------


def _engagement(sim: Simulation) -> np.ndarray:
    # lakehouse.sessions imports pyspark: only the build needs it, not the timed loaders.
    from lakehouse.sessions import COUNTED_TYPES

    column_of = {event_type: column for column, event_type in COUNTED_TYPES.items()}
    weights = config.load_settings().engagement_weights
    score = np.zeros(sim.scenario.sessions)
    for event_type, weight in sorted(weights.items()):
        score = score + weight * sim.counts[column_of[event_type]]
    return score


def _mid_points(sim: Simulation) -> np.ndarray:
    end = np.where(sim.stream_end >= 0, sim.stream_end, sim.stream_scheduled_end)
    return sim.stream_start + (end - sim.stream_start) // 2


def session_columns(sim: Simulation) -> dict[str, pa.Array]:
    """Per-session columns shared by fct_sessions and predicted_conversions."""
    return {
        "stream_id": choose_strings(sim.stream_ids, sim.stream),
        "session_id": sim.session_ids,
        "viewer_id": sim.viewer_ids.take(pa.array(sim.viewer)),
        "device_type": choose_strings(DEVICE_TYPES, sim.viewer_device[sim.viewer]),
        "viewer_state": choose_strings(list(STATE_WEIGHTS), sim.viewer_state[sim.viewer]),
    }


def fct_sessions(sim: Simulation, engagement: np.ndarray) -> pa.Table:
    """gold/fct_sessions: silver/sessions plus the session metrics (lakehouse/gold.py)."""
    mid = _mid_points(sim)[sim.stream]
    ended = sim.ended >= 0
    started_before_mid = sim.started < mid
    ended_before_mid = ended & (sim.ended < mid)
    events = 1 + (sim.left >= 0) + sum(sim.counts.values())
    columns: dict[str, pa.Array] = {
        **session_columns(sim),
        "started_at": timestamps(sim.started),
        "last_event_at": timestamps(sim.last_event),
        "left_at": timestamps(sim.left, sim.left >= 0),
        "ended_at": timestamps(sim.ended, ended),
        "is_closed": pa.array(sim.closed),
        "events": pa.array(events.astype(np.int64)),
        **{name: pa.array(values) for name, values in sim.counts.items()},
        "units": pa.array(sim.units),
        "revenue": decimals(sim.revenue_cents, MONEY),
        "click_to_purchase_lags": sim.lags,
        "updated_at": timestamps(sim.updated),
        "duration_seconds": pa.array((sim.ended - sim.started) / MICROS, mask=~ended),
        "converted": pa.array(sim.counts["purchases"] > 0),
        "started_before_mid": pa.array(started_before_mid),
        "dropped_off": pa.array(ended_before_mid, mask=~started_before_mid),
        "engagement_score": pa.array(engagement),
    }
    return pa.table(columns)


def streams_table(sim: Simulation) -> pa.Table:
    live = sim.stream_end < 0
    return pa.table(
        {
            "stream_id": pa.array(sim.stream_ids, pa.string()),
            "started_at": timestamps(sim.stream_start),
            "scheduled_end": timestamps(sim.stream_scheduled_end),
            "ended_at": timestamps(sim.stream_end, ~live),
            "mid_point": timestamps(_mid_points(sim)),
            "is_live": pa.array(live),
        }
    )


def viewers_per_minute(sim: Simulation) -> tuple[pa.Table, np.ndarray]:
    """Viewers active, purchases and revenue in each minute of each stream; each row's minute.

    A purchase falls inside its session, so its minute always has a row.
    """
    start = sim.scenario.start_us
    first = (sim.started - start) // MINUTE_US
    last = (sim.last_event - start) // MINUTE_US
    minutes = int(last.max()) + 2
    active = np.zeros((sim.scenario.streams, minutes), dtype=np.int64)
    np.add.at(active, (sim.stream, first), 1)
    np.add.at(active, (sim.stream, last + 1), -1)
    active = np.cumsum(active, axis=1)
    buys = sim.purchases
    bought_in = (sim.stream[buys["session"]], (buys["time"] - start) // MINUTE_US)
    purchases = np.zeros_like(active)
    np.add.at(purchases, bought_in, 1)
    revenue_cents = np.zeros_like(active)
    np.add.at(revenue_cents, bought_in, buys["price"] * buys["quantity"])
    stream, minute = np.nonzero(active)
    micros = start + minute * MINUTE_US
    table = pa.table(
        {
            "stream_id": choose_strings(sim.stream_ids, stream),
            "minute": timestamps(micros),
            "active_viewers": pa.array(active[stream, minute]),
            "purchases": pa.array(purchases[stream, minute]),
            "revenue": decimals(revenue_cents[stream, minute], MONEY),
        }
    )
    return table, micros


def _lag_stats(lags: pa.Array) -> tuple[float | None, float | None]:
    values = lags.flatten().to_numpy()
    if not len(values):
        return None, None
    return float(values.mean()), float(np.percentile(values, 50))


def kpis(sim: Simulation, engagement: np.ndarray) -> pa.Table:
    """gold/kpis: one row for all streams and one per stream (lakehouse/gold.py kpis())."""
    frame = pd.DataFrame(
        {
            "stream": sim.stream,
            "viewer": sim.viewer,
            "converted": sim.counts["purchases"] > 0,
            "closed_duration": np.where(sim.closed, (sim.ended - sim.started) / MICROS, np.nan),
            "engagement": engagement,
            "purchases": sim.counts["purchases"],
            "revenue": sim.revenue_cents,
            "events": 1 + (sim.left >= 0) + sum(sim.counts.values()),
        }
    )
    mid = _mid_points(sim)[sim.stream]
    eligible = sim.started < mid
    frame["dropped"] = np.where(eligible, (sim.ended >= 0) & (sim.ended < mid), np.nan)
    rows = []
    scopes = [("all", frame, sim.lags)] + [
        (sim.stream_ids[number], group, sim.lags.take(pa.array(group.index.to_numpy())))
        for number, group in frame.groupby("stream")
    ]
    for scope, group, lags in scopes:
        lag_mean, lag_median = _lag_stats(lags)
        rows.append(
            {
                "scope": scope,
                "total_sessions": len(group),
                "unique_viewers": group["viewer"].nunique(),
                "converted_sessions": int(group["converted"].sum()),
                "conversion_rate": float(group["converted"].mean()),
                "drop_off_rate": float(group["dropped"].mean())
                if group["dropped"].notna().any()
                else None,
                "avg_session_duration_seconds": float(group["closed_duration"].mean())
                if group["closed_duration"].notna().any()
                else None,
                "click_to_purchase_lag_mean_seconds": lag_mean,
                "click_to_purchase_lag_median_seconds": lag_median,
                "avg_engagement_score": float(group["engagement"].mean()),
                "purchases": int(group["purchases"].sum()),
                "revenue": int(group["revenue"].sum()),
                "events": int(group["events"].sum()),
            }
        )
    table = pd.DataFrame(rows)
    clock = sim.scenario.clock_us
    columns = {name: pa.array(table[name].tolist()) for name in table.columns}
    columns["revenue"] = decimals(table["revenue"].to_numpy(), MONEY)
    columns["as_of"] = timestamps(np.full(len(table), clock))
    columns["computed_at"] = timestamps(np.full(len(table), clock + 40 * MICROS))
    return pa.table(columns)


def _quintile_scores(values: np.ndarray, descending: bool = False) -> np.ndarray:
    """ceil(5 x cume_dist) in the given order, ties sharing the higher score (gold._score)."""
    ordered = np.sort(values)
    if descending:
        at_or_before = len(values) - np.searchsorted(ordered, values, side="left")
    else:
        at_or_before = np.searchsorted(ordered, values, side="right")
    return np.ceil(5 * (at_or_before / len(values))).astype(np.int32)


def rfm(sim: Simulation) -> tuple[pa.Table, pd.DataFrame]:
    """gold/rfm_analysis: recency, frequency, monetary and their scores per viewer."""
    viewers = sim.scenario.viewers
    last_start = np.full(viewers, np.iinfo(np.int64).min)
    np.maximum.at(last_start, sim.viewer, sim.started)
    frequency = np.bincount(sim.viewer, minlength=viewers).astype(np.int64)
    monetary = np.bincount(sim.viewer, weights=sim.revenue_cents, minlength=viewers)
    monetary = np.rint(monetary).astype(np.int64)
    as_of = sim.scenario.clock_us
    recency = ((as_of - last_start) // DAY_US).astype(np.int32)
    scores = pd.DataFrame(
        {
            "r": _quintile_scores(recency, descending=True),
            "f": _quintile_scores(frequency),
            "m": _quintile_scores(monetary),
        }
    )
    rfm_score = (scores["r"] * 100 + scores["f"] * 10 + scores["m"]).astype(str)
    table = pa.table(
        {
            "viewer_id": sim.viewer_ids,
            "last_session_start": timestamps(last_start),
            "recency_days": pa.array(recency),
            "frequency": pa.array(frequency),
            "monetary": decimals(monetary, MONEY),
            "r_score": pa.array(scores["r"].to_numpy()),
            "f_score": pa.array(scores["f"].to_numpy()),
            "m_score": pa.array(scores["m"].to_numpy()),
            "rfm_score": pa.array(rfm_score.tolist(), pa.string()),
            "as_of": timestamps(np.full(viewers, as_of)),
        }
    )
    return table, scores


def named_segments(rfm_table: pa.Table, scores: pd.DataFrame) -> pa.Table:
    """gold/customer_segments_named: the RFM figures, a cluster and its segment name."""
    cluster = np.select(
        [
            (scores["f"] >= 4) & (scores["m"] >= 4),
            scores["m"] >= 4,
            scores["f"] >= 4,
            scores["r"] >= 4,
        ],
        [0, 1, 2, 3],
        default=4,
    ).astype(np.int32)
    return pa.table(
        {
            **{name: rfm_table.column(name) for name in SCORED_COLUMNS if name != "cluster"},
            "cluster": pa.array(cluster),
            "segment_name": choose_strings(SEGMENT_NAMES, cluster),
        }
    )


def predicted_conversions(
    sim: Simulation, engagement: np.ndarray, rng: np.random.Generator
) -> tuple[pa.Table, np.ndarray]:
    """gold/predicted_conversions: the open sessions, plus closed ones up to scored_share.

    A closed session keeps the score of the last batch it was open in. Returns the table and
    each row's as_of.
    """
    scenario = sim.scenario
    scored = ~sim.closed
    if scenario.scored_share is not None:
        wanted = int(scenario.scored_share * scenario.sessions) - int(scored.sum())
        if wanted > 0:
            recent_closed = np.flatnonzero(sim.closed)[np.argsort(-sim.last_event[sim.closed])]
            scored[recent_closed[:wanted]] = True
    rows = np.flatnonzero(scored)
    as_of = np.where(
        sim.closed[rows],
        sim.last_event[rows] // MINUTE_US * MINUTE_US,
        scenario.clock_us,
    )
    bought = sim.counts["purchases"][rows] > 0
    probability = np.where(bought, 1.0, rng.beta(1.2, 6.0, len(rows)))
    churn = 1.0 - probability
    columns = {name: values.take(pa.array(rows)) for name, values in session_columns(sim).items()}
    table = pa.table(
        {
            "session_id": columns["session_id"],
            "stream_id": columns["stream_id"],
            "viewer_id": columns["viewer_id"],
            "device_type": columns["device_type"],
            "viewer_state": columns["viewer_state"],
            "watch_seconds": pa.array((as_of + 1 - sim.started[rows]) / MICROS),
            "engagement_score": pa.array(engagement[rows]),
            "conversion_probability": pa.array(probability),
            "churn_risk": pa.array(churn),
            "high_intent": pa.array(probability >= 0.5),
            "retarget_priority": pa.array(np.where(bought, 0.0, engagement[rows] * churn)),
            "model_version": pa.array([MODEL_VERSION] * len(rows), pa.string()),
            "as_of": timestamps(as_of),
            "scored_at": timestamps(as_of + 35 * MICROS),
        }
    )
    return table, as_of


# Event types of the silver events generated per session count, and their count column.
_COUNTED_EVENTS = {
    "heartbeat": "heartbeats",
    "view_product": "product_views",
    "like": "likes",
    "comment": "comments",
    "share": "shares",
    "product_click": "product_clicks",
    "add_to_cart": "cart_adds",
    "remove_from_cart": "cart_removes",
}
_EVENT_TYPES = (
    "stream_start",
    "stream_end",
    "join",
    "leave",
    "purchase",
    *_COUNTED_EVENTS,
)
_PRODUCT_TYPES = ("view_product", "product_click", "add_to_cart", "remove_from_cart", "purchase")
_PRICED_TYPES = ("add_to_cart", "purchase")


@dataclass
class EventPlan:
    """Every silver event as (session or -1, stream, type, time, product, price, quantity)."""

    session: np.ndarray
    stream: np.ndarray
    kind: np.ndarray
    time: np.ndarray
    product: np.ndarray
    price: np.ndarray
    quantity: np.ndarray


def plan_events(sim: Simulation, rng: np.random.Generator) -> EventPlan:
    """The events behind the sessions: their counts per type, times inside each session."""
    code = {name: number for number, name in enumerate(_EVENT_TYPES)}
    span = sim.last_event - sim.started
    parts: list[dict[str, np.ndarray]] = []

    def add(session, kind, moment, product=None, price=None, quantity=None):
        size = len(session)
        parts.append(
            {
                "session": session.astype(np.int32),
                "stream": sim.stream[session].astype(np.int32),
                "kind": np.full(size, code[kind], dtype=np.int8),
                "time": moment.astype(np.int64),
                "product": np.full(size, -1, np.int16) if product is None else product,
                "price": np.full(size, -1, np.int32) if price is None else price,
                "quantity": np.full(size, -1, np.int8) if quantity is None else quantity,
            }
        )

    everyone = np.arange(sim.scenario.sessions)
    add(everyone, "join", sim.started)
    leavers = np.flatnonzero(sim.left >= 0)
    add(leavers, "leave", sim.left[leavers])
    buys = sim.purchases
    add(
        buys["session"],
        "purchase",
        buys["time"],
        buys["product"].astype(np.int16),
        buys["price"].astype(np.int32),
        buys["quantity"].astype(np.int8),
    )
    for kind, column in _COUNTED_EVENTS.items():
        count = sim.counts[column]
        session = np.repeat(everyone, count)
        if kind == "heartbeat":
            first = np.repeat(np.cumsum(count) - count, count)
            beat = np.arange(len(session)) - first + 1
            moment = sim.started[session] + beat * MINUTE_US
        else:
            moment = sim.started[session] + (rng.random(len(session)) * span[session]).astype(
                np.int64
            )
        product = price = quantity = None
        if kind in _PRODUCT_TYPES:
            product = ((sim.stream[session] * 3 + rng.integers(0, 8, len(session))) % 40).astype(
                np.int16
            )
        if kind in _PRICED_TYPES:
            price = sim.catalogue_cents[product].astype(np.int32)
            quantity = np.ones(len(session), np.int8)
        add(session, kind, moment, product, price, quantity)
    # The stream events carry no session: session -1, their stream given directly.
    ended = np.flatnonzero(sim.stream_end >= 0)
    for kind, streams, moment in (
        ("stream_start", np.arange(sim.scenario.streams), sim.stream_start),
        ("stream_end", ended, sim.stream_end[ended]),
    ):
        parts.append(
            {
                "session": np.full(len(streams), -1, np.int32),
                "stream": streams.astype(np.int32),
                "kind": np.full(len(streams), code[kind], np.int8),
                "time": moment.astype(np.int64),
                "product": np.full(len(streams), -1, np.int16),
                "price": np.full(len(streams), -1, np.int32),
                "quantity": np.full(len(streams), -1, np.int8),
            }
        )
    return EventPlan(**{key: np.concatenate([part[key] for part in parts]) for key in parts[0]})


QUARANTINE_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("key", pa.string()),
        ("raw_value", pa.string()),
        ("event_id", pa.string()),
        ("reason", pa.string()),
        ("ingest_time", TIMESTAMP),
        ("quarantined_at", TIMESTAMP),
    ]
)


def quarantine_batch(
    sim: Simulation, plan: EventPlan, rows: np.ndarray, reasons: np.ndarray, rng
) -> pa.Table:
    """silver/quarantine rows copying the planned events `rows` (a retry, a late or bad copy)."""
    session = np.maximum(plan.session[rows], 0)
    event_ids = uuid_strings(rng, len(rows))
    ingest = plan.time[rows] + rng.integers(MICROS, 10 * MICROS, len(rows))
    # The message as text: a JSON object of the usual ~330 bytes around the event id.
    raw = pc.binary_join_element_wise(
        '{"event_id": "',
        event_ids,
        '", "event_type": "heartbeat", "event_time": "2026-12-04T12:00:00.000Z", '
        '"stream_id": "live-20261204-1200-1", "session_id": "0c6d4e1a-5a57-4bb4-9a55-'
        '0e4f6c1b2a3d", "viewer_id": "viewer-0000001", "device_type": "mobile", '
        '"viewer_state": "CA", "product_id": null, "price": null, "quantity": null, '
        '"order_id": null, "scheduled_end": null}',
        "",
    )
    reason_names = list(QUARANTINE_SHARES)
    return pa.table(
        {
            "topic": pa.array(["live_events"] * len(rows), pa.string()),
            "partition": pa.array((session % KAFKA_PARTITIONS).astype(np.int32)),
            "offset": pa.array(rows.astype(np.int64)),
            "key": sim.session_ids.take(pa.array(session)),
            "raw_value": raw,
            "event_id": event_ids,
            "reason": choose_strings(reason_names, reasons),
            "ingest_time": timestamps(ingest),
            "quarantined_at": timestamps(ingest + rng.integers(5, 60, len(rows)) * MICROS),
        },
        schema=QUARANTINE_SCHEMA,
    )


# gold/data_quality as lakehouse/quality.py declares it for Spark.
QUALITY_SCHEMA = to_arrow_schema(RESULT_SCHEMA)


def quality_checks() -> dict[str, list[tuple[str, str, str, str | None]]]:
    """(suite, table, expectation, column) of each check, per source, from lakehouse/quality.py."""
    # Great Expectations and pyspark load in seconds: only the build needs them.
    from lakehouse import pipeline, quality

    def checks(suite, table_name):
        rows = []
        for expectation in suite.expectations:
            kwargs = expectation.configuration.kwargs
            column = kwargs.get("column")
            if column is None and "column_A" in kwargs:
                column = f"{kwargs['column_A']},{kwargs['column_B']}"
            rows.append((suite.name, table_name, expectation.configuration.type, column))
        return rows

    gold = quality.gold_suites()
    gold_tables = {
        quality.GOLD_SESSIONS: config.GOLD_SESSIONS,
        quality.GOLD_VIEWERS: config.GOLD_VIEWERS_PER_MINUTE,
        quality.GOLD_PREDICTIONS: config.GOLD_PREDICTIONS,
        quality.GOLD_KPIS: config.GOLD_KPIS,
        quality.GOLD_RFM: config.GOLD_RFM,
    }
    return {
        pipeline.SILVER_EVENTS_QUERY: checks(quality.bronze_to_silver_suite(0.05), "bronze/events")
        + checks(quality.silver_events_suite(), config.SILVER_EVENTS)
        + checks(quality.silver_sessions_suite(), config.SILVER_SESSIONS),
        pipeline.GOLD_QUERY: [
            row for name, table in gold_tables.items() for row in checks(gold[name], table)
        ],
    }


def data_quality(scenario: Scenario, rng: np.random.Generator) -> tuple[pa.Table, np.ndarray]:
    """gold/data_quality: every check of every silver and gold batch; and each row's time."""
    actions = config.load_settings().section("quality").get("on_failure", {})
    batches = int(scenario.hours * BATCHES_PER_HOUR)
    pieces = []
    for offset, (source, checks) in enumerate(quality_checks().items()):
        batch = np.repeat(np.arange(batches), len(checks))
        check = np.tile(np.arange(len(checks)), batches)
        checked = (
            scenario.start_us
            + (batch + 1) * (3600 * MICROS // BATCHES_PER_HOUR)
            + (20 + 10 * offset) * MICROS
        )
        elements = rng.integers(2_000, 60_000, batches)[batch]
        success = rng.random(len(batch)) >= QUALITY_FAILURE_SHARE
        unexpected = np.where(success, 0, rng.integers(1, 50, len(batch)))
        observed = np.where(
            success,
            '{"unexpected_count": 0, "sample": []}',
            '{"unexpected_count": 3, "sample": ["-1.00", "-2.50", "-0.01"]}',
        )
        suites, tables, expectations, columns = (
            list(values) for values in zip(*checks, strict=True)
        )
        pieces.append(
            pa.table(
                {
                    "run_id": pa.array([f"{source}:{b}" for b in batch.tolist()], pa.string()),
                    "checked_at": timestamps(checked),
                    "source": pa.array([source] * len(batch), pa.string()),
                    "batch_id": pa.array(batch.astype(np.int64)),
                    "suite": choose_strings(suites, check),
                    "table_name": choose_strings(tables, check),
                    "expectation": choose_strings(expectations, check),
                    "column_name": pa.array(columns, pa.string()).take(pa.array(check)),
                    "success": pa.array(success),
                    "element_count": pa.array(elements.astype(np.int64)),
                    "unexpected_count": pa.array(unexpected.astype(np.int64)),
                    "unexpected_percent": pa.array(100.0 * unexpected / elements),
                    "observed_value": pa.array(observed.tolist(), pa.string()),
                    "action": choose_strings(
                        [actions.get(suite, "log") for suite in suites], check
                    ),
                },
                schema=QUALITY_SCHEMA,
            )
        )
    table = pa.concat_tables(pieces)
    return table, table.column("checked_at").cast(pa.int64()).to_numpy()


def progress_files(root: Path, scenario: Scenario) -> None:
    """The listener's progress file of each query, as the running pipeline keeps them."""
    from lakehouse import pipeline

    folder = Path(progress.progress_dir(str(root)))
    now = datetime.now(UTC)
    batches = int(scenario.hours * BATCHES_PER_HOUR)
    queries = {
        "bronze_events": 6 * batches,
        pipeline.SILVER_EVENTS_QUERY: batches,
        pipeline.GOLD_QUERY: batches,
    }
    for name, batch_id in queries.items():
        stamp = (now - timedelta(seconds=20)).isoformat(timespec="milliseconds")
        record = dict.fromkeys(progress.PROGRESS_FIELDS + progress.LISTENER_FIELDS)
        record.update(
            name=name,
            id=f"id-{name}",
            run_id=f"run-{name}",
            batch_id=batch_id,
            timestamp=stamp.replace("+00:00", "Z"),
            input_rows_per_second=800.0,
            processed_rows_per_second=900.0,
            num_input_rows=48_000,
            batch_duration_ms=45_000,
            state_rows=0,
            reported_at=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )
        progress.write_json_atomically(folder / f"{progress.file_stem(name)}.json", record)


def _overwrites(writer: DeltaWriter, table: pa.Table, commits: int, sample_rows: int) -> None:
    """`commits` overwrites ending with `table`; the earlier ones hold a sample of its rows.

    The earlier versions are removed by the next overwrite, so only their log entries count
    for a reader; a sample keeps the build fast.
    """
    for _ in range(commits - 1):
        writer.commit(table.slice(0, min(sample_rows, table.num_rows)), mode="overwrite")
    writer.commit(table, mode="overwrite")


def build_gold(
    root: Path,
    sessions: int,
    seed: int,
    commits: int = DEFAULT_COMMITS,
    hours: float = DEFAULT_HOURS,
    scored_share: float | None = DEFAULT_SCORED_SHARE,
) -> None:
    """Write the tables the dashboard's pages read under `root`, for `sessions` sessions.

    commits: Delta commits per table (the time slices of the appends and merges, the number
    of overwrites); hours: how long the pipeline has been running; scored_share: share of
    all sessions in gold/predicted_conversions (None: the open sessions only).
    """
    scenario = Scenario(sessions, seed, hours, commits, scored_share)
    rng = np.random.default_rng(seed + 1)
    table_path = config.load_settings().with_overrides(root=str(root)).table
    started = time.perf_counter()

    sim = simulate(scenario)
    engagement = _engagement(sim)
    log.info(
        "simulated %d sessions, %d viewers, %d streams in %.1f s",
        sessions,
        scenario.viewers,
        scenario.streams,
        time.perf_counter() - started,
    )

    def merged(name: str, table: pa.Table, updated: np.ndarray) -> None:
        """A MERGE-written table: each row in the commit of the slice it was last updated in."""
        writer = DeltaWriter(Path(table_path(name)), table.schema, GOLD_FILES_PER_COMMIT, seed=seed)
        commit_in_slices(writer, table, _slice_of(updated, scenario), commits)

    def overwritten(name: str, table: pa.Table, times: int, sample_rows: int, files: int) -> None:
        writer = DeltaWriter(Path(table_path(name)), table.schema, files, seed=seed)
        _overwrites(writer, table, times, sample_rows)

    merged(config.GOLD_SESSIONS, fct_sessions(sim, engagement), sim.updated)
    predictions, scored_at = predicted_conversions(sim, engagement, rng)
    merged(config.GOLD_PREDICTIONS, predictions, scored_at)
    viewers, minutes = viewers_per_minute(sim)
    merged(config.GOLD_VIEWERS_PER_MINUTE, viewers, minutes)
    kpi_table = kpis(sim, engagement)
    overwritten(config.GOLD_KPIS, kpi_table, commits, kpi_table.num_rows, GOLD_FILES_PER_COMMIT)
    # gold/streams is merged with each batch's stream events: a stream's row is rewritten
    # at its start and its end.
    last_change = np.where(sim.stream_end >= 0, sim.stream_end, sim.stream_start)
    merged(config.GOLD_STREAMS, streams_table(sim), last_change)
    rfm_table, scores = rfm(sim)
    # rfm() ranks over one window without partitions: Spark writes a single file.
    overwritten(config.GOLD_RFM, rfm_table, commits, 1000, 1)
    named = named_segments(rfm_table, scores)
    overwritten(config.GOLD_SEGMENTS_NAMED, named, 2, 1000, GOLD_FILES_PER_COMMIT)
    log.info("gold written after %.1f s", time.perf_counter() - started)

    plan = plan_events(sim, rng)
    slices = _slice_of(plan.time, scenario)
    order = np.argsort(slices, kind="stable")
    bounds = np.searchsorted(slices[order], np.arange(commits + 1))
    quarantine_writer = DeltaWriter(
        Path(table_path(config.SILVER_QUARANTINE)),
        QUARANTINE_SCHEMA,
        SILVER_FILES_PER_COMMIT,
        task_column="partition",
        seed=seed,
    )
    shares = np.array(list(QUARANTINE_SHARES.values()))
    for number in range(commits):
        rows = order[bounds[number] : bounds[number + 1]]
        if not len(rows):
            continue
        quarantined = rng.random(len(rows)) < shares.sum()
        reasons = rng.choice(len(shares), int(quarantined.sum()), p=shares / shares.sum())
        quarantine_writer.commit(quarantine_batch(sim, plan, rows[quarantined], reasons, rng))
    log.info(
        "silver/quarantine written after %.1f s (%d events planned)",
        time.perf_counter() - started,
        len(order),
    )

    quality, checked = data_quality(scenario, rng)
    writer = DeltaWriter(Path(table_path(config.GOLD_DATA_QUALITY)), QUALITY_SCHEMA, 1, seed=seed)
    commit_in_slices(writer, quality, _slice_of(checked, scenario), commits)
    progress_files(root, scenario)
    log.info("built %s in %.1f s", root, time.perf_counter() - started)


BUILT_TABLES = (
    config.GOLD_SESSIONS,
    config.GOLD_PREDICTIONS,
    config.GOLD_VIEWERS_PER_MINUTE,
    config.GOLD_KPIS,
    config.GOLD_STREAMS,
    config.GOLD_RFM,
    config.GOLD_SEGMENTS_NAMED,
    config.GOLD_DATA_QUALITY,
    config.SILVER_QUARANTINE,
)


def describe_tables(root: Path) -> dict[str, dict[str, int]]:
    """Rows, live files, commits and bytes (data files on disk, log included) of each table
    built under `root` (those missing are left out)."""
    table_path = config.load_settings().with_overrides(root=str(root)).table
    described = {}
    for name in BUILT_TABLES:
        path = Path(table_path(name))
        table = data.open_table(str(path))
        if table is None:
            continue
        actions = pa.table(table.get_add_actions(flatten=True))
        described[name] = {
            "rows": int(pc.sum(actions.column("num_records")).as_py()),
            "files": actions.num_rows,
            "commits": table.version() + 1,
            "bytes_on_disk": sum(f.stat().st_size for f in path.rglob("*") if f.is_file()),
        }
    return described


# --- measuring --------------------------------------------------------------------------------


class RowsRead(logging.Handler):
    """Collects the "Read N rows from PATH" records of dashboard/data.py's readers."""

    def __init__(self, root: str) -> None:
        super().__init__(logging.INFO)
        self.root = root.rstrip("/") + "/"
        self.rows: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("Read %d rows from") and len(record.args) >= 2:
            rows, path = record.args[:2]
            self.rows[str(path).removeprefix(self.root)] = int(rows)


def _timed(steps: dict[str, float], name: str, function: Callable[..., Any], *args: Any) -> Any:
    start = time.perf_counter()
    result = function(*args)
    steps[name] = time.perf_counter() - start
    return result


def live_page(settings: config.Settings, steps: dict[str, float]) -> None:
    """dashboard/views/live.py with all streams selected (its default)."""
    table = settings.table
    threshold = float(
        settings.section("model").get("high_intent_threshold", data.DEFAULT_HIGH_INTENT_THRESHOLD)
    )
    kpis_frame = _timed(steps, "load_kpis", data.load_kpis, table(config.GOLD_KPIS))
    streams = _timed(steps, "load_streams", data.load_streams, table(config.GOLD_STREAMS))
    row = _timed(
        steps,
        "kpi_row",
        lambda: data.kpi_row(kpis_frame, list(data.stream_options(kpis_frame))[0]),
    )
    predictions = _timed(
        steps,
        "load_predicted_conversions",
        data.load_predicted_conversions,
        table(config.GOLD_PREDICTIONS),
    )
    _timed(
        steps,
        "tiles",
        lambda: (
            data.kpi_tiles(row) + data.model_tiles(predictions, threshold, None),
            data.live_streams(streams),
        ),
    )
    viewers = _timed(
        steps,
        "load_viewers_per_minute",
        data.load_viewers_per_minute,
        table(config.GOLD_VIEWERS_PER_MINUTE),
    )
    _timed(
        steps,
        "viewers_chart_data",
        data.viewers_chart_data,
        viewers,
        None,
        ALL_STREAMS_CHART_MINUTES,
    )
    revenue = _timed(
        steps,
        "load_revenue_per_minute",
        data.load_revenue_per_minute,
        table(config.GOLD_VIEWERS_PER_MINUTE),
    )
    _timed(
        steps,
        "revenue_chart",
        data.per_minute_chart,
        revenue,
        "revenue",
        None,
        ALL_STREAMS_CHART_MINUTES,
    )
    sessions = _timed(
        steps, "load_open_sessions", data.load_open_sessions, table(config.GOLD_SESSIONS)
    )
    _timed(
        steps,
        "top_engaged_sessions",
        data.top_engaged_sessions,
        sessions,
        None,
        TOP_SESSIONS,
    )


def retarget_page(settings: config.Settings, steps: dict[str, float]) -> None:
    """dashboard/views/retarget.py with its default filters (none) and sort."""
    table = settings.table
    predictions = _timed(
        steps,
        "load_predicted_conversions",
        data.load_predicted_conversions,
        table(config.GOLD_PREDICTIONS),
    )
    sessions = _timed(
        steps,
        "load_session_status",
        data.load_session_status,
        table(config.GOLD_SESSIONS),
        table(config.GOLD_PREDICTIONS),
    )
    candidates = _timed(
        steps, "retarget_candidates", data.retarget_candidates, predictions, sessions
    )
    _timed(
        steps,
        "choices",
        lambda: [data.choices(candidates, column) for column in data.RETARGET_FILTER_COLUMNS],
    )
    selections = {column: [] for column in data.RETARGET_FILTER_COLUMNS}
    matching = _timed(
        steps,
        "filter_and_sort",
        lambda: data.sort_sessions(
            data.filter_rows(candidates, selections),
            data.RETARGET_SORT_COLUMNS[0],
            descending=True,
        ),
    )
    _timed(steps, "shown", lambda: matching.head(RETARGET_SHOWN))
    # The download button builds its CSV when clicked, not when the page loads.


def segments_page(settings: config.Settings, steps: dict[str, float]) -> None:
    """dashboard/views/segments.py with no segment chosen."""
    table = settings.table
    rfm_frame = _timed(steps, "load_rfm", data.load_rfm, table(config.GOLD_RFM))
    named = _timed(
        steps, "load_named_segments", data.load_named_segments, table(config.GOLD_SEGMENTS_NAMED)
    )
    summary = _timed(steps, "segment_summary", data.segment_summary, named)
    _timed(steps, "segment_scores_chart", data.segment_scores_chart, summary)
    rfm_table = _timed(steps, "rfm_with_segments", data.rfm_with_segments, rfm_frame, named)
    _timed(steps, "choices", data.choices, rfm_table, "segment_name")
    _timed(steps, "filter_rows", data.filter_rows, rfm_table, {"segment_name": []})


def health_page(settings: config.Settings, steps: dict[str, float]) -> None:
    """dashboard/views/health.py: progress files, quarantine counts, latest quality results."""
    folder = progress.progress_folder(settings)
    records = _timed(steps, "read_progress", progress.read_progress, folder)
    interval = settings.section("streaming").get("trigger_interval", "10 seconds")
    stale_after = health.stale_after_seconds(interval)
    _timed(
        steps,
        "progress_table",
        health.progress_table,
        records,
        pd.Timestamp.now(tz="UTC"),
        stale_after,
    )
    quarantine = _timed(
        steps, "load_quarantine", health.load_quarantine, settings.table(config.SILVER_QUARANTINE)
    )
    _timed(steps, "quarantine_counts", health.quarantine_counts, quarantine)
    results = _timed(
        steps,
        "load_data_quality",
        health.load_data_quality,
        settings.table(config.GOLD_DATA_QUALITY),
    )
    _timed(steps, "latest_quality_results", health.latest_quality_results, results)


PAGE_LOADS = {
    "live": live_page,
    "retarget": retarget_page,
    "segments": segments_page,
    "health": health_page,
}


def _load_page(page: str, root: str, repeats: int) -> dict[str, Any]:
    """Load one page 1 + `repeats` times in this process; seconds of each load and step."""
    settings = config.load_settings().with_overrides(root=root)
    rows_read = RowsRead(settings.root)
    data_logger = logging.getLogger("dashboard.data")
    data_logger.addHandler(rows_read)
    data_logger.setLevel(logging.INFO)
    loads = []
    for _ in range(1 + repeats):
        steps: dict[str, float] = {}
        start = time.perf_counter()
        PAGE_LOADS[page](settings, steps)
        loads.append({"seconds": time.perf_counter() - start, "steps": steps})
    data_logger.removeHandler(rows_read)
    warm = loads[1:] or loads
    return {
        "cold_seconds": round(loads[0]["seconds"], 3),
        "warm_seconds": round(statistics.median(load["seconds"] for load in warm), 3),
        "warm_runs_seconds": [round(load["seconds"], 3) for load in warm],
        "cold_steps_seconds": {k: round(v, 3) for k, v in loads[0]["steps"].items()},
        "warm_steps_seconds": {
            name: round(statistics.median(load["steps"][name] for load in warm), 3)
            for name in loads[0]["steps"]
        },
        "rows_read": rows_read.rows,
    }


def measure(root: Path, repeats: int = 5, pages: Sequence[str] = PAGES) -> dict[str, Any]:
    """{"pages": per page, its figures; "tables": describe_tables(root)}.

    A page's figures: cold seconds (its first load in a fresh process), warm seconds (the
    median of `repeats` more), each step's seconds (cold, and median warm) and the rows
    read per table.

    Each page runs in its own fresh process, one page after the other; the tables' files stay
    in the operating system's cache from the build or earlier runs, so "cold" is a fresh
    dashboard process, not a cold disk. The warm loads keep what the loaders keep between
    refreshes (dashboard/data.py's FileRowsCache) and no file is added between them: a
    refresh after a new micro-batch also scans that batch's files.
    """
    results = {}
    for page in pages:
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            results[page] = pool.submit(_load_page, page, str(root), repeats).result()
        log.info(
            "%s: cold %.3f s, warm %.3f s",
            page,
            results[page]["cold_seconds"],
            results[page]["warm_seconds"],
        )
    return {"pages": results, "tables": describe_tables(root)}


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sessions", type=int, default=1_000_000, help="sessions in gold/fct_sessions"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulation")
    parser.add_argument(
        "--root",
        type=Path,
        help="folder of the tables, kept afterwards (default: a temporary one, then deleted)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="warm loads per page")
    parser.add_argument(
        "--commits", type=int, default=DEFAULT_COMMITS, help="Delta commits per table"
    )
    parser.add_argument(
        "--hours", type=float, default=DEFAULT_HOURS, help="how long the pipeline has run"
    )
    parser.add_argument(
        "--scored-share",
        type=float,
        default=DEFAULT_SCORED_SHARE,
        help="share of sessions in gold/predicted_conversions (default: the open ones)",
    )
    parser.add_argument(
        "--skip-build", action="store_true", help="measure the tables already under --root"
    )
    parser.add_argument("--pages", nargs="+", choices=PAGES, default=list(PAGES))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    # INFO from this script only: Great Expectations logs a lot at INFO while the build loads it.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO)
    if args.skip_build and args.root is None:
        raise SystemExit("--skip-build needs --root")

    root = args.root or Path(tempfile.mkdtemp(prefix="dashboard-load-"))
    try:
        build_seconds = None
        if not args.skip_build:
            start = time.perf_counter()
            build_gold(root, args.sessions, args.seed, args.commits, args.hours, args.scored_share)
            build_seconds = round(time.perf_counter() - start, 1)
        figures = measure(root, args.repeats, args.pages)
    finally:
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)

    print(
        json.dumps(
            {
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
                "sessions": figures["tables"][config.GOLD_SESSIONS]["rows"],
                "seed": args.seed,
                "build_seconds": build_seconds,
                **figures,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
