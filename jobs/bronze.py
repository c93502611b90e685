"""Bronze job: Kafka topic `live_events` -> Delta table bronze/events.

Every message lands as received (key, raw value bytes, topic, partition,
offset, Kafka timestamp, ingest time); nothing is parsed or dropped.
Exactly once through the query's checkpoint <root>/_checkpoints/bronze_events.

Run:  scripts/submit.sh jobs/bronze.py [--trigger available_now]
"""

import sys

from lakehouse.config import load_settings
from lakehouse.pipeline import Trigger, start_bronze
from lakehouse.runner import await_queries, configure_logging, job_arguments
from lakehouse.spark import build_session


def main(argv: list[str] | None = None) -> int:
    args = job_arguments(__doc__, argv)
    configure_logging(args.log_level)
    settings = load_settings(args.conf)
    trigger = Trigger.from_settings(settings, args.trigger)
    if args.interval:
        trigger = Trigger(trigger.kind, args.interval)

    spark = build_session("lakehouse-bronze")
    try:
        await_queries(start_bronze(spark, settings, trigger))
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
