"""Gold job: silver/events and silver/sessions -> the gold tables.

Each micro-batch of new silver events recomputes what it touched:
gold/streams, gold/fct_sessions (the sessions of the touched streams),
gold/viewers_per_minute (the touched minutes), then gold/kpis and
gold/rfm_analysis. docs/metrics.md defines every figure. Checkpoint:
<root>/_checkpoints/gold_metrics.

Run:  scripts/submit.sh jobs/gold.py [--trigger available_now]
"""

import sys

from lakehouse.pipeline import run_streaming_job, start_gold


def main(argv: list[str] | None = None) -> int:
    return run_streaming_job("lakehouse-gold", start_gold, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
