"""Customer segments: KMeans over RFM features, and a human-readable name per cluster.

docs/segments.md explains each choice: which features are log-scaled and why, how k is
chosen, and the naming rules. The flow, shared by ml/train_segments.py and
ml/online_retail.py, is `segment_customers`: choose k by silhouette, score every
customer, describe each cluster in original units, name it.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.ml import Estimator, Pipeline, PipelineModel, Transformer
from pyspark.ml.clustering import KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import SQLTransformer, StandardScaler, VectorAssembler
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

log = logging.getLogger(__name__)


DEFAULT_K_VALUES = range(2, 9)


def add_k_arguments(parser: argparse.ArgumentParser) -> None:
    """--k-min, --k-max and --seed of the jobs that segment customers."""
    parser.add_argument(
        "--k-min", type=int, default=min(DEFAULT_K_VALUES), help="smallest k tried (default 2)"
    )
    parser.add_argument(
        "--k-max", type=int, default=max(DEFAULT_K_VALUES), help="largest k tried (default 8)"
    )
    parser.add_argument("--seed", type=int, help="KMeans seed (default: conf [model] seed)")


def check_k_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 2 <= args.k_min <= args.k_max:
        parser.error("need 2 <= --k-min <= --k-max")


# Frequency and monetary are heavily right-skewed (on online-retail the skewness is 12.1 and
# 19.3; after log1p 1.2 and 0.4), so a few big customers would dominate the Euclidean
# distance: they are log1p-scaled. Unknown or negative revenue (a refund larger than the
# purchases) counts as 0, so that log1p stays defined and KMeans gets no null. Recency is
# kept in days: its skewness is moderate (1.2), its range is bounded by the data's history,
# and log1p would over-correct (-0.6), stretching the first days apart while squeezing
# 60 days and 300 days together.
LOG_FEATURES = {
    "log_frequency": "log1p(CAST(frequency AS DOUBLE))",
    "log_monetary": "log1p(GREATEST(CAST(monetary AS DOUBLE), 0.0D))",
}
FEATURE_COLUMNS = ("recency_days", "log_frequency", "log_monetary")

# Column names inside the pipeline. "prediction" is what an MLflow pyfunc of a Spark
# model returns, so the KMeans output keeps that name; score_segments renames it.
_VECTOR = "rfm_vector"
_SCALED = "features"
_PREDICTION = "prediction"

SCORED_COLUMNS = (
    "viewer_id",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "cluster",
)
NAMED_COLUMNS = (*SCORED_COLUMNS, "segment_name")

HIGH_VALUE_LOYAL = "High-Value Loyal"
FREQUENT_LOW_SPEND = "Frequent Low-Spend"
BIG_SPENDERS = "Big Spenders"
NEW_AND_PROMISING = "New & Promising"
AT_RISK = "At Risk"
LAPSED_REGULARS = "Lapsed Regulars"
LAPSED_BIG_SPENDERS = "Lapsed Big Spenders"
LOW_VALUE_INFREQUENT = "Low-Value Infrequent"
CHURNED_OR_INACTIVE = "Churned or Inactive"

# The name of a centroid by (recent, frequent, high spend), each relative to the population
# means. The least recent of the LOW_VALUE_INFREQUENT clusters becomes CHURNED_OR_INACTIVE.
NAME_BY_FLAGS = {
    (True, True, True): HIGH_VALUE_LOYAL,
    (True, True, False): FREQUENT_LOW_SPEND,
    (True, False, True): BIG_SPENDERS,
    (True, False, False): NEW_AND_PROMISING,
    (False, True, True): AT_RISK,
    (False, True, False): LAPSED_REGULARS,
    (False, False, True): LAPSED_BIG_SPENDERS,
    (False, False, False): LOW_VALUE_INFREQUENT,
}


def rfm_features(rfm_df: DataFrame) -> DataFrame:
    """Add log_frequency and log_monetary (log1p, doubles) to an RFM frame; keep the rest.

    Unknown or negative monetary gives log_monetary 0, as no revenue does.
    """
    return rfm_df.withColumns({name: F.expr(sql) for name, sql in LOG_FEATURES.items()})


def _features_statement() -> str:
    derived = ", ".join(f"{sql} AS {name}" for name, sql in LOG_FEATURES.items())
    return f"SELECT *, {derived} FROM __THIS__"


def _feature_stages() -> list[Transformer | Estimator]:
    return [
        SQLTransformer(statement=_features_statement()),
        VectorAssembler(inputCols=list(FEATURE_COLUMNS), outputCol=_VECTOR),
        StandardScaler(inputCol=_VECTOR, outputCol=_SCALED, withMean=True, withStd=True),
    ]


def _kmeans(k: int, seed: int) -> KMeans:
    return KMeans(featuresCol=_SCALED, predictionCol=_PREDICTION, k=k, seed=seed)


def build_pipeline(k: int, seed: int) -> Pipeline:
    """RFM features -> VectorAssembler -> StandardScaler (mean 0, sd 1) -> KMeans(k, seed).

    The first stage derives the rfm_features columns with the same expressions, so the
    fitted model (and the registered MLflow model) takes raw recency_days, frequency and
    monetary; its "prediction" column is the cluster.
    """
    return Pipeline(stages=[*_feature_stages(), _kmeans(k, seed)])


@dataclass(frozen=True)
class KChoice:
    """The silhouette of each k tried, the best k and its fitted model."""

    silhouettes: dict[int, float]
    best_k: int
    model: PipelineModel


def _silhouette(clustered_df: DataFrame) -> float:
    evaluator = ClusteringEvaluator(
        featuresCol=_SCALED, predictionCol=_PREDICTION, metricName="silhouette"
    )
    return float(evaluator.evaluate(clustered_df))


def silhouette(model: PipelineModel, rfm_df: DataFrame) -> float:
    """Mean silhouette (squared Euclidean) of the model's clusters, on the scaled features."""
    return _silhouette(model.transform(rfm_df))


