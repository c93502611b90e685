"""Sending events to Kafka with kafka-python, or to a JSON-lines file for inspection.

Each event goes out as one message: key = lakehouse.contract.message_key(event) in UTF-8
(the session, or the stream for stream events), value = the event as JSON in UTF-8.

Typical use:

    ensure_topic(servers, topic, partitions=3)
    with create_producer(servers) as producer:
        sent = send_events(producer, topic, events, rate=200)

publish_events() does the three steps in one call; send_raw() sends bytes as given, for
tests that need malformed messages.

TLS and SASL (lakehouse.kafka_options) come from the LAKEHOUSE_KAFKA_* environment and
conf [kafka.security] unless a KafkaSecurity is passed in.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaConnectionError, KafkaTimeoutError, TopicAlreadyExistsError

from lakehouse.config import load_settings
from lakehouse.contract import message_key
from lakehouse.kafka_options import KafkaSecurity

logger = logging.getLogger(__name__)

CLIENT_ID = "lakehouse-producer"
PROGRESS_EVERY = 10_000


class Producer(Protocol):
    """What send_events() and send_raw() need of a KafkaProducer."""

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> Any: ...

    def flush(self, timeout: float | None = None) -> None: ...


def _security_kwargs(security: KafkaSecurity | None) -> dict[str, Any]:
    """kafka-python's TLS/SASL arguments; None reads them from the settings and environment."""
    if security is None:
        security = KafkaSecurity.from_settings(load_settings())
    return security.client_kwargs()


def create_producer(
    bootstrap_servers: str, client_id: str = CLIENT_ID, security: KafkaSecurity | None = None
) -> KafkaProducer:
    """A KafkaProducer that waits for every in-sync replica and retries transient errors.

    Retries stay idempotent on the broker side, so they add no duplicates of their own;
    the simulator's duplicates are separate sends and do reach the topic twice.
    """
    return KafkaProducer(
        bootstrap_servers=bootstrap_servers.split(","),
        client_id=client_id,
        acks="all",
        retries=5,
        linger_ms=20,
        **_security_kwargs(security),
    )


class KafkaUnavailableError(RuntimeError):
    """No broker answered at the configured address."""


def ensure_topic(
    bootstrap_servers: str,
    topic: str,
    partitions: int,
    replication_factor: int = 1,
    security: KafkaSecurity | None = None,
) -> bool:
    """Create the topic with that many partitions unless it exists; True if it was created.

    An existing topic is left as it is, whatever its number of partitions.
    """
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers.split(","),
            client_id=CLIENT_ID,
            **_security_kwargs(security),
        )
    except (KafkaConnectionError, KafkaTimeoutError) as error:
        raise KafkaUnavailableError(
            f"cannot reach Kafka at {bootstrap_servers} ({error}). Is the broker running? "
            "`make broker-start` starts the embedded one; LAKEHOUSE_KAFKA_BOOTSTRAP names another."
        ) from error
    try:
        admin.create_topics(
            {topic: {"num_partitions": partitions, "replication_factor": replication_factor}},
            wait_for_metadata=True,
        )
    except TopicAlreadyExistsError:
        logger.info("topic %s already exists", topic)
        return False
    finally:
        admin.close()
    logger.info("created topic %s with %d partitions", topic, partitions)
    return True


def encode_event(event: dict[str, Any]) -> tuple[bytes | None, bytes]:
    """(key, value) bytes of one event's message."""
    key = message_key(event)
    # allow_nan=False: NaN is not JSON, better to fail here than in every consumer.
    value = json.dumps(event, allow_nan=False).encode("utf-8")
    return (key.encode("utf-8") if key is not None else None), value


def seconds_to_wait(sent: int, rate: float, elapsed: float) -> float:
    """How long to wait before the next message to keep `sent` messages to `rate` per second.

    Message number n (from 0) is due n / rate seconds after the first; rate 0 means no limit.
    """
    if rate <= 0:
        return 0.0
    return max(0.0, sent / rate - elapsed)


def _send_all(
    producer: Producer,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes | None]],
    rate: float,
    progress_every: int,
) -> int:
    """Send, then flush; raise if the broker refused any message."""
    failures: list[BaseException] = []
    started = time.monotonic()
    sent = 0
    for key, value in messages:
        wait = seconds_to_wait(sent, rate, time.monotonic() - started)
        if wait > 0:
            time.sleep(wait)
        producer.send(topic, key=key, value=value).add_errback(failures.append)
        sent += 1
        if progress_every > 0 and sent % progress_every == 0:
            logger.info("sent %d messages to %s", sent, topic)
    producer.flush()
    if failures:
        raise RuntimeError(f"{len(failures)} of {sent} messages to {topic} failed: {failures[0]!r}")
    logger.info("sent %d messages to %s in %.1f s", sent, topic, time.monotonic() - started)
    return sent


def send_events(
    producer: Producer,
    topic: str,
    events: Iterable[dict[str, Any]],
    rate: float = 0.0,
    progress_every: int = PROGRESS_EVERY,
) -> int:
    """Send events (rate: events per second, 0 = unthrottled), flush, return the count sent."""
    messages = (encode_event(event) for event in events)
    return _send_all(producer, topic, messages, rate, progress_every)


def send_raw(
    producer: Producer,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes | None]],
) -> int:
    """Send (key, value) byte pairs exactly as given, e.g. malformed JSON; flush, return count."""
    return _send_all(producer, topic, messages, rate=0.0, progress_every=PROGRESS_EVERY)


def publish_events(
    bootstrap_servers: str,
    topic: str,
    events: Iterable[dict[str, Any]],
    partitions: int,
    rate: float = 0.0,
    security: KafkaSecurity | None = None,
) -> int:
    """Ensure the topic, send the events with a fresh producer, close it; return the count."""
    ensure_topic(bootstrap_servers, topic, partitions, security=security)
    with create_producer(bootstrap_servers, security=security) as producer:
        return send_events(producer, topic, events, rate=rate)


def write_jsonl(events: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write each event's message value as one line of a file instead of sending it."""
    count = 0
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as handle:
        for event in events:
            handle.write(encode_event(event)[1].decode("utf-8") + "\n")
            count += 1
    logger.info("wrote %d events to %s", count, target)
    return count
