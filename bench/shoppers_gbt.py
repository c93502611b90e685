"""Benchmark: the project's Spark GBT beside sklearn's HistGradientBoostingClassifier.

Input:  the UCI "Online Shoppers Purchasing Intention" CSV (semicolon-delimited,
        12,330 sessions, label Revenue), by default from ../shared/data.
Output: a table on stdout and bench/results/shoppers_gbt.json (date, machine,
        versions, rows, ROC AUC and PR AUC on the hold-out, fit seconds, seed).

Both libraries see exactly the same rows: Spark reads the file once and numbers
its rows in file order, the numbered frame is collected to pandas, and one
stratified split of those row ids picks the train and hold-out rows of both.
Both are scored with the same sklearn metric functions (PR AUC is average
precision). Fit seconds are wall time of `Pipeline.fit` and of
`HistGradientBoostingClassifier.fit`, after the data is cached and in memory.

Run:  scripts/submit.sh bench/shoppers_gbt.py [--seed 42] [--csv PATH]
 or:  .venv/bin/python -m bench.shoppers_gbt [--seed 42]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyspark
import sklearn
from pyspark.ml import Pipeline
from pyspark.ml.feature import StringIndexer, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split

from lakehouse.config import PROJECT_DIR
from lakehouse.conversion import gbt_classifier
from lakehouse.runner import configure_logging
from lakehouse.spark import build_session

log = logging.getLogger(__name__)

DEFAULT_CSV = (
    PROJECT_DIR.parent
    / "shared"
    / "data"
    / "online-shoppers-intention"
    / "online_shoppers_intention.csv"
)
DEFAULT_OUTPUT = PROJECT_DIR / "bench" / "results" / "shoppers_gbt.json"

# The file's columns in order, renamed to snake_case; the header line is skipped.
SCHEMA = T.StructType(
    [
        T.StructField("administrative", T.IntegerType(), False),
        T.StructField("administrative_duration", T.DoubleType(), False),
        T.StructField("informational", T.IntegerType(), False),
        T.StructField("informational_duration", T.DoubleType(), False),
        T.StructField("product_related", T.IntegerType(), False),
        T.StructField("product_related_duration", T.DoubleType(), False),
        T.StructField("bounce_rates", T.DoubleType(), False),
        T.StructField("exit_rates", T.DoubleType(), False),
        T.StructField("page_values", T.DoubleType(), False),
        T.StructField("special_day", T.DoubleType(), False),
        T.StructField("month", T.StringType(), False),
        T.StructField("operating_systems", T.IntegerType(), False),
        T.StructField("browser", T.IntegerType(), False),
        T.StructField("region", T.IntegerType(), False),
        T.StructField("traffic_type", T.IntegerType(), False),
        T.StructField("visitor_type", T.StringType(), False),
        T.StructField("weekend", T.BooleanType(), False),
        T.StructField("revenue", T.BooleanType(), False),
    ]
)
ROW_ID = "row_id"
LABEL = "label"
TARGET = "revenue"
CATEGORICAL = ("month", "visitor_type")
# Operating system, browser, region and traffic type are integer codes; both
# libraries take them as ordered numbers, as the papers on this data do.
NUMERIC = tuple(field.name for field in SCHEMA.fields if field.name not in (*CATEGORICAL, TARGET))
FEATURES = (*NUMERIC, *CATEGORICAL)
# The settings each results file records, to show what was compared.
SPARK_PARAMS = ("maxIter", "maxDepth", "stepSize", "subsamplingRate", "maxBins")
HGB_PARAMS = ("max_iter", "learning_rate", "max_leaf_nodes", "max_bins", "early_stopping")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="the shoppers CSV file")
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the results JSON"
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the split and both models")
    parser.add_argument(
        "--test-fraction", type=float, default=0.25, help="share of rows held out (stratified)"
    )
    parser.add_argument("--log-level", default="INFO", help="Python log level")
    return parser.parse_args(argv)


def read_shoppers(spark: SparkSession, path: Path) -> DataFrame:
    """The CSV with the explicit schema; Spark reads TRUE/FALSE as booleans.

    The schema renames the columns, so Spark warns once that the header line
    does not conform to it; the columns are taken by position, as intended.
    """
    return spark.read.csv(str(path), schema=SCHEMA, sep=";", header=True, mode="FAILFAST")


def numbered_shoppers(spark: SparkSession, path: Path) -> DataFrame:
    """The file with a row id and a numeric label column for Spark ML."""
    frame = with_row_id(read_shoppers(spark, path))
    return frame.withColumn(LABEL, F.col(TARGET).cast("double"))


def with_row_id(frame: DataFrame) -> DataFrame:
    """Number the rows 0, 1, 2, ... in file order, so pandas and Spark can name the same row."""
    # One small file: ordering the whole frame in one partition costs nothing here.
    file_order = Window.orderBy(F.col("_file_order"))
    return (
        frame.withColumn("_file_order", F.monotonically_increasing_id())
        .withColumn(ROW_ID, F.row_number().over(file_order) - 1)
        .drop("_file_order")
    )


def stratified_holdout(
    row_ids: Sequence[int], labels: Sequence[bool], test_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Split row ids into (train, hold-out), keeping the label's share on both sides."""
    train_ids, test_ids = train_test_split(
        list(row_ids), test_size=test_fraction, stratify=list(labels), random_state=seed
    )
    return sorted(train_ids), sorted(test_ids)


