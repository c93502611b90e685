"""REES46 rows become contract events, bad rows included, and replays keep the data's pace."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lakehouse.config import PROJECT_DIR
from lakehouse.contract import FIELDS
from lakehouse.producers.pacing import paced
from lakehouse.producers.rees46 import iter_events, map_file, map_row, parse_source_time

REAL_CSV = PROJECT_DIR.parent / "shared" / "data" / "rees46-2019-oct-head" / "2019-Oct_head.csv"
HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
)
SESSION_A = "72d76fde-8bb3-4e00-8c23-a032dfed738c"
SESSION_B = "9333dfbd-b87a-4708-9857-6336556b0fcc"
# product_id, category_id, category_code, brand, price, user_id
COLUMNS_A = "44600062,2103807459595387724,,shiseido,35.79,541312140"
COLUMNS_B = "3900821,2053013552326770905,appliances.environment.water_heater,aqua,33.20,554748717"
# Lines 2 to 6 of the file; the last one is cut off after four digits of user_id.
ROWS = [
    f"2019-10-01 00:00:00 UTC,view,{COLUMNS_A},{SESSION_A}",
    f"2019-10-01 00:00:05 UTC,cart,{COLUMNS_A},{SESSION_A}",
    f"2019-10-01 00:02:30 UTC,purchase,{COLUMNS_A},{SESSION_A}",
    f"2019-10-01 00:03:00 UTC,wishlist,{COLUMNS_B},{SESSION_B}",
    "2019-10-01 00:04:00 UTC,view,1003769,2053013555631882655,electronics.smartphone,huawei,"
    "463.07,5298",
]
STREAM_ID = "rees46-2019-10-01"


def _event(**fields: Any) -> dict[str, Any]:
    event = dict.fromkeys(FIELDS)
    event.update(fields)
    return event


def _viewer_a(**fields: Any) -> dict[str, Any]:
    return _event(
        stream_id=STREAM_ID,
        session_id=SESSION_A,
        viewer_id="541312140",
        product_id="44600062",
        price=35.79,
        **fields,
    )


@pytest.fixture
def sample_csv(tmp_path: Path) -> Path:
    path = tmp_path / "rees46.csv"
    # CRLF line ends and no newline after the cut-off line, as in the real file.
    path.write_bytes("\r\n".join([HEADER, *ROWS]).encode("utf-8"))
    return path


def test_rows_map_to_contract_events_framed_by_one_stream(sample_csv):
    expected = [
        _event(
            event_id="rees46-2019-10-01-start",
            event_type="stream_start",
            event_time="2019-10-01T00:00:00.000Z",
            stream_id=STREAM_ID,
            scheduled_end="2019-10-01T00:04:00.000Z",
        ),
        _viewer_a(
            event_id="rees46-2", event_type="view_product", event_time="2019-10-01T00:00:00.000Z"
        ),
        _viewer_a(
            event_id="rees46-3",
            event_type="add_to_cart",
            event_time="2019-10-01T00:00:05.000Z",
            quantity=1,
        ),
        _viewer_a(
            event_id="rees46-4",
            event_type="purchase",
            event_time="2019-10-01T00:02:30.000Z",
            quantity=1,
            order_id="rees46-order-4",
        ),
        # An event type the contract does not know goes through unchanged.
        _event(
            event_id="rees46-5",
            event_type="wishlist",
            event_time="2019-10-01T00:03:00.000Z",
            stream_id=STREAM_ID,
            session_id=SESSION_B,
            viewer_id="554748717",
            product_id="3900821",
            price=33.2,
        ),
        # The cut-off row keeps what it has; it has no session.
        _event(
            event_id="rees46-6",
            event_type="view_product",
            event_time="2019-10-01T00:04:00.000Z",
            stream_id=STREAM_ID,
            viewer_id="5298",
            product_id="1003769",
            price=463.07,
        ),
        _event(
            event_id="rees46-2019-10-01-end",
            event_type="stream_end",
            event_time="2019-10-01T00:04:00.000Z",
            stream_id=STREAM_ID,
        ),
    ]

    assert map_file(sample_csv) == expected


def test_a_cut_off_row_is_sent_with_a_warning(sample_csv, caplog):
    with caplog.at_level(logging.WARNING, logger="lakehouse.producers.rees46"):
        events = map_file(sample_csv)

    assert events[-2]["event_id"] == "rees46-6"
    assert [record.levelname for record in caplog.records] == ["WARNING"]
    assert "line 6 does not have the 9 fields" in caplog.records[0].getMessage()


def test_limit_replays_the_first_rows_and_frames_them(sample_csv):
    events = map_file(sample_csv, limit=2)

    assert [(e["event_id"], e["event_time"]) for e in events] == [
        ("rees46-2019-10-01-start", "2019-10-01T00:00:00.000Z"),
        ("rees46-2", "2019-10-01T00:00:00.000Z"),
        ("rees46-3", "2019-10-01T00:00:05.000Z"),
        ("rees46-2019-10-01-end", "2019-10-01T00:00:05.000Z"),
    ]
    assert events[0]["scheduled_end"] == "2019-10-01T00:00:05.000Z"


def test_unreadable_values_are_passed_on_for_the_pipeline_to_quarantine():
    row = {
        "event_time": "yesterday",
        "event_type": "cart",
        "product_id": "1",
        "price": "n/a",
        "user_id": "7",
        "user_session": "",
    }

    assert map_row(row, 9, "s") == _event(
        event_id="rees46-9",
        event_type="add_to_cart",
        event_time="yesterday",
        stream_id="s",
        viewer_id="7",
        product_id="1",
        price="n/a",
        quantity=1,
    )


def test_parse_source_time_reads_the_utc_suffix():
    assert parse_source_time("2019-10-01 02:50:00 UTC") == datetime(2019, 10, 1, 2, 50, tzinfo=UTC)
    assert parse_source_time("2019-10-01") is None
    assert parse_source_time(None) is None


class _Clock:
    """A clock that only moves when slept on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _at(event_time: str | None) -> dict[str, Any]:
    return {"event_id": event_time, "event_time": event_time}


