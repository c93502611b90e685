"""Tests of lakehouse/sink.py: every write is safe to repeat for the same micro-batch."""

from __future__ import annotations

import pytest

from lakehouse.sink import append_once, merge_upsert, read_table

SCHEMA = "session_id string, events long, last_event_at string"


def rows(spark, path: str) -> list[tuple]:
    return sorted(tuple(row) for row in read_table(spark, path).collect())


def test_append_once_skips_a_batch_id_already_committed(spark, tmp_path):
    path = str(tmp_path / "events")
    batch = spark.createDataFrame([("a", 1, "10:00")], SCHEMA)

    for _ in range(2):
        append_once(batch, path, "test_app", batch_id=0)
    append_once(batch, path, "test_app", batch_id=1)

    assert rows(spark, path) == [("a", 1, "10:00"), ("a", 1, "10:00")]


def test_a_merge_keeps_the_newest_of_several_rows_for_one_key(spark, tmp_path):
    path = str(tmp_path / "sessions")
    merge_upsert(spark.createDataFrame([("a", 1, "10:00")], SCHEMA), path, ["session_id"])
    batch = spark.createDataFrame(
        [("a", 3, "10:05"), ("a", 2, "10:02"), ("b", 1, "10:01"), ("b", 9, "10:01")], SCHEMA
    )

    merge_upsert(batch, path, ["session_id"], newest_by="last_event_at")
    first = rows(spark, path)
    merge_upsert(batch, path, ["session_id"], newest_by="last_event_at")

    # b's two rows tie on last_event_at: the greater row as JSON ("events":9) wins.
    assert first == [("a", 3, "10:05"), ("b", 9, "10:01")]
    assert rows(spark, path) == first


def test_a_merge_of_duplicate_keys_without_newest_by_is_refused_not_guessed(spark, tmp_path):
    path = str(tmp_path / "sessions")
    merge_upsert(spark.createDataFrame([("a", 1, "10:00")], SCHEMA), path, ["session_id"])
    batch = spark.createDataFrame([("a", 3, "10:05"), ("a", 2, "10:02")], SCHEMA)

    with pytest.raises(Exception, match="DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE"):
        merge_upsert(batch, path, ["session_id"])


def test_a_merge_adds_a_new_column_to_an_existing_table(spark, tmp_path):
    path = str(tmp_path / "sessions")
    merge_upsert(
        spark.createDataFrame([("a", 1, "10:00"), ("b", 2, "10:01")], SCHEMA), path, ["session_id"]
    )
    batch = spark.createDataFrame([("a", 3, "10:05", 7)], SCHEMA + ", purchases long")

    merge_upsert(batch, path, ["session_id"])

    # The row the MERGE did not touch holds null in the new column.
    assert read_table(spark, path).columns == ["session_id", "events", "last_event_at", "purchases"]
    assert rows(spark, path) == [("a", 3, "10:05", 7), ("b", 2, "10:01", None)]
