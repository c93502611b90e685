"""Data loss in Kafka: offsets bronze has not read that the topic no longer holds.

Kafka deletes messages when the topic's retention passes, whether or not
bronze has read them. Before bronze starts, this compares where bronze's
checkpoint will go on from with the earliest offset each partition still
holds. A gap means messages were lost: with conf [kafka] fail_on_data_loss
(the default) bronze stops with KafkaDataLossError naming the offsets, and
records the error where the dashboard's Pipeline health page reads query
progress; otherwise it logs the gap and goes on from what is left.

Spark's own failOnDataLoss check stays on as well. In Spark 4.1.1 its error
can be masked by a NullPointerException in the Kafka source's metrics
(apache/spark#55236); this check runs first and says what happened.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from lakehouse.kafka_options import KafkaSecurity
from lakehouse.progress import is_local, write_json_atomically

log = logging.getLogger(__name__)


class KafkaDataLossError(RuntimeError):
    """Kafka no longer holds messages that bronze has not read yet."""


def resume_offsets(checkpoint: str, topic: str) -> dict[int, int] | None:
    """Per partition, the offset the query goes on from; None before its first batch.

    That is the end of the newest committed batch: a batch planned but not
    committed is run again from there. Only a checkpoint on a local path is read.
    """
    folder = Path(checkpoint.removeprefix("file://"))
    commits = folder / "commits"
    if not is_local(checkpoint) or not commits.is_dir():
        return None
    committed = sorted(int(path.name) for path in commits.iterdir() if path.name.isdigit())
    if not committed:
        return None
    # offsets/<n>: a version line, the batch's metadata, then one JSON line per source.
    lines = (folder / "offsets" / str(committed[-1])).read_text().splitlines()
    for line in lines[2:]:
        source = json.loads(line)
        if topic in source:
            return {int(partition): int(offset) for partition, offset in source[topic].items()}
    return None


def earliest_offsets(bootstrap_servers: str, topic: str, security: KafkaSecurity) -> dict[int, int]:
    """The first offset each partition of the topic still holds."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers.split(","), **security.client_kwargs()
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        beginnings = consumer.beginning_offsets(partitions)
    finally:
        consumer.close()
    return {tp.partition: offset for tp, offset in beginnings.items()}


def lost_ranges(resume: dict[int, int], earliest: dict[int, int]) -> dict[int, tuple[int, int]]:
    """Partition -> [first, last] offsets lost: bronze would resume before what Kafka holds."""
    return {
        partition: (offset, earliest[partition] - 1)
        for partition, offset in sorted(resume.items())
        if partition in earliest and earliest[partition] > offset
    }


def describe(topic: str, lost: dict[int, tuple[int, int]]) -> str:
    ranges = ", ".join(f"partition {p}: offsets {a}-{b}" for p, (a, b) in lost.items())
    count = sum(b - a + 1 for a, b in lost.values())
    return (
        f"Kafka no longer holds {count} messages of topic {topic} that bronze has not read "
        f"({ranges}): retention deleted them or the topic was recreated"
    )


def record_failure(progress_dir: str, query_name: str, message: str) -> None:
    """Mark the query as failed in its progress file, for the dashboard's health page."""
    if not is_local(progress_dir):
        return
    path = Path(progress_dir.removeprefix("file://")) / f"{query_name}.json"
    record: dict[str, Any] = {}
    if path.exists():
        record = json.loads(path.read_text())
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record.update(name=query_name, terminated_at=now, reported_at=now, exception=message)
    write_json_atomically(path, record)


def check_no_data_loss(
    checkpoint: str,
    bootstrap_servers: str,
    topic: str,
    security: KafkaSecurity,
    fail: bool,
    progress_dir: str,
    query_name: str,
) -> dict[int, tuple[int, int]]:
    """Raise KafkaDataLossError (fail) or log a warning when messages were lost; return them."""
    resume = resume_offsets(checkpoint, topic)
    if resume is None:
        return {}
    lost = lost_ranges(resume, earliest_offsets(bootstrap_servers, topic, security))
    if not lost:
        return {}
    message = describe(topic, lost)
    if fail:
        message += (
            ". Bronze stops rather than skip them without a trace; record the gap, then set "
            "conf [kafka] fail_on_data_loss = false to go on from the first offset left."
        )
        log.error("%s", message)
        record_failure(progress_dir, query_name, message)
        raise KafkaDataLossError(message)
    log.warning("%s; going on from the first offset left (fail_on_data_loss = false)", message)
    return lost
