"""Train the customer segments: KMeans over RFM, named clusters, one MLflow run.

Reads:  gold/rfm_analysis under conf [storage] root.
Writes: one MLflow run in conf [model] experiment: params k_min, k_max, chosen_k, seed,
        rows; metrics silhouette_k<k> for each k tried and silhouette (the chosen k);
        segments.json (centroids in original and scaled units, names); the fitted Spark
        PipelineModel under "model", registered as conf [model] segment_model_name. That
        registered model is the prototype's train_customer_segments: it takes raw
        recency_days, frequency and monetary and predicts the cluster.
        gold/customer_segments_scored and gold/customer_segments_named, overwritten.

docs/segments.md explains the features, the choice of k and the naming rules.

Run:  scripts/submit.sh ml/train_segments.py [--k-min 2] [--k-max 8] [--seed 42]
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

import mlflow
import pandas as pd
import pyspark
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import config
from lakehouse.config import GOLD_RFM, Settings, load_settings
from lakehouse.runner import configure_logging
from lakehouse.segments import (
    Segmentation,
    add_k_arguments,
    check_k_arguments,
    segment_customers,
    summary,
)
from lakehouse.sink import overwrite, read_table, table_exists
from lakehouse.spark import build_session
from lakehouse.tracking import configure_tracking

logger = logging.getLogger("ml.train_segments")

# What the registered model takes and returns: raw RFM in, cluster out.
SIGNATURE = ModelSignature(
    inputs=Schema(
        [
            ColSpec("integer", "recency_days"),
            ColSpec("long", "frequency"),
            ColSpec("double", "monetary"),
        ]
    ),
    outputs=Schema([ColSpec("integer")]),
)


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_name: str
    model_version: str
    segmentation: Segmentation


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conf", help="settings file (default conf/lakehouse.toml)")
    add_k_arguments(parser)
    parser.add_argument("--log-level", default="INFO", help="Python log level")
    args = parser.parse_args(argv)
    check_k_arguments(parser, args)
    return args


def read_rfm(spark: SparkSession, settings: Settings) -> DataFrame:
    path = settings.table(GOLD_RFM)
    if not table_exists(spark, path):
        raise FileNotFoundError(f"no Delta table at {path}: run the gold job first")
    return read_table(spark, path)


def _input_example(rfm_df: DataFrame) -> pd.DataFrame:
    """Three rows shaped like SIGNATURE's inputs."""
    columns = [
        F.col("recency_days").cast("int"),
        F.col("frequency").cast("long"),
        F.col("monetary").cast("double"),
    ]
    return rfm_df.select(*columns).orderBy(*SIGNATURE.inputs.input_names()).limit(3).toPandas()


def train(spark: SparkSession, settings: Settings, k_values: range, seed: int) -> TrainResult:
    """Fit, log and register the segment model, then write the two segment tables."""
    rfm = read_rfm(spark, settings).cache()
    try:
        rows = rfm.count()
        if rows < 2:
            raise ValueError(f"{GOLD_RFM} has {rows} viewers: too few to cluster")
        logger.info("read %d viewers from %s", rows, settings.table(GOLD_RFM))

        configure_tracking(settings)
        model_name = settings.section("model")["segment_model_name"]
        with mlflow.start_run(run_name="train_segments") as run:
            segmentation = segment_customers(rfm, k_values, seed)
            _log_run(segmentation, k_values, seed, rows)
            model_info = mlflow.spark.log_model(
                segmentation.choice.model,
                artifact_path="model",
                registered_model_name=model_name,
                signature=SIGNATURE,
                input_example=_input_example(rfm),
                # Given explicitly: inferring them loads the model in a new Python process.
                pip_requirements=[f"pyspark=={pyspark.__version__}"],
            )

            overwrite(segmentation.scored, settings.table(config.GOLD_SEGMENTS_SCORED))
            overwrite(segmentation.named, settings.table(config.GOLD_SEGMENTS_NAMED))
            logger.info("wrote %s and %s", config.GOLD_SEGMENTS_SCORED, config.GOLD_SEGMENTS_NAMED)
    finally:
        rfm.unpersist()

    version = str(model_info.registered_model_version)
    logger.info("run %s: registered %s version %s", run.info.run_id, model_name, version)
    return TrainResult(run.info.run_id, model_name, version, segmentation)


def _log_run(segmentation: Segmentation, k_values: range, seed: int, rows: int) -> None:
    choice = segmentation.choice
    mlflow.log_params(
        {
            "k_min": k_values.start,
            "k_max": k_values.stop - 1,
            "chosen_k": choice.best_k,
            "seed": seed,
            "rows": rows,
        }
    )
    metrics = {f"silhouette_k{k}": value for k, value in choice.silhouettes.items()}
    metrics["silhouette"] = choice.silhouettes[choice.best_k]
    mlflow.log_metrics(metrics)
    mlflow.log_dict(summary(segmentation), "segments.json")
    for profile in segmentation.profiles:
        logger.info(
            "cluster %d %-22s %6d customers, recency %.1f d, frequency %.2f, monetary %.2f",
            profile.cluster,
            segmentation.names[profile.cluster],
            profile.customers,
            profile.recency_days,
            profile.frequency,
            profile.monetary,
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_level)
    settings = load_settings(args.conf)
    seed = args.seed if args.seed is not None else int(settings.section("model")["seed"])

    spark = build_session("lakehouse-train-segments")
    try:
        train(spark, settings, range(args.k_min, args.k_max + 1), seed)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
