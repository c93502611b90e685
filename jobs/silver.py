"""Silver job: bronze/events -> silver/events, silver/sessions and silver/quarantine.

Two queries. silver_events parses and validates each message, drops repeated
event_ids (state bounded by the watermark), rebuilds the sessions the batch
touched in silver/sessions, then appends the events to silver/events.
silver_quarantine writes every message that failed a rule to
silver/quarantine with the rule's name. Checkpoints:
<root>/_checkpoints/silver_events and <root>/_checkpoints/silver_quarantine.

Run:  scripts/submit.sh jobs/silver.py [--trigger available_now]
"""

import sys

from lakehouse.config import load_settings
from lakehouse.pipeline import Trigger, start_silver
from lakehouse.runner import await_queries, configure_logging, job_arguments
from lakehouse.spark import build_session


def main(argv: list[str] | None = None) -> int:
    args = job_arguments(__doc__, argv)
    configure_logging(args.log_level)
    settings = load_settings(args.conf)
    trigger = Trigger.from_settings(settings, args.trigger)
    if args.interval:
        trigger = Trigger(trigger.kind, args.interval)

    spark = build_session("lakehouse-silver")
    try:
        await_queries(start_silver(spark, settings, trigger))
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