def test_paced_replays_each_gap_divided_by_the_speedup():
    clock = _Clock()
    events = [
        _at("2019-10-01T00:00:00.000Z"),
        _at("2019-10-01T00:00:10.000Z"),  # due 10 s / 10 = 1 s after the first
        _at("2019-10-01T00:00:05.000Z"),  # earlier than the one before: at once
        _at(None),  # no time: at once
        _at("2019-10-01T00:00:30.000Z"),  # due 3 s after the first, 2 s after the clock
    ]

    replayed = list(paced(events, 10.0, clock=clock.time, sleep=clock.sleep))

    assert replayed == events
    assert clock.sleeps == [1.0, 2.0]


def test_paced_with_speedup_zero_never_waits():
    clock = _Clock()
    events = [_at("2019-10-01T00:00:00.000Z"), _at("2019-10-01T01:00:00.000Z")]

    assert list(paced(events, 0, clock=clock.time, sleep=clock.sleep)) == events
    assert clock.sleeps == []


def test_paced_refuses_a_negative_speedup():
    with pytest.raises(ValueError, match="speedup must be >= 0"):
        list(paced([], -1.0))


@pytest.mark.skipif(not REAL_CSV.exists(), reason=f"REES46 sample not found at {REAL_CSV}")
def test_the_real_file_maps_every_row_and_its_cut_off_last_line():
    lines = REAL_CSV.read_text(encoding="utf-8").splitlines()[1:]
    complete = [line for line in lines if line.count(",") == 8]
    cut_off = [line for line in lines if line.count(",") < 8]

    events = list(iter_events(REAL_CSV))

    assert (len(complete), len(cut_off)) == (17434, 1)
    assert len(events) == len(complete) + len(cut_off) + 2
    assert [events[0]["event_type"], events[-1]["event_type"]] == ["stream_start", "stream_end"]
    assert events[0]["scheduled_end"] == events[-1]["event_time"] == "2019-10-01T02:50:00.000Z"
    assert events[-2]["event_id"] == "rees46-17436"
    assert events[-2]["session_id"] is None
    assert all(event["session_id"] for event in events[1:-2])
    counts = {t: sum(e["event_type"] == t for e in events) for t in ("view_product", "add_to_cart")}
    assert counts == {"view_product": 17056, "add_to_cart": 165}
    assert sum(e["order_id"] is not None for e in events) == 214