def spark_pipeline(seed: int) -> Pipeline:
    """Indexed categories (nominal metadata, so the trees split them as sets) into the GBT."""
    indexer = StringIndexer(
        inputCols=list(CATEGORICAL),
        outputCols=[f"{name}_index" for name in CATEGORICAL],
        handleInvalid="keep",
    )
    assembler = VectorAssembler(
        inputCols=[*NUMERIC, *(f"{name}_index" for name in CATEGORICAL)], outputCol="features"
    )
    return Pipeline(stages=[indexer, assembler, gbt_classifier(seed, "features", LABEL)])


def pandas_features(table: pd.DataFrame) -> pd.DataFrame:
    """The feature columns as HistGradientBoostingClassifier takes them."""
    return table[list(FEATURES)].astype(
        {"weekend": "int8", **dict.fromkeys(CATEGORICAL, "category")}
    )


def hgb_classifier(seed: int) -> HistGradientBoostingClassifier:
    """sklearn's defaults, apart from the categorical columns and the seed."""
    return HistGradientBoostingClassifier(categorical_features=list(CATEGORICAL), random_state=seed)


def scores(labels: Sequence[bool], probabilities: Sequence[float]) -> dict[str, float]:
    """ROC AUC and PR AUC (average precision), the same code for both libraries."""
    return {
        "roc_auc": float(roc_auc_score(labels, probabilities)),
        "pr_auc": float(average_precision_score(labels, probabilities)),
    }


@dataclass(frozen=True)
class ModelRun:
    """One library's hold-out probabilities (in row_id order), fit time and settings."""

    probabilities: np.ndarray
    fit_seconds: float
    params: dict[str, Any]


def run_spark(frame: DataFrame, test_ids: Sequence[int], seed: int) -> ModelRun:
    """Fit the Spark pipeline on the rows outside test_ids and score the rows in it."""
    holdout = F.col(ROW_ID).isin(list(test_ids))
    train, test = frame.where(~holdout).cache(), frame.where(holdout).cache()
    # Both sides must hold exactly the split's rows, or the comparison means nothing.
    if (train.count(), test.count()) != (frame.count() - len(test_ids), len(test_ids)):
        raise RuntimeError("the Spark split does not match the row ids")

    started = time.perf_counter()
    model = spark_pipeline(seed).fit(train)
    fit_seconds = time.perf_counter() - started
    log.info("Spark GBT fitted on %d rows in %.1f s", train.count(), fit_seconds)

    scored = (
        model.transform(test)
        .select(ROW_ID, vector_to_array("probability")[1].alias("probability"))
        .toPandas()
        .sort_values(ROW_ID, ignore_index=True)
    )
    if scored[ROW_ID].tolist() != sorted(test_ids):
        raise RuntimeError("the Spark predictions are not those of the hold-out rows")
    gbt = model.stages[-1]
    params = {name: gbt.getOrDefault(name) for name in SPARK_PARAMS}
    return ModelRun(scored["probability"].to_numpy(), fit_seconds, params)