def choose_k(
    rfm_df: DataFrame, k_values: Iterable[int] = DEFAULT_K_VALUES, seed: int = 42
) -> KChoice:
    """Fit the pipeline for each k and keep the one with the highest silhouette.

    rfm_df needs recency_days, frequency and monetary (the pipeline derives the features).
    Ties go to the smaller k. A k that yields fewer distinct centres than asked (fewer
    distinct customers than k) is skipped with a warning. Each k is a few Spark jobs over
    rfm_df: cache it first when it is expensive to recompute. The models are those of
    build_pipeline(k, seed).fit(rfm_df); the feature stages, which do not depend on k, are
    fitted once.
    """
    candidates = sorted(set(k_values))
    if not candidates or candidates[0] < 2:
        raise ValueError(f"k values must be 2 or more, got {candidates}")
    features_model = Pipeline(stages=_feature_stages()).fit(rfm_df)
    features = features_model.transform(rfm_df)
    silhouettes: dict[int, float] = {}
    models: dict[int, PipelineModel] = {}
    for k in candidates:
        kmeans_model = _kmeans(k, seed).fit(features)
        centres = len(kmeans_model.clusterCenters())
        if centres < k:
            log.warning("k=%d: only %d distinct centres, skipped", k, centres)
            continue
        silhouettes[k] = _silhouette(kmeans_model.transform(features))
        models[k] = PipelineModel(stages=[*features_model.stages, kmeans_model])
        log.info("k=%d: silhouette %.4f", k, silhouettes[k])
    if not silhouettes:
        raise ValueError(f"no k in {candidates} gave as many clusters as asked")
    best_k = max(silhouettes, key=lambda k: (silhouettes[k], -k))
    return KChoice(silhouettes=silhouettes, best_k=best_k, model=models[best_k])


def score_segments(model: PipelineModel, rfm_df: DataFrame) -> DataFrame:
    """gold/rfm_analysis -> gold/customer_segments_scored: each viewer with its cluster."""
    return (
        model.transform(rfm_df)
        .withColumn("cluster", F.col(_PREDICTION).cast("int"))
        .select(*SCORED_COLUMNS)
    )


@dataclass(frozen=True)
class ClusterProfile:
    """A cluster's size and the mean recency_days, frequency and monetary of its members."""

    cluster: int
    customers: int
    recency_days: float
    frequency: float
    monetary: float


def cluster_profiles(scored_df: DataFrame) -> list[ClusterProfile]:
    """Centroids in original units, one per cluster that has members (runs a small job)."""
    rows = (
        scored_df.groupBy("cluster")
        .agg(
            F.count("*").alias("customers"),
            F.avg(F.col("recency_days").cast("double")).alias("recency_days"),
            F.avg(F.col("frequency").cast("double")).alias("frequency"),
            F.avg(F.col("monetary").cast("double")).alias("monetary"),
        )
        .orderBy("cluster")
        .collect()
    )
    return [ClusterProfile(**row.asDict()) for row in rows]


@dataclass(frozen=True)
class Population:
    """Customer-weighted means over all clusters: the population's mean R, F and M."""

    customers: int
    recency_days: float
    frequency: float
    monetary: float


def population_means(centroids: Sequence[ClusterProfile]) -> Population:
    """The overall means, from the clusters' means weighted by their sizes."""
    customers = sum(c.customers for c in centroids)
    if customers <= 0:
        raise ValueError("the clusters have no customers")
    return Population(
        customers=customers,
        recency_days=sum(c.customers * c.recency_days for c in centroids) / customers,
        frequency=sum(c.customers * c.frequency for c in centroids) / customers,
        monetary=sum(c.customers * c.monetary for c in centroids) / customers,
    )


