"""Kafka deleting messages bronze has not read yet: a loud stop, shown on the dashboard.

Bronze reads offsets 0-9, then ten more messages arrive and the first five of
them are deleted before bronze runs again, as retention would delete them
while bronze is down. With fail_on_data_loss (the default) bronze must refuse to
start with an error naming the lost offsets, and its progress file must say
so for the dashboard's Pipeline health page. With the setting off, bronze goes on
from the first offset left.
"""

from __future__ import annotations

import copy

import pytest
from kafka import KafkaAdminClient, TopicPartition

from lakehouse import config
from lakehouse.config import Settings, load_settings
from lakehouse.offsets import KafkaDataLossError
from lakehouse.pipeline import Trigger, start_bronze
from lakehouse.producers.kafka_sink import create_producer, ensure_topic, send_raw
from lakehouse.progress import progress_folder, read_progress
from lakehouse.runner import await_queries
from lakehouse.sink import read_table

pytestmark = pytest.mark.slow

TOPIC = "lossy_events"


def send(settings: Settings, first: int, count: int) -> None:
    messages = [(b"k", f'{{"n": {n}}}'.encode()) for n in range(first, first + count)]
    with create_producer(settings.bootstrap_servers) as producer:
        send_raw(producer, TOPIC, messages)


def bronze_offsets(spark, settings: Settings) -> list[int]:
    bronze = read_table(spark, settings.table(config.BRONZE_EVENTS))
    return sorted(row.offset for row in bronze.select("offset").collect())


@pytest.fixture(scope="module")
def lossy(spark, kafka_broker, tmp_path_factory):
    settings = load_settings().with_overrides(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        topic=TOPIC,
        root=str(tmp_path_factory.mktemp("lake")),
    )
    ensure_topic(settings.bootstrap_servers, TOPIC, partitions=1)
    send(settings, 0, 10)
    await_queries(start_bronze(spark, settings, Trigger("available_now")))
    send(settings, 10, 10)
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        admin.delete_records({TopicPartition(TOPIC, 0): 15})
    finally:
        admin.close()
    return settings


def test_bronze_stops_with_an_error_naming_the_lost_offsets(spark, lossy):
    with pytest.raises(KafkaDataLossError) as raised:
        start_bronze(spark, lossy, Trigger("available_now"))

    records = {r["name"]: r for r in read_progress(progress_folder(lossy))}
    # Bronze had read offsets 0-9; Kafka now starts at 15, so 10-14 are gone.
    assert str(raised.value).startswith(
        "Kafka no longer holds 5 messages of topic lossy_events that bronze has not read "
        "(partition 0: offsets 10-14)"
    )
    assert records["bronze_events"]["exception"] == str(raised.value)
    assert bronze_offsets(spark, lossy) == list(range(10))


def test_with_fail_on_data_loss_off_bronze_goes_on_from_the_first_offset_left(spark, lossy):
    raw = copy.deepcopy(lossy.raw)
    raw["kafka"]["fail_on_data_loss"] = False

    await_queries(start_bronze(spark, Settings(raw), Trigger("available_now")))

    assert bronze_offsets(spark, lossy) == [*range(10), *range(15, 20)]
