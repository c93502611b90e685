"""Live scores of open sessions: conversion probability, churn risk, intent, retarget priority.

docs/metrics.md states the formulas; the gold stream calls score_sessions()
every micro-batch with the registered champion model.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.conversion import PROBABILITY, session_features, with_probability

SCORE_COLUMNS = (
    "session_id",
    "stream_id",
    "viewer_id",
    "device_type",
    "viewer_state",
    "watch_seconds",
    "engagement_score",
    PROBABILITY,
    "churn_risk",
    "high_intent",
    "retarget_priority",
    "model_version",
    "as_of",
    "scored_at",
)


def score_sessions(
    model: PipelineModel,
    model_version: str,
    open_sessions_df: DataFrame,
    events_df: DataFrame,
    sessions_df: DataFrame,
    facts_df: DataFrame,
    clock: datetime,
    high_intent_threshold: float,
) -> DataFrame:
    """Score the open sessions with every event known up to the data clock.

    A session that has already bought has converted: its probability is 1
    and it is nobody's retargeting target. For the others, churn risk is
    1 - probability and retarget priority = engagement score x churn risk:
    engaged viewers who are unlikely to buy on their own come first.
    """
    as_of = F.lit(clock).cast("timestamp")
    # Everything up to and including the clock's own instant counts.
    cutoffs = open_sessions_df.select(
        "session_id", (as_of + F.expr("INTERVAL 1 MICROSECOND")).alias("cutoff")
    )
    features = session_features(events_df, cutoffs, sessions_df)
    predicted = with_probability(model.transform(features)).select(
        "session_id", "watch_seconds", PROBABILITY
    )
    facts = facts_df.select(
        "session_id",
        "stream_id",
        "viewer_id",
        "device_type",
        "viewer_state",
        "engagement_score",
        "purchases",
    )
    bought = F.col("purchases") > 0
    probability = F.when(bought, F.lit(1.0)).otherwise(F.col(PROBABILITY))
    return (
        predicted.join(facts, "session_id")
        .withColumn(PROBABILITY, probability)
        .withColumn("churn_risk", 1.0 - F.col(PROBABILITY))
        .withColumn("high_intent", F.col(PROBABILITY) >= F.lit(high_intent_threshold))
        .withColumn(
            "retarget_priority",
            F.when(bought, F.lit(0.0)).otherwise(F.col("engagement_score") * F.col("churn_risk")),
        )
        .withColumn("model_version", F.lit(model_version))
        .withColumn("as_of", as_of)
        .withColumn("scored_at", F.current_timestamp())
        .select(*SCORE_COLUMNS)
    )
