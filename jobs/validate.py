"""Validate job: every Great Expectations suite over the whole current tables.

Reads silver/events, silver/quarantine, silver/sessions and the gold tables
that exist, runs their suites (lakehouse/quality.py), appends the results to
gold/data_quality with source "validate", and writes GE's data docs (HTML)
under <root>/_quality/gx/uncommitted/data_docs/. Exits with 1 when a suite
whose conf [quality.on_failure] action is "stop" failed, 0 otherwise.

Run:  scripts/submit.sh jobs/validate.py
"""

import argparse
import logging
import sys
import time
from datetime import UTC, datetime

from pyspark.sql import SparkSession

from lakehouse import config, quality
from lakehouse.config import Settings, load_settings
from lakehouse.runner import configure_logging
from lakehouse.spark import build_session

log = logging.getLogger(__name__)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conf", help="settings file (default conf/lakehouse.toml)")
    parser.add_argument("--project-dir", help="GE project folder (default <storage root>/_quality)")
    parser.add_argument("--log-level", default="INFO", help="Python log level")
    return parser.parse_args(argv)


def validate(spark: SparkSession, settings: Settings, project_dir: str) -> int:
    """Run the suites, append their results, write the data docs; 1 if a "stop" suite failed."""
    outcomes, data_docs = quality.validate_tables(spark, settings, project_dir)
    run_number = int(time.time())
    results = quality.results_frame(spark, outcomes, "validate", run_number, datetime.now(UTC))
    results.write.format("delta").mode("append").save(settings.table(config.GOLD_DATA_QUALITY))
    log.info("data docs: %s", data_docs)
    try:
        quality.enforce(outcomes, "validate", run_number)
    except quality.DataQualityError as error:
        log.error("%s", error)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    configure_logging(args.log_level)
    settings = load_settings(args.conf)
    project_dir = args.project_dir or settings.table("_quality")

    spark = build_session("lakehouse-validate")
    try:
        return validate(spark, settings, project_dir)
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
