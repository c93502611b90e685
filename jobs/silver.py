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

from lakehouse.pipeline import run_streaming_job, start_silver


def main(argv: list[str] | None = None) -> int:
    return run_streaming_job("lakehouse-silver", start_silver, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
