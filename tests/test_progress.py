"""Tests of lakehouse/progress.py: the record of a progress, the files, and a real query."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse import progress
from lakehouse.config import Settings, load_settings

# A progress as Spark writes it (StreamingQueryProgress.json), trimmed to the keys read.
SPARK_PROGRESS = {
    "id": "6c1e0cf4-0000-4000-8000-000000000001",
    "runId": "9a7b3c2d-0000-4000-8000-000000000002",
    "name": "silver_events",
    "timestamp": "2026-12-04T15:00:10.000Z",
    "batchId": 41,
    "batchDuration": 2500,
    "numInputRows": 1200,
    "inputRowsPerSecond": 120.0,
    "processedRowsPerSecond": 480.0,
    "durationMs": {"addBatch": 2100, "getBatch": 3, "triggerExecution": 2500},
    "eventTime": {"max": "2026-12-04T14:59:58.000Z", "watermark": "2026-12-04T14:49:58.000Z"},
    "stateOperators": [{"numRowsTotal": 700}, {"numRowsTotal": 55}],
    "sources": [],
    "sink": {},
}


def wait_for(condition, seconds: float = 60.0):
    """Poll `condition` until it returns something truthy; listener events arrive async."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {seconds} s")


def test_progress_record_takes_the_fields_the_dashboard_shows():
    assert progress.progress_record(SPARK_PROGRESS) == {
        "name": "silver_events",
        "id": "6c1e0cf4-0000-4000-8000-000000000001",
        "run_id": "9a7b3c2d-0000-4000-8000-000000000002",
        "batch_id": 41,
        "timestamp": "2026-12-04T15:00:10.000Z",
        "input_rows_per_second": 120.0,
        "processed_rows_per_second": 480.0,
        "num_input_rows": 1200,
        "batch_duration_ms": 2500,
        "watermark": "2026-12-04T14:49:58.000Z",
        "state_rows": 755,
    }


def test_progress_record_of_a_first_batch_without_rates_watermark_or_state():
    # Spark leaves NaN rates out of the JSON; a stateless query has no stateOperators.
    first = {
        key: value
        for key, value in SPARK_PROGRESS.items()
        if key not in ("inputRowsPerSecond", "stateOperators")
    }
    first.update(eventTime={}, processedRowsPerSecond=float("nan"), name=None)

    record = progress.progress_record(first)

    assert record["input_rows_per_second"] is None
    assert record["processed_rows_per_second"] is None
    assert record["watermark"] is None
    assert record["state_rows"] == 0
    assert record["name"] is None


@pytest.mark.parametrize(
    ("name", "stem"),
    [("gold_metrics", "gold_metrics"), ("a/b c", "a_b_c"), ("..hidden", "hidden"), ("", "_")],
)
def test_file_stem_keeps_names_inside_the_folder(name, stem):
    assert progress.file_stem(name) == stem


def test_write_json_atomically_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "progress" / "q.json"

    progress.write_json_atomically(target, {"batch_id": 1})
    progress.write_json_atomically(target, {"batch_id": 2})

    assert json.loads(target.read_text()) == {"batch_id": 2}
    assert [path.name for path in target.parent.iterdir()] == ["q.json"]


def test_read_progress_sorts_by_name_and_skips_temporaries_and_broken_files(tmp_path):
    (tmp_path / "b.json").write_text(json.dumps({"name": "silver_events", "batch_id": 3}))
    (tmp_path / "a.json").write_text(json.dumps({"name": "gold_metrics", "batch_id": 7}))
    (tmp_path / ".a.json.123.tmp").write_text("{")
    (tmp_path / ".c.json").write_text("{}")
    (tmp_path / "broken.json").write_text("{not json")

    assert progress.read_progress(str(tmp_path)) == [
        {"name": "gold_metrics", "batch_id": 7},
        {"name": "silver_events", "batch_id": 3},
    ]


def test_read_progress_of_a_missing_folder_is_empty(tmp_path):
    assert progress.read_progress(str(tmp_path / "_progress")) == []


def test_progress_dir_is_under_the_storage_root():
    assert progress.progress_dir("/data/lakehouse/") == "/data/lakehouse/_progress"


def test_progress_folder_defaults_to_the_storage_root_unless_configured():
    settings = load_settings().with_overrides(root="/data/lakehouse")
    configured = Settings({**settings.raw, "streaming": {"progress_dir": "/var/progress"}})

    assert progress.progress_folder(settings) == "/data/lakehouse/_progress"
    assert progress.progress_folder(configured) == "/var/progress"


@pytest.mark.parametrize(
    ("folder", "local"),
    [("/data/_progress", True), ("file:///data/_progress", True), ("s3a://b/_progress", False)],
)
def test_is_local(folder, local):
    assert progress.is_local(folder) is local


def test_register_refuses_object_storage(spark):
    with pytest.raises(ValueError, match="local folder"):
        progress.register_progress_listener(spark, "s3://bucket/lakehouse/_progress")


def read_record(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def test_listener_writes_the_latest_progress_of_a_real_query_and_its_end(spark, tmp_path):
    """Three events in two one-minute windows, a 10-minute watermark, a memory sink.

    Batch 0 reads the three rows; Spark then runs batch 1 without data because the watermark
    moved to the newest event time (12:01:05) minus 10 minutes. Nothing is old enough to be
    evicted, so both windows stay in the state.
    """
    source = tmp_path / "events"
    source.mkdir()
    lines = [
        {"event_time": "2026-12-04T12:00:10Z", "viewer_id": "v1"},
        {"event_time": "2026-12-04T12:00:40Z", "viewer_id": "v2"},
        {"event_time": "2026-12-04T12:01:05Z", "viewer_id": "v1"},
    ]
    (source / "part-0.json").write_text("\n".join(json.dumps(line) for line in lines))
    folder = tmp_path / "_progress"
    listener = progress.register_progress_listener(spark, str(folder))
    query = None
    try:
        events = (
            spark.readStream.schema("event_time timestamp, viewer_id string")
            .json(str(source))
            .withWatermark("event_time", "10 minutes")
        )
        windows = events.groupBy(F.window("event_time", "1 minute")).count()
        query = (
            windows.writeStream.format("memory")
            .queryName("progress_test")
            .outputMode("append")
            .option("checkpointLocation", str(tmp_path / "checkpoint"))
            .start()
        )
        query.processAllAvailable()
        path = folder / "progress_test.json"

        record = wait_for(lambda: (r := read_record(path)) and r["batch_id"] == 1 and r)

        last = query.lastProgress
        assert {key: record[key] for key in progress.PROGRESS_FIELDS} == {
            "name": "progress_test",
            "id": str(query.id),
            "run_id": str(query.runId),
            "batch_id": 1,
            "timestamp": last["timestamp"],
            "input_rows_per_second": 0.0,
            "processed_rows_per_second": 0.0,
            "num_input_rows": 0,
            "batch_duration_ms": last["durationMs"]["triggerExecution"],
            "watermark": "2026-12-04T11:51:05.000Z",
            "state_rows": 2,
        }
        assert last["batchId"] == 1
        assert record["terminated_at"] is None
        assert sorted(p.name for p in folder.iterdir()) == ["progress_test.json"]

        query.stop()
        stopped = wait_for(lambda: (r := read_record(path)) and r["terminated_at"] and r)
        assert stopped["exception"] is None
        assert stopped["batch_id"] == 1
    finally:
        if query is not None and query.isActive:
            query.stop()
        spark.streams.removeListener(listener)
