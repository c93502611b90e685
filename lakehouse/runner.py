"""What every streaming job shares: its arguments, logging, and waiting on its queries."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger(__name__)


def job_arguments(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """--conf, --trigger and --interval, common to the streaming jobs."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conf", help="settings file (default conf/lakehouse.toml)")
    parser.add_argument(
        "--trigger",
        choices=["processing_time", "available_now"],
        help="processing_time runs until stopped; available_now processes what is there, "
        "then stops (default: conf [streaming] trigger)",
    )
    parser.add_argument("--interval", help="micro-batch interval, e.g. '5 seconds'")
    parser.add_argument("--log-level", default="INFO", help="Python log level")
    return parser.parse_args(argv)


def add_producer_arguments(parser: argparse.ArgumentParser) -> None:
    """Where a producer sends: --bootstrap-servers, --topic, or --events-only-to-file."""
    parser.add_argument("--bootstrap-servers", help="Kafka host:port[,host:port]")
    parser.add_argument("--topic", help="Kafka topic (default: conf [kafka] topic)")
    parser.add_argument(
        "--events-only-to-file",
        metavar="PATH",
        help="write the events as JSON lines to PATH instead of sending them",
    )


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # py4j logs every JVM call at INFO.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    # kafka-python logs each refused connection while it retries; the caller
    # reports an unreachable broker once, in its own words.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)


def await_queries(queries: list[StreamingQuery], poll_seconds: float = 2.0) -> None:
    """Wait until every query ends; the first failure stops the others and is raised."""
    try:
        running = list(queries)
        while running:
            for query in list(running):
                if not query.isActive:
                    query.awaitTermination()  # raises the query's error, if any
                    log.info("query %s finished", query.name)
                    running.remove(query)
            if running:
                time.sleep(poll_seconds)
    finally:
        for query in queries:
            if query.isActive:
                query.stop()


class StepTimes:
    """Wall seconds of the named steps of one micro-batch, for its log line.

    Spark is lazy: a step is charged for the work its actions start, which
    may include transformations declared in an earlier step.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.seconds.items())
