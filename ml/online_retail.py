"""Segment the customers of UCI Online Retail: its invoices replayed as purchase sessions.

Reads:  the online-retail CSVs, one per trading day (default
        ../shared/data/online-retail/by-day relative to the project folder).
Writes: bench/results/online_retail_segments.json (run date, data as_of, row counts, the
        silhouette of each k, the chosen k, and the customers of each named segment).
        No Delta table and no MLflow run: this is a benchmark of the segmentation at real
        scale, not part of the live pipeline.

The replay goes straight from the CSVs to Spark, without Kafka, as finished sessions: each
invoice of a customer becomes one purchase session (session = InvoiceNo, viewer =
CustomerID, started_at = InvoiceDate, revenue = sum of Quantity x UnitPrice), and the
viewers' RFM comes from lakehouse.gold.rfm, the function that builds gold/rfm_analysis,
as of the newest InvoiceDate in the files. Then the same segmentation as
ml/train_segments.py runs on it. docs/segments.md reports the figures.

Run:  scripts/submit.sh ml/online_retail.py [--data-dir DIR] [--k-min 2] [--k-max 8]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse import gold
from lakehouse.config import PROJECT_DIR, load_settings
from lakehouse.runner import configure_logging
from lakehouse.segments import (
    add_k_arguments,
    check_k_arguments,
    segment_customers,
    summary,
)
from lakehouse.spark import build_session

logger = logging.getLogger("ml.online_retail")

DEFAULT_DATA_DIR = PROJECT_DIR.parent / "shared" / "data" / "online-retail" / "by-day"
DEFAULT_OUTPUT = PROJECT_DIR / "bench" / "results" / "online_retail_segments.json"

# UnitPrice has up to 3 decimals (e.g. 0.001); CustomerID is written as a float (17850.0).
LINE_SCHEMA = T.StructType(
    [
        T.StructField("InvoiceNo", T.StringType()),
        T.StructField("StockCode", T.StringType()),
        T.StructField("Description", T.StringType()),
        T.StructField("Quantity", T.IntegerType()),
        T.StructField("InvoiceDate", T.TimestampType()),
        T.StructField("UnitPrice", T.DecimalType(10, 3)),
        T.StructField("CustomerID", T.DoubleType()),
        T.StructField("Country", T.StringType()),
    ]
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conf", help="settings file (default conf/lakehouse.toml)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"folder of the daily CSVs (default {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"results (default {DEFAULT_OUTPUT})"
    )
    add_k_arguments(parser)
    parser.add_argument("--log-level", default="INFO", help="Python log level")
    args = parser.parse_args(argv)
    check_k_arguments(parser, args)
    if not args.data_dir.is_dir():
        parser.error(f"no folder {args.data_dir}")
    return args


def read_lines(spark: SparkSession, data_dir: Path) -> DataFrame:
    """Every invoice line of the daily CSVs; a row that does not fit LINE_SCHEMA fails the read."""
    return (
        spark.read.schema(LINE_SCHEMA)
        .option("header", "true")
        .option("mode", "FAILFAST")
        .option("timestampFormat", "yyyy-MM-dd HH:mm:ss")
        .option("pathGlobFilter", "*.csv")
        .csv(str(data_dir))
    )


def is_purchase() -> Column:
    """A real purchase line: a known customer, a positive quantity and price, no cancellation.

    Lines without CustomerID cannot be given to a customer (this also drops the three
    "Adjust bad debt" entries, InvoiceNo starting with A); cancellations (InvoiceNo starting
    with C) and negative quantities are returns, not purchases; a price of 0 marks free
    items and manual adjustments, a negative one a write-off.
    """
    return (
        F.col("CustomerID").isNotNull()
        & (F.col("Quantity") > 0)
        & (F.col("UnitPrice") > 0)
        & ~F.col("InvoiceNo").startswith("C")
    )


def invoice_sessions(lines_df: DataFrame) -> DataFrame:
    """Purchase lines -> one purchase session per invoice, with the columns gold.rfm reads.

    started_at is the invoice's earliest line (a few invoices span two minutes). revenue
    keeps the 3 decimals of the prices; gold.rfm rounds each customer's total to cents.
    """
    return (
        lines_df.where(is_purchase())
        .withColumn("viewer_id", F.col("CustomerID").cast("long").cast("string"))
        .groupBy(F.col("InvoiceNo").alias("session_id"), "viewer_id")
        .agg(
            F.min("InvoiceDate").alias("started_at"),
            F.sum(F.col("Quantity") * F.col("UnitPrice")).cast("decimal(18,3)").alias("revenue"),
        )
    )


def write_results(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(results, indent=2) + "\n")
    partial.replace(path)


def segment_online_retail(
    spark: SparkSession, data_dir: Path, k_values: range, seed: int
) -> dict[str, Any]:
    """Read the CSVs, build every customer's RFM with gold.rfm, segment them; the results."""
    lines = read_lines(spark, data_dir)
    counts = lines.agg(
        F.count("*").alias("rows_read"),
        F.count_if(is_purchase()).alias("purchase_lines"),
        F.max("InvoiceDate").alias("as_of"),
        F.date_format(F.max("InvoiceDate"), "yyyy-MM-dd HH:mm:ss").alias("as_of_text"),
    ).first()
    logger.info("read %d lines, %d purchases", counts.rows_read, counts.purchase_lines)

    sessions = invoice_sessions(lines).cache()
    rfm = gold.rfm(sessions, counts.as_of).cache()
    invoices, customers = sessions.count(), rfm.count()
    logger.info("%d invoices of %d customers, as of %s", invoices, customers, counts.as_of_text)

    segmentation = segment_customers(rfm, k_values, seed)
    return {
        "dataset": "UCI Online Retail, by-day CSVs",
        "run_date": datetime.now(UTC).date().isoformat(),
        "as_of": counts.as_of_text,
        "rows_read": counts.rows_read,
        "purchase_lines": counts.purchase_lines,
        "invoices": invoices,
        "customers": customers,
        "k_values": list(k_values),
        "seed": seed,
        **summary(segmentation),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_level)
    settings = load_settings(args.conf)
    seed = args.seed if args.seed is not None else int(settings.section("model")["seed"])
    started = time.monotonic()

    spark = build_session("online-retail-segments")
    try:
        results = segment_online_retail(
            spark, args.data_dir, range(args.k_min, args.k_max + 1), seed
        )
    finally:
        spark.stop()
    results["elapsed_seconds"] = round(time.monotonic() - started, 1)

    for cluster in results["clusters"]:
        logger.info("%-22s %5d customers", cluster["segment_name"], cluster["customers"])
    logger.info("k=%d, silhouette %.4f", results["k"], results["silhouette"])
    write_results(results, args.output)
    logger.info("wrote %s in %.0f s", args.output, results["elapsed_seconds"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
