"""Gold job: silver/events and silver/sessions -> the gold tables.

Each micro-batch of new silver events recomputes what it touched:
gold/streams, gold/fct_sessions (the sessions of the touched streams),
gold/viewers_per_minute (the touched minutes), then gold/kpis and
gold/rfm_analysis. docs/metrics.md defines every figure. Checkpoint:
<root>/_checkpoints/gold_metrics.

Run:  scripts/submit.sh jobs/gold.py [--trigger available_now]
"""

import sys

from lakehouse.config import load_settings
from lakehouse.pipeline import Trigger, start_gold
from lakehouse.runner import await_queries, configure_logging, job_arguments
from lakehouse.spark import build_session


def main(argv: list[str] | None = None) -> int:
    args = job_arguments(__doc__, argv)
    configure_logging(args.log_level)
    settings = load_settings(args.conf)
    trigger = Trigger.from_settings(settings, args.trigger)
    if args.interval:
        trigger = Trigger(trigger.kind, args.interval)

    spark = build_session("lakehouse-gold")
    try:
        await_queries(start_gold(spark, settings, trigger))
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
