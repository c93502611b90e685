"""Live job: Kafka topic `live_events` -> Delta table gold/live_activity, seconds behind.

One row per stream, minute and session of each micro-batch, from the events
that pass silver's row rules (lakehouse/live.py), on conf [live]
trigger_interval. jobs/pipeline.py runs the same query beside the layers;
this job runs it as an application of its own, so that on a busy machine it
can be given its own cores, or the layers a lower priority (docs/operations.md).
Exactly once through the query's checkpoint <root>/_checkpoints/live_activity.

Run:  scripts/submit.sh jobs/live.py
"""

import sys

from lakehouse.pipeline import run_streaming_job, start_live


def main(argv: list[str] | None = None) -> int:
    return run_streaming_job("lakehouse-live", start_live, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
