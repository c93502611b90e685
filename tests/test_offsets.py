"""Unit tests of lakehouse/offsets.py: where bronze resumes, and which offsets were lost."""

from __future__ import annotations

from lakehouse.offsets import describe, lost_ranges, resume_offsets

METADATA = '{"batchWatermarkMs":0,"batchTimestampMs":1,"conf":{}}'


def write_checkpoint(folder, offsets: dict[int, str], committed: list[int]) -> str:
    (folder / "offsets").mkdir()
    (folder / "commits").mkdir()
    for batch, source in offsets.items():
        (folder / "offsets" / str(batch)).write_text(f"v1\n{METADATA}\n{source}\n")
    for batch in committed:
        (folder / "commits" / str(batch)).write_text('v1\n{"nextBatchWatermarkMs":0}\n')
    return str(folder)


def test_bronze_resumes_from_the_end_of_its_newest_committed_batch(tmp_path):
    checkpoint = write_checkpoint(
        tmp_path,
        {0: '{"t":{"0":10,"1":4}}', 1: '{"t":{"0":25,"1":9}}', 2: '{"t":{"0":40,"1":12}}'},
        committed=[0, 1],
    )

    # Batch 2 was planned but not committed: it runs again from batch 1's end.
    assert resume_offsets(checkpoint, "t") == {0: 25, 1: 9}


def test_a_checkpoint_without_a_committed_batch_resumes_from_nothing(tmp_path):
    checkpoint = write_checkpoint(tmp_path, {0: '{"t":{"0":10}}'}, committed=[])

    assert resume_offsets(checkpoint, "t") is None
    assert resume_offsets(str(tmp_path / "absent"), "t") is None


def test_lost_ranges_are_the_offsets_between_resume_and_the_earliest_kept():
    lost = lost_ranges({0: 25, 1: 9, 2: 3}, {0: 30, 1: 9, 2: 0})

    assert lost == {0: (25, 29)}
    assert describe("t", lost) == (
        "Kafka no longer holds 5 messages of topic t that bronze has not read "
        "(partition 0: offsets 25-29): retention deleted them or the topic was recreated"
    )
