"""Simulate live-shopping shows and send their events to Kafka.

Reads:  conf/lakehouse.toml [simulator] (the model's knobs) and [kafka] (broker, topic,
        partitions); the options below override them.
Writes: the Kafka topic (default `live_events`), created with [kafka] partitions if it is
        missing; or, with --events-only-to-file, a JSON-lines file and no Kafka at all.

The simulated clock starts at --start-time. By default it starts so that the last show
ends about now: silver quarantines events dated more than a few minutes after they are
ingested, so a run must not send the future.

--live starts the shows now and sends each event when the wall clock reaches its
event_time, as a real show would: what a running pipeline and dashboard should be fed.
(Shows that ended in the past, sent to a pipeline that has already seen newer events,
fall behind its watermark and are dropped by the deduplication.)

Run:
    .venv/bin/python jobs/simulate.py
    .venv/bin/python jobs/simulate.py --seed 11 --rate 200
    .venv/bin/python jobs/simulate.py --live --streams 1 --stream-minutes 20
    .venv/bin/python jobs/simulate.py --events-only-to-file var/simulated.jsonl
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime

from lakehouse.config import Settings, load_settings
from lakehouse.producers.kafka_sink import KafkaUnavailableError, publish_events, write_jsonl
from lakehouse.producers.pacing import paced
from lakehouse.producers.simulator import SimulatorConfig, generate_events, simulated_span
from lakehouse.runner import add_producer_arguments, configure_logging

logger = logging.getLogger("jobs.simulate")


def _moment(text: str) -> datetime:
    """ISO-8601 date-time; without a zone it is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conf", help="settings file (default conf/lakehouse.toml)")
    parser.add_argument("--seed", type=int, help="random seed of the model")
    parser.add_argument("--streams", type=int, help="number of shows")
    parser.add_argument("--viewers", type=int, help="number of distinct viewers")
    parser.add_argument("--stream-minutes", type=float, help="planned length of a show")
    parser.add_argument("--sessions-per-viewer", type=float, help="mean sessions per viewer")
    parser.add_argument("--duplicate-ratio", type=float, help="share of events sent twice")
    parser.add_argument("--late-ratio", type=float, help="share of events sent late")
    parser.add_argument("--late-max-seconds", type=float, help="how late a late event can be")
    parser.add_argument(
        "--rate", type=float, help="events per second sent, 0 = unthrottled (conf: rate)"
    )
    parser.add_argument(
        "--start-time",
        type=_moment,
        help="ISO-8601 start of the simulated clock, e.g. 2026-12-01T18:00:00Z "
        "(default: so that the last show ends now)",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="start now and send each event at its event_time (real time)",
    )
    add_producer_arguments(parser)
    parser.add_argument("--log-level", default="INFO", help="Python log level")
    return parser.parse_args(argv)


def simulator_config(settings: Settings, args: argparse.Namespace) -> SimulatorConfig:
    """The [simulator] settings with the command line's overrides."""
    return SimulatorConfig.from_settings(
        settings.section("simulator"),
        seed=args.seed,
        streams=args.streams,
        viewers=args.viewers,
        stream_minutes=args.stream_minutes,
        sessions_per_viewer=args.sessions_per_viewer,
        duplicate_ratio=args.duplicate_ratio,
        late_ratio=args.late_ratio,
        late_max_seconds=args.late_max_seconds,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_level)
    settings = load_settings(args.conf)
    config = simulator_config(settings, args)
    start_time = args.start_time or (
        datetime.now(UTC) if args.live else datetime.now(UTC) - simulated_span(config)
    )

    events = generate_events(config, start_time)
    if args.live:
        events = paced(events, speedup=1.0)

    if args.events_only_to_file:
        write_jsonl(events, args.events_only_to_file)
        return 0

    topic = args.topic or settings.topic
    rate = settings.section("simulator").get("rate", 0) if args.rate is None else args.rate
    try:
        sent = publish_events(
            args.bootstrap_servers or settings.bootstrap_servers,
            topic,
            events,
            partitions=settings.section("kafka")["partitions"],
            rate=rate,
        )
    except KafkaUnavailableError as error:
        logger.error("%s", error)
        return 2
    logger.info(
        "sent %d simulated events (seed %d, %d streams from %s) to topic %s",
        sent,
        config.seed,
        config.streams,
        start_time.isoformat(timespec="seconds"),
        topic,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
