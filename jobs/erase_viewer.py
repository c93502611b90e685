"""Erasure job: remove one viewer from every layer of the lakehouse (a GDPR request).

Deletes the viewer's rows from bronze/events, silver/events, silver/sessions,
silver/quarantine and the gold tables, recomputes the gold figures that
counted the viewer (viewers per minute, KPIs, RFM), and with --vacuum removes
the files that still hold the deleted rows once they are older than
[retention] vacuum_retain_hours. The streaming jobs may keep running.
lakehouse/erasure.py explains what is and is not covered.

Run:  scripts/submit.sh jobs/erase_viewer.py --viewer-id VIEWER [--vacuum]
"""

import argparse
import logging
import sys

from lakehouse.config import load_settings
from lakehouse.erasure import erase_viewer, vacuum
from lakehouse.runner import configure_logging
from lakehouse.spark import build_session

log = logging.getLogger(__name__)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewer-id", required=True, help="the viewer_id to erase")
    parser.add_argument("--vacuum", action="store_true", help="vacuum every table afterwards")
    parser.add_argument(
        "--retain-hours",
        type=float,
        help="files to keep when vacuuming, in hours (default conf [retention])",
    )
    parser.add_argument("--conf", help="settings file (default conf/lakehouse.toml)")
    parser.add_argument("--log-level", default="INFO", help="Python log level")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    configure_logging(args.log_level)
    settings = load_settings(args.conf)
    retain_hours = args.retain_hours
    if retain_hours is None:
        retain_hours = float(settings.section("retention")["vacuum_retain_hours"])

    spark = build_session("lakehouse-erase-viewer")
    try:
        deleted = erase_viewer(spark, settings, args.viewer_id)
        log.info("rows erased per table: %s", deleted)
        if args.vacuum:
            vacuum(spark, settings, retain_hours)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
