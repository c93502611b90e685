"""Bronze job: Kafka topic `live_events` -> Delta table bronze/events.

Every message lands as received (key, raw value bytes, topic, partition,
offset, Kafka timestamp, ingest time); nothing is parsed or dropped.
Exactly once through the query's checkpoint <root>/_checkpoints/bronze_events.

Run:  scripts/submit.sh jobs/bronze.py [--trigger available_now]
"""

import sys

from lakehouse.pipeline import run_streaming_job, start_bronze


def main(argv: list[str] | None = None) -> int:
    return run_streaming_job("lakehouse-bronze", start_bronze, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
