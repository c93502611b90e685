"""Shared fixtures: one local SparkSession and one real Kafka broker per test run."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.broker import EmbeddedBroker, free_port

# A test session tuned for tiny frames: few shuffle partitions, no UI.
TEST_SPARK_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.streaming.stateStore.providerClass": (
        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
    ),
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.adaptive.enabled": "false",
    "spark.driver.memory": "2g",
}


@pytest.fixture(scope="session")
def spark():
    from lakehouse.spark import build_session

    session = build_session("lakehouse-tests", TEST_SPARK_CONF)
    session.sparkContext.setLogLevel("ERROR")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A real single-node KRaft broker on a free loopback port, for this test run only.

    LAKEHOUSE_TEST_KAFKA=host:port uses an already running broker instead.
    """
    external = os.environ.get("LAKEHOUSE_TEST_KAFKA")
    if external:
        host, port = external.rsplit(":", 1)
        yield EmbeddedBroker(data_dir=Path("/nonexistent"), host=host, port=int(port))
        return
    broker = EmbeddedBroker(
        data_dir=tmp_path_factory.mktemp("kafka"),
        port=free_port(),
        controller_port=free_port(),
        heap="384m",
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
