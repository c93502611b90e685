"""Replays the real REES46 sample through Kafka and checks gold against plain SQL over the CSV.

DuckDB reads the same CSV independently of the replayer and the Spark jobs;
rows cut off before user_session (the file's last line) are the ones the
pipeline must quarantine rather than count.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest
from pyspark.sql import functions as F

from lakehouse import config
from lakehouse.config import PROJECT_DIR, load_settings
from lakehouse.pipeline import run_available_now
from lakehouse.producers import rees46
from lakehouse.producers.kafka_sink import publish_events

CSV = PROJECT_DIR.parent / "shared" / "data" / "rees46-2019-oct-head" / "2019-Oct_head.csv"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CSV.exists(), reason=f"the REES46 sample is not at {CSV}"),
]

SOURCE = f"""
    read_csv('{CSV}', header = true, all_varchar = true, null_padding = true)
"""


def sql(query: str) -> list[tuple]:
    return duckdb.sql(query.format(source=SOURCE)).fetchall()


@pytest.fixture(scope="module")
def rees46_lake(spark, kafka_broker, tmp_path_factory):
    settings = load_settings().with_overrides(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        topic="rees46_events",
        root=str(tmp_path_factory.mktemp("rees46")),
        mlflow_dir=str(tmp_path_factory.mktemp("mlflow")),
    )
    sent = publish_events(
        settings.bootstrap_servers, settings.topic, rees46.iter_events(CSV), partitions=3
    )
    run_available_now(spark, settings)
    return settings, sent


def test_bronze_holds_every_replayed_message(spark, rees46_lake):
    settings, sent = rees46_lake
    (rows,) = sql("select count(*) from {source}")[0]
    bronze = spark.read.format("delta").load(settings.table(config.BRONZE_EVENTS))
    # every CSV row plus the synthetic stream_start and stream_end
    assert (sent, bronze.count()) == (rows + 2, rows + 2)


def test_gold_counts_equal_sql_over_the_csv(spark, rees46_lake):
    settings, _ = rees46_lake
    expected = sql(
        """
        select count(*), count(distinct user_session), count(distinct user_id),
               count(*) filter (where event_type = 'purchase'),
               sum(cast(price as decimal(18, 2))) filter (where event_type = 'purchase')
        from {source} where user_session is not null
        """
    )[0]
    kpis = spark.read.format("delta").load(settings.table(config.GOLD_KPIS))
    overall = kpis.where(F.col("scope") == "all").first()
    got = (
        overall.events,
        overall.total_sessions,
        overall.unique_viewers,
        overall.purchases,
        overall.revenue,
    )
    assert got == expected
    assert isinstance(overall.revenue, Decimal)


def test_active_viewers_per_minute_equal_sql(spark, rees46_lake):
    settings, _ = rees46_lake
    expected = dict(
        sql(
            """
            select strftime(date_trunc('minute', strptime(event_time, '%Y-%m-%d %H:%M:%S UTC')),
                            '%H:%M'),
                   count(distinct user_id)
            from {source} where user_session is not null group by 1
            """
        )
    )
    per_minute = spark.read.format("delta").load(settings.table(config.GOLD_VIEWERS_PER_MINUTE))
    got = {row.minute.strftime("%H:%M"): row.active_viewers for row in per_minute.collect()}
    # The sample spans 00:00-02:50 with gaps: 148 distinct minutes hold events.
    assert len(expected) == 148
    assert got == expected


def test_the_cut_off_last_line_is_quarantined_not_lost(spark, rees46_lake):
    settings, _ = rees46_lake
    quarantine = spark.read.format("delta").load(settings.table(config.SILVER_QUARANTINE))
    rows = [(row.reason, row.raw_value) for row in quarantine.collect()]
    assert len(rows) == 1
    reason, raw_value = rows[0]
    assert reason == "missing_session_id"
    assert '"viewer_id": "52040330"' in raw_value