def _base_name(centroid: ClusterProfile, population: Population) -> str:
    recent = centroid.recency_days <= population.recency_days
    frequent = centroid.frequency >= population.frequency
    high_spend = centroid.monetary >= population.monetary
    return NAME_BY_FLAGS[(recent, frequent, high_spend)]


def name_clusters(centroids: Sequence[ClusterProfile]) -> dict[int, str]:
    """A distinct human-readable name for every cluster, from its centroid in original units.

    Each centroid is compared with the population means (customer-weighted):
    recent = mean recency_days <= the population's; frequent = mean frequency >= the
    population's; high spend = mean monetary >= the population's. Then:

    - recent: High-Value Loyal (frequent, high spend), Frequent Low-Spend (frequent only),
      Big Spenders (high spend only), New & Promising (neither);
    - not recent: At Risk (frequent, high spend), Lapsed Regulars (frequent only), Lapsed
      Big Spenders (high spend only), and for neither Churned or Inactive (the least
      recent such cluster) or Low-Value Infrequent (the others).

    When clusters share a name, the one with the highest mean monetary keeps it and the
    next get " (2)", " (3)", ... (ties by cluster id).
    """
    population = population_means(centroids)
    base = {c.cluster: _base_name(c, population) for c in centroids}

    lapsed = [c for c in centroids if base[c.cluster] == LOW_VALUE_INFREQUENT]
    if lapsed:
        least_recent = max(lapsed, key=lambda c: (c.recency_days, -c.cluster))
        base[least_recent.cluster] = CHURNED_OR_INACTIVE

    names: dict[int, str] = {}
    seen: dict[str, int] = {}
    for centroid in sorted(centroids, key=lambda c: (-c.monetary, c.cluster)):
        name = base[centroid.cluster]
        seen[name] = seen.get(name, 0) + 1
        names[centroid.cluster] = name if seen[name] == 1 else f"{name} ({seen[name]})"
    return dict(sorted(names.items()))


def named_segments(scored_df: DataFrame, names: Mapping[int, str]) -> DataFrame:
    """customer_segments_scored -> customer_segments_named; a cluster without a name fails."""
    if not names:
        raise ValueError("no segment names given")
    lookup = F.create_map(*[F.lit(v) for item in sorted(names.items()) for v in item])
    name = lookup[F.col("cluster")]
    missing = F.raise_error(F.concat(F.lit("no segment name for cluster "), F.col("cluster")))
    return scored_df.withColumn(
        "segment_name", F.when(name.isNull(), missing).otherwise(name)
    ).select(*NAMED_COLUMNS)


@dataclass(frozen=True)
class Segmentation:
    """Everything one segmentation run produced."""

    choice: KChoice
    scored: DataFrame
    named: DataFrame
    profiles: list[ClusterProfile]
    names: dict[int, str]


def segment_customers(
    rfm_df: DataFrame, k_values: Iterable[int] = DEFAULT_K_VALUES, seed: int = 42
) -> Segmentation:
    """Choose k, score every customer, name the clusters (rfm_df as in gold/rfm_analysis)."""
    choice = choose_k(rfm_df, k_values, seed)
    scored = score_segments(choice.model, rfm_df)
    profiles = cluster_profiles(scored)
    names = name_clusters(profiles)
    return Segmentation(
        choice=choice,
        scored=scored,
        named=named_segments(scored, names),
        profiles=profiles,
        names=names,
    )


def summary(segmentation: Segmentation) -> dict[str, Any]:
    """A JSON-ready description: silhouettes, chosen k, population and each named cluster."""
    centres = segmentation.choice.model.stages[-1].clusterCenters()
    population = population_means(segmentation.profiles)
    return {
        "k": segmentation.choice.best_k,
        "silhouette": segmentation.choice.silhouettes[segmentation.choice.best_k],
        "silhouettes": {str(k): s for k, s in sorted(segmentation.choice.silhouettes.items())},
        "features": list(FEATURE_COLUMNS),
        "population_means": {
            "customers": population.customers,
            "recency_days": population.recency_days,
            "frequency": population.frequency,
            "monetary": population.monetary,
        },
        "clusters": [
            {
                "cluster": profile.cluster,
                "segment_name": segmentation.names[profile.cluster],
                "customers": profile.customers,
                "mean_recency_days": profile.recency_days,
                "mean_frequency": profile.frequency,
                "mean_monetary": profile.monetary,
                "scaled_centre": [float(v) for v in centres[profile.cluster]],
            }
            for profile in segmentation.profiles
        ],
    }
