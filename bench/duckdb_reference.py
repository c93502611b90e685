"""The gold figures recomputed by DuckDB over the raw events: the reference a small user might pick.

Input: a JSON-lines file of events as the producers send them (one message
value a line, docs/events.md), e.g. written by
lakehouse.producers.kafka_sink.write_jsonl. Output: JSON on stdout with
DuckDB's figures and wall time and, given --root, the same figures read from
the Delta tables the Spark pipeline wrote there (gold/kpis, gold/fct_sessions,
gold/viewers_per_minute, read with the `deltalake` package, no Spark) and
whether each pair matches.

The SQL follows docs/metrics.md and the Spark code it mirrors
(lakehouse/silver.py, lakehouse/sessions.py, lakehouse/gold.py). It assumes
the file holds only valid events on time: it deduplicates on event_id but
applies none of silver's quarantine rules.

Run:  .venv/bin/python -m bench.duckdb_reference --events events.jsonl --root var/lakehouse
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.compute as pc
from deltalake import DeltaTable

from lakehouse import config
from lakehouse.config import Settings, load_settings
from lakehouse.contract import EVENT_TYPES, FIELDS
from lakehouse.gold import KPI_COLUMNS

log = logging.getLogger(__name__)

# The KPI columns of gold/kpis (scope 'all') that DuckDB recomputes: all but the
# scope and computed_at, the wall clock of the Spark batch, which has no counterpart.
KPI_FIGURES = tuple(name for name in KPI_COLUMNS if name not in ("scope", "computed_at"))
TABLE_FIGURES = (
    "fct_sessions_rows",
    "viewers_per_minute_rows",
    "viewers_per_minute_sum",
    "viewers_per_minute_purchases_sum",
    "viewers_per_minute_revenue_sum",
)

# Every field is read as text, as silver does, then cast: a price stays the
# decimal written in the message instead of passing through a double.
# row_number() OVER () numbers the lines in file order (DuckDB keeps the scan's
# order for a window with an empty OVER clause), so the first copy of an
# event_id is the one kept, as silver keeps the copy it read first.
EVENTS_SQL = """
CREATE TEMP TABLE events AS
WITH lines AS (
    SELECT *, row_number() OVER () AS line
    FROM read_json($path, format = 'newline_delimited', columns = {columns})
)
SELECT
    event_id,
    event_type,
    CAST(event_time AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS event_time,
    stream_id,
    session_id,
    viewer_id,
    device_type,
    viewer_state,
    product_id,
    CAST(price AS DECIMAL(10, 2)) AS price,
    CAST(quantity AS INTEGER) AS quantity,
    order_id,
    CAST(scheduled_end AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS scheduled_end
FROM lines
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY line) = 1
"""

# The engagement weights of conf [engagement.weights], one row per event type.
WEIGHTS_SQL = "CREATE TEMP TABLE engagement_weights (event_type VARCHAR, weight DOUBLE)"

# silver/sessions. A leave closes the session only when nothing came after it;
# otherwise the session closes at its last event once the data clock (the
# newest event_time of the file) is the inactivity gap or more past it.
# stream_id and viewer_id come from the earliest event that has one.
SESSIONS_SQL = """
CREATE TEMP TABLE sessions AS
WITH per_session AS (
    SELECT
        e.session_id,
        arg_min(e.stream_id, (e.event_time, e.event_id))
            FILTER (WHERE e.stream_id IS NOT NULL) AS stream_id,
        arg_min(e.viewer_id, (e.event_time, e.event_id))
            FILTER (WHERE e.viewer_id IS NOT NULL) AS viewer_id,
        min(e.event_time) AS started_at,
        max(e.event_time) AS last_event_at,
        max(e.event_time) FILTER (WHERE e.event_type = 'leave') AS last_leave_at,
        count(*) AS events,
        count(*) FILTER (WHERE e.event_type = 'purchase') AS purchases,
        coalesce(sum(e.price * e.quantity) FILTER (WHERE e.event_type = 'purchase'), 0)
            AS revenue,
        coalesce(sum(w.weight), 0.0) AS engagement_score
    FROM events AS e
    LEFT JOIN engagement_weights AS w USING (event_type)
    WHERE e.session_id IS NOT NULL
    GROUP BY e.session_id
),
clock AS (
    SELECT max(event_time) - to_minutes(CAST($gap_minutes AS BIGINT)) AS idle_before
    FROM events
),
closing AS (
    SELECT
        per_session.*,
        CASE WHEN last_leave_at >= last_event_at THEN last_leave_at END AS left_at,
        last_event_at <= clock.idle_before AS timed_out
    FROM per_session, clock
)
SELECT
    * EXCLUDE (timed_out),
    left_at IS NOT NULL OR timed_out AS is_closed,
    CASE WHEN left_at IS NOT NULL THEN left_at WHEN timed_out THEN last_event_at END
        AS ended_at
FROM closing
"""

# gold/streams: the mid-point lies halfway (rounded down to the microsecond)
# between the first stream_start and the first stream_end, or the scheduled
# end while no stream_end has come.
STREAMS_SQL = """
CREATE TEMP TABLE streams AS
WITH per_stream AS (
    SELECT
        stream_id,
        min(event_time) FILTER (WHERE event_type = 'stream_start') AS started_at,
        max(scheduled_end) FILTER (WHERE event_type = 'stream_start') AS scheduled_end,
        min(event_time) FILTER (WHERE event_type = 'stream_end') AS ended_at
    FROM events
    WHERE event_type IN ('stream_start', 'stream_end')
    GROUP BY stream_id
)
SELECT
    stream_id,
    make_timestamp(
        epoch_us(started_at)
        + CAST(floor((epoch_us(coalesce(ended_at, scheduled_end)) - epoch_us(started_at)) / 2)
            AS BIGINT)
    ) AS mid_point
FROM per_stream
"""

# gold/fct_sessions. A session counts for the drop-off rate when it started
# before its stream's mid-point; it dropped off when it also ended before it
# (a session still open has not). Sessions of a stream without a mid-point
# have no drop-off value.
FACTS_SQL = """
CREATE TEMP TABLE fct_sessions AS
SELECT
    s.*,
    (epoch_us(s.ended_at) - epoch_us(s.started_at)) / 1e6 AS duration_seconds,
    s.purchases > 0 AS converted,
    CASE WHEN s.started_at < m.mid_point THEN coalesce(s.ended_at < m.mid_point, false) END
        AS dropped_off
FROM sessions AS s
LEFT JOIN streams AS m USING (stream_id)
"""

# Per purchase: its time minus the first product_click of the same product in
# the same session at or before it, else the first view_product; purchases
# with neither are left out.
LAGS_SQL = """
CREATE TEMP TABLE lags AS
WITH first_touch AS (
    SELECT
        p.event_id,
        p.event_time AS purchase_time,
        min(t.event_time) FILTER (WHERE t.event_type = 'product_click') AS first_click,
        min(t.event_time) FILTER (WHERE t.event_type = 'view_product') AS first_view
    FROM events AS p
    JOIN events AS t
        ON t.session_id = p.session_id
        AND t.product_id = p.product_id
        AND t.event_type IN ('product_click', 'view_product')
        AND t.event_time <= p.event_time
    WHERE p.event_type = 'purchase'
    GROUP BY p.event_id, p.event_time
)
SELECT
    event_id,
    (epoch_us(purchase_time) - epoch_us(coalesce(first_click, first_view))) / 1e6 AS lag_seconds
FROM first_touch
"""

FIGURES_SQL = """
SELECT
    count(*) AS total_sessions,
    count(DISTINCT viewer_id) AS unique_viewers,
    count_if(converted) AS converted_sessions,
    count_if(converted) / nullif(count(*), 0) AS conversion_rate,
    count_if(dropped_off) / nullif(count(dropped_off), 0) AS drop_off_rate,
    avg(duration_seconds) FILTER (WHERE is_closed) AS avg_session_duration_seconds,
    (SELECT avg(lag_seconds) FROM lags) AS click_to_purchase_lag_mean_seconds,
    (SELECT quantile_cont(lag_seconds, 0.5) FROM lags) AS click_to_purchase_lag_median_seconds,
    avg(engagement_score) AS avg_engagement_score,
    coalesce(sum(purchases), 0) AS purchases,
    CAST(coalesce(sum(revenue), 0) AS DECIMAL(18, 2)) AS revenue,
    coalesce(sum(events), 0) AS events,
    (SELECT max(event_time) FROM events) AS as_of,
    count(*) AS fct_sessions_rows
FROM fct_sessions
"""

# gold/viewers_per_minute: distinct viewers with any event in each minute of a stream, and
# the purchases and revenue of that minute (revenue rounded per minute, as the table holds it).
VIEWERS_SQL = """
WITH per_minute AS (
    SELECT
        stream_id,
        date_trunc('minute', event_time) AS minute,
        count(DISTINCT viewer_id) AS n,
        count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
        CAST(
            coalesce(sum(price * quantity) FILTER (WHERE event_type = 'purchase'), 0)
            AS DECIMAL(18, 2)
        ) AS revenue
    FROM events
    WHERE viewer_id IS NOT NULL
    GROUP BY stream_id, minute
)
SELECT
    count(*) AS viewers_per_minute_rows,
    coalesce(sum(n), 0) AS viewers_per_minute_sum,
    coalesce(sum(purchases), 0) AS viewers_per_minute_purchases_sum,
    CAST(coalesce(sum(revenue), 0) AS DECIMAL(18, 2)) AS viewers_per_minute_revenue_sum
FROM per_minute
"""


def _text_columns() -> str:
    """read_json's columns argument: every contract field as VARCHAR."""
    return "{" + ", ".join(f"{name}: 'VARCHAR'" for name in FIELDS) + "}"


def _check_weights(weights: dict[str, float]) -> None:
    unknown = set(weights) - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"engagement weights name unknown event types: {sorted(unknown)}")


