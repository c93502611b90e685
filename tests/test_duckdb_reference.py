"""bench/duckdb_reference.py: DuckDB's gold figures on a hand-made file, worked out by hand.

Stream s1 starts at 10:00 (scheduled end 11:00) and ends at 10:59, so its
mid-point is 10:29:30 and the data clock is 10:59 (its stream_end, the
newest event). Two viewers, three sessions:

  a  v1  10:01:00-10:20:00 leave     view p1 10:02, click p1 10:03, cart 10:04,
                                      buys p1 2 x 12.50 at 10:13
  c  v1  10:20:30-10:22:00 no leave  last event 37 min before the clock: closed
  b  v2  10:20:45-10:45:00 no leave  view p2 10:30, like 10:40 (sent twice),
                                      buys p2 1 x 9.99 at 10:45; 14 min before
                                      the clock: still open
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bench.duckdb_reference import compare, gold_figures
from lakehouse.config import Settings
from lakehouse.contract import FIELDS

WEIGHTS = {
    "view_product": 1.0,
    "like": 0.5,
    "comment": 2.0,
    "share": 3.0,
    "product_click": 1.5,
    "add_to_cart": 3.0,
}
SETTINGS = Settings(
    {"sessions": {"inactivity_gap_minutes": 30}, "engagement": {"weights": WEIGHTS}}
)


def _event(event_id: str, event_type: str, clock: str, **fields: Any) -> dict[str, Any]:
    event = dict.fromkeys(FIELDS)
    event.update(event_id=event_id, event_type=event_type, event_time=f"2026-03-01T{clock}.000Z")
    event.update(stream_id="s1", **fields)
    return event


def _session(session_id: str, viewer_id: str) -> dict[str, str]:
    return {
        "session_id": session_id,
        "viewer_id": viewer_id,
        "device_type": "mobile",
        "viewer_state": "CA",
    }


A, B, C = _session("a", "v1"), _session("b", "v2"), _session("c", "v1")
LIKE_B = _event("b3", "like", "10:40:00", **B)

# In send order: 15 lines, 14 distinct events.
EVENTS = [
    _event("s1-start", "stream_start", "10:00:00", scheduled_end="2026-03-01T11:00:00.000Z"),
    _event("a1", "join", "10:01:00", **A),
    _event("a2", "view_product", "10:02:00", product_id="p1", **A),
    _event("a3", "product_click", "10:03:00", product_id="p1", **A),
    _event("a4", "add_to_cart", "10:04:00", product_id="p1", price=12.5, quantity=2, **A),
    _event(
        "a5", "purchase", "10:13:00", product_id="p1", price=12.5, quantity=2, order_id="o1", **A
    ),
    _event("a6", "leave", "10:20:00", **A),
    _event("c1", "join", "10:20:30", **C),
    _event("b1", "join", "10:20:45", **B),
    _event("c2", "heartbeat", "10:22:00", **C),
    _event("b2", "view_product", "10:30:00", product_id="p2", **B),
    LIKE_B,
    LIKE_B,
    _event(
        "b4", "purchase", "10:45:00", product_id="p2", price=9.99, quantity=1, order_id="o2", **B
    ),
    _event("s1-end", "stream_end", "10:59:00"),
]

EXPECTED = {
    "total_sessions": 3,
    "unique_viewers": 2,
    "converted_sessions": 2,
    "conversion_rate": 2 / 3,
    # a, b and c all started before 10:29:30; a (10:20) and c (10:22) ended
    # before it, b is still open and has not dropped off.
    "drop_off_rate": 2 / 3,
    # closed sessions only: a 10:01:00-10:20:00 = 1140 s, c 10:20:30-10:22:00 = 90 s.
    "avg_session_duration_seconds": (1140 + 90) / 2,
    # a: 10:13 - click 10:03 = 600 s (its earlier view does not count when a
    # click exists); b has no click, so its view stands in: 10:45 - 10:30 = 900 s.
    "click_to_purchase_lag_mean_seconds": 750.0,
    "click_to_purchase_lag_median_seconds": 750.0,
    # a: view 1 + click 1.5 + cart 3 = 5.5; b: view 1 + one like 0.5 = 1.5; c: 0.
    "avg_engagement_score": 7 / 3,
    "purchases": 2,
    "revenue": Decimal("34.99"),
    # session events, the repeated like once: a 6, b 4, c 2.
    "events": 12,
    "as_of": "2026-03-01T10:59:00",
    "fct_sessions_rows": 3,
    # minutes with viewer events: 10:01, 10:02, 10:03, 10:04, 10:13 (v1), 10:20
    # (a's leave and c's join are both v1, b's join is v2: 2 viewers), 10:22 (v1),
    # 10:30, 10:40, 10:45 (v2): 10 rows, 9 x 1 + 2 = 11 viewers.
    "viewers_per_minute_rows": 10,
    "viewers_per_minute_sum": 11,
    # a's purchase in 10:13 (2 x 12.50 = 25.00) and b's in 10:45 (1 x 9.99); a's
    # add_to_cart carries a price but is no sale.
    "viewers_per_minute_purchases_sum": 2,
    "viewers_per_minute_revenue_sum": Decimal("34.99"),
}


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in EVENTS), encoding="utf-8")
    return path


def test_gold_figures_match_the_hand_worked_figures(events_file):
    result = gold_figures(events_file, SETTINGS)
    assert result["figures"] == pytest.approx(EXPECTED)
    assert result["seconds"] > 0


def test_compare_matches_numbers_equal_to_the_places_and_flags_the_others():
    duckdb = {"rate": 0.1234564, "revenue": Decimal("34.99"), "rows": 3, "as_of": "t"}
    spark = {"rate": 0.1234561, "revenue": Decimal("35.00"), "rows": 3, "extra": 1}
    assert compare(duckdb, spark, places=6) == {
        "rate": {"duckdb": 0.1234564, "spark": 0.1234561, "match": True},
        "revenue": {"duckdb": Decimal("34.99"), "spark": Decimal("35.00"), "match": False},
        "rows": {"duckdb": 3, "spark": 3, "match": True},
        "as_of": {"duckdb": "t", "spark": None, "match": False},
        "extra": {"duckdb": None, "spark": 1, "match": False},
    }
