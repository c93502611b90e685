"""All layers in one Spark application: Kafka -> bronze -> silver -> gold.

The same queries as jobs/bronze.py, jobs/silver.py and jobs/gold.py, in one
driver: the cheapest way to run the whole pipeline on a single machine.

--trigger available_now runs bronze, then silver, then gold over what Kafka
holds now, and stops (catch-up). --trigger processing_time starts every
query at once and runs until stopped (live), with the live query from Kafka
to gold/live_activity beside them (conf [live], lakehouse/live.py).

Run:  scripts/submit.sh jobs/pipeline.py [--trigger available_now]
"""

import sys

from lakehouse.config import load_settings
from lakehouse.pipeline import (
    LiveSettings,
    Trigger,
    report_progress,
    run_available_now,
    start_bronze,
    start_gold,
    start_live,
    start_silver,
)
from lakehouse.runner import await_queries, configure_logging, job_arguments
from lakehouse.spark import build_session


def main(argv: list[str] | None = None) -> int:
    args = job_arguments(__doc__, argv)
    configure_logging(args.log_level)
    settings = load_settings(args.conf)
    trigger = Trigger.from_settings(settings, args.trigger, args.interval)

    spark = build_session("lakehouse-pipeline")
    try:
        report_progress(spark, settings)
        if trigger.kind == "available_now":
            run_available_now(spark, settings)
        else:
            # Without it here, jobs/live.py runs the live query as an application of its own.
            live = LiveSettings.from_settings(settings).enabled
            queries = [
                *(start_live(spark, settings, trigger) if live else []),
                *start_bronze(spark, settings, trigger),
                *start_silver(spark, settings, trigger),
                *start_gold(spark, settings, trigger),
            ]
            await_queries(queries)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
