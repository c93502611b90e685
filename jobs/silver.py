"""Silver job: bronze/events -> silver/events, silver/sessions and silver/quarantine.

One query, silver_events. Each micro-batch parses and validates every
message, quarantines the ones that break a rule, come later than the
watermark or repeat an event_id (each with its reason), runs the silver
data-quality suites into gold/data_quality, rebuilds the sessions the batch
touched in silver/sessions, then appends the events to silver/events.
Checkpoint: <root>/_checkpoints/silver_events.

Run:  scripts/submit.sh jobs/silver.py [--trigger available_now]
"""

import sys

from lakehouse.pipeline import run_streaming_job, start_silver


def main(argv: list[str] | None = None) -> int:
    return run_streaming_job("lakehouse-silver", start_silver, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
