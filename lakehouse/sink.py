"""Every write to a Delta table goes through here.

Each write is safe to repeat for the same micro-batch: appends carry Delta's
txnAppId/txnVersion (a replayed batch id is skipped by Delta itself), MERGE
recomputes rows from their source of truth (a replay writes the same
values), and overwrites replace the whole table.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.streaming import DataStreamWriter

log = logging.getLogger(__name__)


def table_exists(spark: SparkSession, path: str) -> bool:
    return DeltaTable.isDeltaTable(spark, path)


def read_table(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path)


def append_once(
    df: DataFrame,
    path: str,
    app_id: str,
    batch_id: int,
    partition_by: Sequence[str] = (),
) -> None:
    """Append a micro-batch; Delta skips it if this (app_id, batch_id) already committed."""
    writer = (
        df.write.format("delta")
        .mode("append")
        .option("txnAppId", app_id)
        .option("txnVersion", batch_id)
    )
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(path)


def one_row_per_key(df: DataFrame, keys: Sequence[str], newest_by: str) -> DataFrame:
    """The row with the greatest `newest_by` of each key.

    Ties go to the greatest row as JSON, so a replayed batch keeps the same row.
    """
    order = Window.partitionBy(*keys).orderBy(
        F.col(newest_by).desc_nulls_last(), F.to_json(F.struct(*df.columns)).desc()
    )
    return df.withColumn("_row", F.row_number().over(order)).where("_row = 1").drop("_row")


def merge_upsert(
    df: DataFrame, path: str, keys: Sequence[str], newest_by: str | None = None
) -> None:
    """Insert new keys, replace every column of existing ones.

    Delta refuses a MERGE in which several source rows match one target row.
    With newest_by, a frame holding several rows for a key is reduced to its
    newest first (one_row_per_key); without it, df must be unique on keys.
    A column df has and the table lacks is added to the table (schema
    evolution); the rows the MERGE does not touch hold null in it.
    """
    if newest_by is not None:
        df = one_row_per_key(df, keys, newest_by)
    spark = df.sparkSession
    if not table_exists(spark, path):
        df.write.format("delta").mode("append").save(path)
        return
    condition = " AND ".join(f"target.{key} = source.{key}" for key in keys)
    (
        DeltaTable.forPath(spark, path)
        .alias("target")
        .merge(df.alias("source"), condition)
        .withSchemaEvolution()
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


def overwrite(df: DataFrame, path: str) -> None:
    """Replace the table's content (a small table recomputed as a whole)."""
    df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)


def delta_stream_writer(
    stream_df: DataFrame,
    path: str,
    checkpoint: str,
    query_name: str,
    partition_by: Sequence[str] = (),
) -> DataStreamWriter:
    """A streaming append into a Delta table, exactly once through its checkpoint."""
    writer = (
        stream_df.writeStream.format("delta")
        .queryName(query_name)
        .outputMode("append")
        .option("checkpointLocation", checkpoint)
        .option("path", path)
    )
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    return writer