def run_sklearn(table: pd.DataFrame, test_ids: Sequence[int], seed: int) -> ModelRun:
    """The same with HistGradientBoostingClassifier on the pandas copy of the rows."""
    features = pandas_features(table)
    holdout = table[ROW_ID].isin(list(test_ids)).to_numpy()

    started = time.perf_counter()
    model = hgb_classifier(seed).fit(features[~holdout], table.loc[~holdout, TARGET].to_numpy())
    fit_seconds = time.perf_counter() - started
    log.info("sklearn HGB fitted on %d rows in %.1f s", (~holdout).sum(), fit_seconds)

    probabilities = model.predict_proba(features[holdout])[:, 1]
    params = {name: model.get_params()[name] for name in HGB_PARAMS}
    params["early_stopping_used"] = bool(model.do_early_stopping_)
    return ModelRun(probabilities, fit_seconds, params)


def machine() -> dict[str, Any]:
    """Cores this process may use and physical memory, as nproc and free would say.

    The load average says how busy the (shared) machine was, which fit seconds depend on.
    """
    memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(memory_bytes / 2**30, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def print_table(results: dict[str, Any]) -> None:
    rows = results["rows"]
    print(
        f"\nonline-shoppers-intention: {rows['train']} train / {rows['test']} hold-out rows, "
        f"seed {results['seed']}, {results['machine']['cores']} cores"
    )
    print(f"{'model':<34} {'ROC AUC':>8} {'PR AUC':>8} {'fit s':>8}")
    for name, model in results["models"].items():
        print(
            f"{name:<34} {model['roc_auc']:>8.4f} {model['pr_auc']:>8.4f} "
            f"{model['fit_seconds']:>8.2f}"
        )


def write_results(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    log.info("results written to %s", path)


def summarize(
    args: argparse.Namespace,
    table: pd.DataFrame,
    test_ids: Sequence[int],
    runs: dict[str, ModelRun],
) -> dict[str, Any]:
    """Everything the results file records, with both models scored on the same labels."""
    holdout = table[ROW_ID].isin(list(test_ids))
    labels = table.loc[holdout, TARGET].to_numpy()
    return {
        "benchmark": "online-shoppers-intention, stratified hold-out",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": {"pyspark": pyspark.__version__, "sklearn": sklearn.__version__},
        "csv": args.csv.name,
        "seed": args.seed,
        "test_fraction": args.test_fraction,
        "rows": {
            "train": int((~holdout).sum()),
            "test": int(holdout.sum()),
            "train_positive": int(table.loc[~holdout, TARGET].sum()),
            "test_positive": int(labels.sum()),
        },
        "models": {
            name: {
                **scores(labels, run.probabilities),
                "fit_seconds": round(run.fit_seconds, 2),
                "params": run.params,
            }
            for name, run in runs.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    configure_logging(args.log_level)
    if not args.csv.exists():
        raise FileNotFoundError(f"{args.csv} is absent: see ../shared/data/README.md")

    spark = build_session("bench-shoppers-gbt")
    try:
        frame = numbered_shoppers(spark, args.csv).cache()
        # pandas gets the very rows and values Spark parsed, row ids included.
        table = frame.toPandas().sort_values(ROW_ID, ignore_index=True)
        log.info("read %d rows, %d converted, from %s", len(table), table[TARGET].sum(), args.csv)

        train_ids, test_ids = stratified_holdout(
            table[ROW_ID], table[TARGET], args.test_fraction, args.seed
        )
        log.info("split: %d train rows, %d hold-out rows", len(train_ids), len(test_ids))

        spark_run = run_spark(frame, test_ids, args.seed)
    finally:
        spark.stop()

    # After spark.stop(), so the JVM does not share the two cores with sklearn.
    hgb_run = run_sklearn(table, test_ids, args.seed)

    results = summarize(
        args, table, test_ids, {"spark_gbt": spark_run, "sklearn_hist_gradient_boosting": hgb_run}
    )
    print_table(results)
    write_results(results, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
