"""Replay the REES46 e-commerce clickstream to Kafka as one live stream.

Reads:  a REES46 CSV (default ../shared/data/rees46-2019-oct-head/2019-Oct_head.csv,
        relative to the project folder) and conf/lakehouse.toml [kafka].
Writes: the Kafka topic (default `live_events`), created with [kafka] partitions if it is
        missing; or, with --events-only-to-file, a JSON-lines file and no Kafka at all.

docs/replay.md has the mapping. The file's cut-off last line is sent as it is, with a
warning, so that it ends up in silver/quarantine.

Run:
    .venv/bin/python jobs/replay_rees46.py                 # as fast as possible
    .venv/bin/python jobs/replay_rees46.py --speedup 60    # 1 hour of data in 1 minute
    .venv/bin/python jobs/replay_rees46.py --limit 100 --events-only-to-file var/rees46.jsonl
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from lakehouse.config import PROJECT_DIR, load_settings
from lakehouse.producers.kafka_sink import KafkaUnavailableError, publish_events, write_jsonl
from lakehouse.producers.pacing import paced
from lakehouse.producers.rees46 import iter_events
from lakehouse.runner import add_producer_arguments, configure_logging

logger = logging.getLogger("jobs.replay_rees46")

DEFAULT_CSV = PROJECT_DIR.parent / "shared" / "data" / "rees46-2019-oct-head" / "2019-Oct_head.csv"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conf", help="settings file (default conf/lakehouse.toml)")
    parser.add_argument(
        "--csv", type=Path, default=DEFAULT_CSV, help=f"REES46 CSV (default {DEFAULT_CSV})"
    )
    parser.add_argument(
        "--speedup",
        type=float,
        default=0.0,
        help="replay gaps between events divided by this; 0 = as fast as possible (default)",
    )
    parser.add_argument("--limit", type=int, help="replay only the first N rows")
    add_producer_arguments(parser)
    parser.add_argument("--log-level", default="INFO", help="Python log level")
    args = parser.parse_args(argv)
    if args.speedup < 0:
        parser.error("--speedup must be >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_level)
    settings = load_settings(args.conf)

    events = iter_events(args.csv, limit=args.limit)

    if args.events_only_to_file:
        write_jsonl(events, args.events_only_to_file)
        return 0

    topic = args.topic or settings.topic
    try:
        sent = publish_events(
            args.bootstrap_servers or settings.bootstrap_servers,
            topic,
            paced(events, args.speedup),
            partitions=settings.section("kafka")["partitions"],
        )
    except KafkaUnavailableError as error:
        logger.error("%s", error)
        return 2
    logger.info(
        "replayed %d events from %s to topic %s (speedup %s)",
        sent,
        args.csv,
        topic,
        args.speedup or "none",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
