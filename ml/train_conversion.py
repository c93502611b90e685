"""Train the conversion model (GBT) on silver, log it to MLflow, register it.

Reads:  silver/events, silver/sessions.
Writes: one MLflow run (params, data sizes, hold-out metrics of GBT and of a
        logistic-regression baseline, calibration table, feature importances,
        the model with signature and input example) and a new version of the
        registered model conf [model] conversion_model_name. The alias conf
        [model] champion_alias moves to it only when it beats the current
        champion's ROC AUC on the same time-ordered hold-out; the gold stream
        then scores with it without a restart.

Run:  scripts/submit.sh ml/train_conversion.py [--seed 42]
"""

import argparse
import logging
import sys

from lakehouse.config import load_settings
from lakehouse.conversion import DEFAULT_SNAPSHOT_MINUTES
from lakehouse.runner import configure_logging
from lakehouse.spark import build_session
from lakehouse.training import train_conversion_model

log = logging.getLogger("ml.train_conversion")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conf", help="settings file (default conf/lakehouse.toml)")
    parser.add_argument("--seed", type=int, help="model seed (default conf [model] seed)")
    parser.add_argument(
        "--snapshot-minutes",
        type=lambda text: [int(part) for part in text.split(",")],
        default=list(DEFAULT_SNAPSHOT_MINUTES),
        help="watch times at which sessions are snapshotted for training, e.g. 2,5,10,20,40",
    )
    parser.add_argument(
        "--holdout-fraction", type=float, default=0.2, help="latest share of sessions held out"
    )
    parser.add_argument(
        "--window-days",
        type=int,
        default=30,
        help="train on closed sessions started within this many days of the data clock",
    )
    parser.add_argument("--log-level", default="INFO", help="Python log level")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_level)
    settings = load_settings(args.conf)
    seed = args.seed if args.seed is not None else int(settings.section("model")["seed"])

    spark = build_session("lakehouse-train-conversion")
    try:
        result = train_conversion_model(
            spark, settings, seed, args.snapshot_minutes, args.holdout_fraction, args.window_days
        )
    finally:
        spark.stop()
    promotion = result.promotion
    log.info(
        "run %s: version %s, hold-out ROC AUC %.4f, %s",
        result.run_id,
        promotion.version,
        result.metrics["roc_auc"],
        "now champion" if promotion.promoted else f"champion stays v{promotion.previous_champion}",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