def _row_dict(cursor: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    names = [column[0] for column in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def _as_utc_text(moment: datetime | None) -> str | None:
    """A timestamp as ISO text in UTC without a zone suffix, whatever zone it came in."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat()


def gold_figures(events_path: Path, settings: Settings | None = None) -> dict[str, Any]:
    """DuckDB's gold figures over a JSON-lines file of events, and the seconds it took.

    The "as of" clock is the newest event_time in the file, as the pipeline's
    data clock is after a replay of the same events: it closes idle sessions
    (conf [sessions] inactivity_gap_minutes) and is reported as `as_of`.

    settings: where the inactivity gap and the engagement weights come from
    (default: load_settings(), i.e. conf/lakehouse.toml or LAKEHOUSE_CONF).

    Returns {"seconds": wall time of connecting, reading and computing,
    "figures": {name: value}} with the names of KPI_FIGURES and TABLE_FIGURES.
    """
    settings = settings or load_settings()
    gap_minutes = int(settings.section("sessions")["inactivity_gap_minutes"])
    weights = settings.engagement_weights
    _check_weights(weights)
    log.info("DuckDB reads %s", events_path)

    started = time.perf_counter()
    with duckdb.connect() as con:
        con.execute(EVENTS_SQL.format(columns=_text_columns()), {"path": str(events_path)})
        con.execute(WEIGHTS_SQL)
        if weights:
            con.executemany("INSERT INTO engagement_weights VALUES (?, ?)", sorted(weights.items()))
        con.execute(SESSIONS_SQL, {"gap_minutes": gap_minutes})
        con.execute(STREAMS_SQL)
        con.execute(FACTS_SQL)
        con.execute(LAGS_SQL)
        figures = _row_dict(con.execute(FIGURES_SQL))
        figures.update(_row_dict(con.execute(VIEWERS_SQL)))
    seconds = time.perf_counter() - started

    figures["as_of"] = _as_utc_text(figures["as_of"])
    log.info("DuckDB: %d sessions in %.2f s", figures["total_sessions"], seconds)
    return {"seconds": seconds, "figures": figures}


def spark_gold_figures(root: Path) -> dict[str, Any]:
    """The same figures read from the Delta tables the pipeline wrote under root (no Spark)."""
    kpis = DeltaTable(str(root / config.GOLD_KPIS)).to_pyarrow_table(
        columns=["scope", *KPI_FIGURES]
    )
    overall = [row for row in kpis.to_pylist() if row["scope"] == "all"]
    if len(overall) != 1:
        raise ValueError(f"{config.GOLD_KPIS} has {len(overall)} rows of scope 'all', not 1")
    figures = {name: overall[0][name] for name in KPI_FIGURES}
    figures["as_of"] = _as_utc_text(figures["as_of"])

    sessions = DeltaTable(str(root / config.GOLD_SESSIONS)).to_pyarrow_table(columns=["session_id"])
    viewers = DeltaTable(str(root / config.GOLD_VIEWERS_PER_MINUTE)).to_pyarrow_table(
        columns=["active_viewers", "purchases", "revenue"]
    )
    figures["fct_sessions_rows"] = sessions.num_rows
    figures["viewers_per_minute_rows"] = viewers.num_rows
    figures["viewers_per_minute_sum"] = pc.sum(viewers["active_viewers"]).as_py() or 0
    figures["viewers_per_minute_purchases_sum"] = pc.sum(viewers["purchases"]).as_py() or 0
    revenue = pc.sum(viewers["revenue"]).as_py()
    figures["viewers_per_minute_revenue_sum"] = Decimal("0.00") if revenue is None else revenue
    log.info("read the pipeline's figures under %s", root)
    return figures


def _rounded(value: Any, places: int) -> Any:
    """Numbers rounded to places (Decimals stay exact Decimals); anything else as is."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal | float):
        return round(value, places)
    return value


def compare(duckdb: dict[str, Any], spark: dict[str, Any], places: int = 6) -> dict[str, Any]:
    """Per figure of either side: both values and whether they match, rounded to places.

    A figure missing on one side is reported with None there and does not match.
    """
    result = {}
    for name in [*duckdb, *(name for name in spark if name not in duckdb)]:
        ours, theirs = duckdb.get(name), spark.get(name)
        both = name in duckdb and name in spark
        mixed = isinstance(ours, Decimal) != isinstance(theirs, Decimal)
        if both and mixed and None not in (ours, theirs):
            # One side read a decimal column, the other a double: compare as doubles.
            ours, theirs = float(ours), float(theirs)
        match = both and _rounded(ours, places) == _rounded(theirs, places)
        result[name] = {"duckdb": duckdb.get(name), "spark": spark.get(name), "match": match}
    return result


def _json_value(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events", type=Path, required=True, help="JSON-lines file of the events, one a line"
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="root of the Delta tables the pipeline wrote from the same events; "
        "when given, its figures are compared with DuckDB's",
    )
    parser.add_argument(
        "--conf",
        default=None,
        help="settings file for the inactivity gap and engagement weights "
        "(default: LAKEHOUSE_CONF or conf/lakehouse.toml)",
    )
    parser.add_argument("--places", type=int, default=6, help="decimal places compared")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings(args.conf)

    reference = gold_figures(args.events, settings)
    report: dict[str, Any] = {"duckdb": reference}

    if args.root is not None:
        spark = spark_gold_figures(args.root)
        report["spark"] = spark
        report["comparison"] = compare(reference["figures"], spark, args.places)
        report["all_match"] = all(item["match"] for item in report["comparison"].values())

    print(json.dumps(report, indent=2, default=_json_value))
    return 0 if report.get("all_match", True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
