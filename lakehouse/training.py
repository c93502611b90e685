"""Training the conversion model on silver: rows, split, fit, evaluate, log, register."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import mlflow
from mlflow.models import infer_signature
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import config
from lakehouse.config import Settings
from lakehouse.conversion import (
    FEATURE_COLUMNS,
    LABEL,
    baseline_pipeline,
    calibration_table,
    evaluate,
    gbt_pipeline,
    session_features,
    time_ordered_split,
    training_cutoffs,
    with_probability,
)
from lakehouse.registry import Promotion, promote_if_better
from lakehouse.sink import read_table
from lakehouse.tracking import configure_tracking

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingResult:
    run_id: str
    metrics: dict[str, float]
    promotion: Promotion
    model: PipelineModel


def training_rows(
    spark: SparkSession, settings: Settings, snapshot_minutes: list[int], window_days: int
) -> DataFrame:
    """Feature rows with labels from silver/events and silver/sessions.

    Only closed sessions count (an open one may still buy, so its label is not
    known yet), and only those that started within `window_days` of the data
    clock: the model learns from recent behaviour, not from years-old replays.
    """
    events = read_table(spark, settings.table(config.SILVER_EVENTS)).where(
        F.col("session_id").isNotNull()
    )
    sessions = read_table(spark, settings.table(config.SILVER_SESSIONS))
    clock = sessions.agg(F.max("last_event_at")).first()[0]
    recent_closed = sessions.where(
        F.col("is_closed")
        & (F.col("started_at") >= F.lit(clock - timedelta(days=window_days)).cast("timestamp"))
    ).select("session_id")
    labelled_events = events.join(recent_closed, "session_id", "left_semi")
    cutoffs = training_cutoffs(labelled_events, snapshot_minutes)
    return session_features(labelled_events, cutoffs, sessions)


def feature_importances(model: PipelineModel) -> dict[str, float]:
    """GBT importances keyed by feature name (the assembler's input order)."""
    assembler, trees = model.stages[-2], model.stages[-1]
    names = [name.removesuffix("_index") for name in assembler.getInputCols()]
    return dict(zip(names, trees.featureImportances.toArray().tolist(), strict=True))


def train_conversion_model(
    spark: SparkSession,
    settings: Settings,
    seed: int,
    snapshot_minutes: list[int],
    holdout_fraction: float = 0.2,
    window_days: int = 30,
) -> TrainingResult:
    """Fit GBT and the logistic baseline, log one MLflow run, register, maybe promote."""
    model_conf = settings.section("model")
    name, alias = model_conf["conversion_model_name"], model_conf["champion_alias"]
    configure_tracking(settings)

    rows = training_rows(spark, settings, snapshot_minutes, window_days).cache()
    train, holdout = time_ordered_split(rows, holdout_fraction)
    train, holdout = train.cache(), holdout.cache()
    sizes = {"train_rows": train.count(), "holdout_rows": holdout.count()}
    if sizes["train_rows"] == 0 or sizes["holdout_rows"] == 0:
        raise ValueError(f"not enough sessions in silver to train and evaluate: {sizes}")

    with mlflow.start_run(run_name="conversion-gbt") as run:
        mlflow.log_params(
            {
                "seed": seed,
                "snapshot_minutes": ",".join(map(str, snapshot_minutes)),
                "holdout_fraction": holdout_fraction,
                "window_days": window_days,
                "features": ",".join(FEATURE_COLUMNS),
                "split": "time-ordered by session start",
                **{f"gbt_{key.name}": value for key, value in _gbt_params(seed).items()},
            }
        )
        mlflow.log_metrics({**sizes, "train_positive_rate": _positive_rate(train)})

        model = gbt_pipeline(seed).fit(train)
        predictions = model.transform(holdout)
        metrics = evaluate(predictions)
        baseline = evaluate(baseline_pipeline().fit(train).transform(holdout))
        mlflow.log_metrics({f"holdout_{key}": value for key, value in metrics.items()})
        mlflow.log_metrics({f"baseline_holdout_{key}": value for key, value in baseline.items()})
        mlflow.log_dict(calibration_table(predictions), "calibration.json")
        importances = feature_importances(model)
        mlflow.log_dict(importances, "feature_importances.json")

        example = holdout.select(*FEATURE_COLUMNS).limit(5).toPandas()
        signature = infer_signature(
            example, with_probability(predictions).select("conversion_probability").toPandas()
        )
        info = mlflow.spark.log_model(
            model,
            artifact_path="model",
            signature=signature,
            input_example=example,
            registered_model_name=name,
        )
        version = str(info.registered_model_version)

        def score_champion(champion: PipelineModel) -> float:
            return evaluate(champion.transform(holdout))["roc_auc"]

        promotion = promote_if_better(name, alias, version, metrics["roc_auc"], score_champion)
        mlflow.set_tags({"registered_version": version, "promoted": str(promotion.promoted)})
        if promotion.champion_score is not None:
            mlflow.log_metric("champion_holdout_roc_auc", promotion.champion_score)
        log.info("conversion model v%s: %s (baseline %s)", version, metrics, baseline)

    for frame in (rows, train, holdout):
        frame.unpersist()
    return TrainingResult(run.info.run_id, metrics, promotion, model)


def _gbt_params(seed: int) -> dict[Any, Any]:
    classifier = gbt_pipeline(seed).getStages()[-1]
    return classifier.extractParamMap()


def _positive_rate(rows: DataFrame) -> float:
    return rows.agg({LABEL: "avg"}).first()[0]
