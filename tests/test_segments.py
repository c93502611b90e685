"""Tests of lakehouse/segments.py, ml/train_segments.py and the online-retail replay.

Expected figures are worked out by hand next to them. KMeans numbers its clusters in an
order of its own, so the tests on fitted models compare which viewers share a cluster,
then check every other column exactly.
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from decimal import Decimal

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from lakehouse import config, segments
from lakehouse.config import DEFAULT_CONF, GOLD_RFM, load_settings
from lakehouse.segments import ClusterProfile
from lakehouse.sink import overwrite, read_table
from ml import online_retail, train_segments

MONEY = T.DecimalType(18, 2)

RFM_SCHEMA = T.StructType(
    [
        T.StructField("viewer_id", T.StringType()),
        T.StructField("last_session_start", T.TimestampType()),
        T.StructField("recency_days", T.IntegerType()),
        T.StructField("frequency", T.LongType()),
        T.StructField("monetary", MONEY),
        T.StructField("r_score", T.IntegerType()),
        T.StructField("f_score", T.IntegerType()),
        T.StructField("m_score", T.IntegerType()),
        T.StructField("rfm_score", T.StringType()),
        T.StructField("as_of", T.TimestampType()),
    ]
)
AS_OF = datetime(2026, 12, 4, 12, 0)

# Three groups far apart on every feature, four viewers each:
# "a" recent, frequent, big spenders; "b" 100 days ago, one small order;
# "c" 300 days ago, five mid-sized orders.
GROUPS = {
    "a": [(1, 20, "5000.00"), (2, 21, "5200.00"), (1, 22, "5500.00"), (2, 20, "5100.00")],
    "b": [(100, 1, "10.00"), (101, 1, "11.00"), (102, 1, "12.00"), (100, 1, "10.50")],
    "c": [(300, 5, "500.00"), (301, 5, "510.00"), (302, 5, "520.00"), (300, 5, "505.00")],
}
GROUP_SCORES = {"a": (5, 5, 5), "b": (3, 1, 1), "c": (1, 3, 3)}


def rfm_frame(spark) -> DataFrame:
    rows = []
    for group, members in GROUPS.items():
        r, f, m = GROUP_SCORES[group]
        for index, (recency, frequency, monetary) in enumerate(members):
            rows.append(
                (
                    f"{group}{index}",
                    None,
                    recency,
                    frequency,
                    Decimal(monetary),
                    r,
                    f,
                    m,
                    f"{r}{f}{m}",
                    AS_OF,
                )
            )
    return spark.createDataFrame(rows, RFM_SCHEMA)


def expected_scored_without_cluster() -> dict[str, dict]:
    expected = {}
    for group, members in GROUPS.items():
        r, f, m = GROUP_SCORES[group]
        for index, (recency, frequency, monetary) in enumerate(members):
            expected[f"{group}{index}"] = {
                "viewer_id": f"{group}{index}",
                "recency_days": recency,
                "frequency": frequency,
                "monetary": Decimal(monetary),
                "r_score": r,
                "f_score": f,
                "m_score": m,
            }
    return expected


def clusters_by_group(rows: list[dict]) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for row in rows:
        found.setdefault(row["viewer_id"][0], set()).add(row["cluster"])
    return found


# rfm_features


def test_rfm_features_add_log1p_of_frequency_and_monetary_and_keep_recency(spark):
    rfm = spark.createDataFrame(
        [("v1", 7, 1, Decimal("0.00")), ("v2", 0, 3, Decimal("99.00")), ("v3", 40, 2, None)],
        "viewer_id string, recency_days int, frequency long, monetary decimal(18,2)",
    )

    rows = [row.asDict() for row in segments.rfm_features(rfm).orderBy("viewer_id").collect()]

    assert rows == [
        # log1p(1) = ln 2; log1p(0) = 0.
        {
            "viewer_id": "v1",
            "recency_days": 7,
            "frequency": 1,
            "monetary": Decimal("0.00"),
            "log_frequency": pytest.approx(math.log(2)),
            "log_monetary": 0.0,
        },
        # log1p(3) = ln 4; log1p(99) = ln 100.
        {
            "viewer_id": "v2",
            "recency_days": 0,
            "frequency": 3,
            "monetary": Decimal("99.00"),
            "log_frequency": pytest.approx(math.log(4)),
            "log_monetary": pytest.approx(math.log(100)),
        },
        # log1p(2) = ln 3; unknown revenue counts as none: log1p(0) = 0.
        {
            "viewer_id": "v3",
            "recency_days": 40,
            "frequency": 2,
            "monetary": None,
            "log_frequency": pytest.approx(math.log(3)),
            "log_monetary": 0.0,
        },
    ]


def test_rfm_features_take_negative_revenue_as_zero(spark):
    rfm = spark.createDataFrame(
        [("v1", 1, 1, Decimal("-20.00"))],
        "viewer_id string, recency_days int, frequency long, monetary decimal(18,2)",
    )

    row = segments.rfm_features(rfm).first()

    assert (row.log_frequency, row.log_monetary) == (pytest.approx(math.log(2)), 0.0)


# name_clusters


def test_name_clusters_compares_each_centroid_with_the_population_means():
    centroids = [
        ClusterProfile(0, 100, 10.0, 12.0, 5000.0),
        ClusterProfile(1, 200, 20.0, 1.5, 300.0),
        ClusterProfile(2, 100, 180.0, 8.0, 3000.0),
        ClusterProfile(3, 300, 200.0, 1.2, 200.0),
        ClusterProfile(4, 300, 300.0, 1.0, 100.0),
    ]
    # Population of 1,000: recency (1000 + 4000 + 18000 + 60000 + 90000) / 1000 = 173 days,
    # frequency (1200 + 300 + 800 + 360 + 300) / 1000 = 2.96,
    # monetary (500000 + 60000 + 300000 + 60000 + 30000) / 1000 = 950.
    assert segments.population_means(centroids) == segments.Population(
        1000, 173.0, pytest.approx(2.96), 950.0
    )

    assert segments.name_clusters(centroids) == {
        0: "High-Value Loyal",  # 10 <= 173 days, 12 >= 2.96, 5000 >= 950
        1: "New & Promising",  # recent, 1.5 < 2.96, 300 < 950
        2: "At Risk",  # 180 > 173 days, but 8 >= 2.96 and 3000 >= 950
        3: "Low-Value Infrequent",  # 200 days, low F and M, not the least recent of them
        4: "Churned or Inactive",  # 300 days, low F and M, the least recent
    }


def test_name_clusters_names_lapsed_clusters_by_what_they_used_to_do():
    centroids = [
        ClusterProfile(0, 60, 10.0, 3.0, 600.0),
        ClusterProfile(1, 10, 200.0, 10.0, 100.0),
        ClusterProfile(2, 10, 200.0, 1.0, 3000.0),
        ClusterProfile(3, 20, 250.0, 1.0, 50.0),
    ]
    # Population of 100: recency (600 + 2000 + 2000 + 5000) / 100 = 96 days,
    # frequency (180 + 100 + 10 + 20) / 100 = 3.1,
    # monetary (36000 + 1000 + 30000 + 1000) / 100 = 680.
    assert segments.name_clusters(centroids) == {
        0: "New & Promising",  # 10 <= 96 days, 3 < 3.1, 600 < 680
        1: "Lapsed Regulars",  # 200 > 96 days, 10 >= 3.1, 100 < 680
        2: "Lapsed Big Spenders",  # 200 > 96 days, 1 < 3.1, 3000 >= 680
        3: "Churned or Inactive",  # 250 > 96 days, low F and M, the only such cluster
    }


def test_name_clusters_names_mixed_frequency_and_spend():
    centroids = [
        ClusterProfile(0, 10, 5.0, 10.0, 100.0),
        ClusterProfile(1, 10, 5.0, 1.0, 2000.0),
        ClusterProfile(2, 20, 50.0, 2.0, 500.0),
    ]
    # Population of 40: recency (50 + 50 + 1000) / 40 = 27.5 days,
    # frequency (100 + 10 + 40) / 40 = 3.75, monetary (1000 + 20000 + 10000) / 40 = 775.
    assert segments.name_clusters(centroids) == {
        0: "Frequent Low-Spend",  # recent, 10 >= 3.75, 100 < 775
        1: "Big Spenders",  # recent, 1 < 3.75, 2000 >= 775
        2: "Churned or Inactive",  # 50 > 27.5 days, low F and M, the only such cluster
    }


def test_name_clusters_numbers_a_repeated_name_by_monetary_highest_first():
    centroids = [
        ClusterProfile(0, 10, 3.0, 10.0, 4000.0),
        ClusterProfile(1, 10, 2.0, 20.0, 9000.0),
        ClusterProfile(2, 80, 100.0, 1.0, 100.0),
    ]
    # Population of 100: recency (30 + 20 + 8000) / 100 = 80.5 days, frequency 3.8,
    # monetary (40000 + 90000 + 8000) / 100 = 1380: clusters 0 and 1 are both High-Value
    # Loyal; cluster 1 spends more, so it keeps the plain name.
    assert segments.name_clusters(centroids) == {
        0: "High-Value Loyal (2)",
        1: "High-Value Loyal",
        2: "Churned or Inactive",
    }


def test_name_clusters_gives_every_cluster_a_distinct_name_whatever_the_centroids():
    generator = random.Random(3)
    for _ in range(500):
        k = generator.randint(2, 8)
        centroids = [
            ClusterProfile(
                cluster,
                generator.randint(1, 500),
                float(generator.choice([1, 5, 30, 90, 200, 365])),
                float(generator.choice([1, 2, 4, 10])),
                float(generator.choice([0, 50, 500, 5000])),
            )
            for cluster in range(k)
        ]

        names = segments.name_clusters(centroids)

        assert sorted(names) == list(range(k))
        assert len(set(names.values())) == k, names


def test_population_means_refuse_clusters_without_customers():
    with pytest.raises(ValueError, match="no customers"):
        segments.population_means([])


# choose_k, build_pipeline, score_segments


@pytest.fixture(scope="module")
def three_groups_choice(spark) -> segments.KChoice:
    """choose_k over k = 2, 3, 4 on the three groups, fitted once for the tests below."""
    return segments.choose_k(rfm_frame(spark), range(2, 5), seed=1)


def test_choose_k_picks_three_for_three_separated_groups(spark, three_groups_choice):
    choice = three_groups_choice

    assert choice.best_k == 3
    assert sorted(choice.silhouettes) == [2, 3, 4]
    assert all(-1.0 <= value <= 1.0 for value in choice.silhouettes.values())
    assert choice.silhouettes[3] == max(choice.silhouettes.values())
    assert choice.silhouettes[3] == pytest.approx(
        segments.silhouette(choice.model, rfm_frame(spark))
    )


def test_choose_k_refuses_k_below_two(spark):
    with pytest.raises(ValueError, match="2 or more"):
        segments.choose_k(rfm_frame(spark), [1, 2], seed=1)


def test_the_same_seed_gives_the_same_model(spark, three_groups_choice):
    rfm = rfm_frame(spark)

    # choose_k fitted k=3 with seed 1; the pipeline fitted again from scratch must match.
    refitted = segments.build_pipeline(3, seed=1).fit(rfm)

    models = (three_groups_choice.model, refitted)
    centres = [[list(c) for c in m.stages[-1].clusterCenters()] for m in models]
    assert centres[0] == centres[1]
    assignments = [
        [row.asDict() for row in segments.score_segments(m, rfm).orderBy("viewer_id").collect()]
        for m in models
    ]
    assert assignments[0] == assignments[1]


def test_score_segments_keeps_one_row_per_viewer_with_its_cluster(spark, three_groups_choice):
    scored = segments.score_segments(three_groups_choice.model, rfm_frame(spark))

    assert tuple(scored.columns) == segments.SCORED_COLUMNS
    assert dict(scored.dtypes)["cluster"] == "int"
    rows = [row.asDict() for row in scored.collect()]
    # Each group is one cluster, and the three groups are three clusters.
    by_group = clusters_by_group(rows)
    assert all(len(clusters) == 1 for clusters in by_group.values())
    assert set().union(*by_group.values()) == {0, 1, 2}
    cluster_of = {row["viewer_id"]: row["cluster"] for row in rows}
    expected = {
        viewer: {**columns, "cluster": cluster_of[viewer]}
        for viewer, columns in expected_scored_without_cluster().items()
    }
    assert len(rows) == 12
    assert {row["viewer_id"]: row for row in rows} == expected


# named_segments


SCORED_SCHEMA = T.StructType(
    [
        T.StructField("viewer_id", T.StringType()),
        T.StructField("recency_days", T.IntegerType()),
        T.StructField("frequency", T.LongType()),
        T.StructField("monetary", MONEY),
        T.StructField("r_score", T.IntegerType()),
        T.StructField("f_score", T.IntegerType()),
        T.StructField("m_score", T.IntegerType()),
        T.StructField("cluster", T.IntegerType()),
    ]
)


def test_named_segments_add_the_name_of_each_viewers_cluster(spark):
    scored = spark.createDataFrame(
        [
            ("v1", 1, 9, Decimal("900.00"), 5, 5, 5, 0),
            ("v2", 80, 1, Decimal("15.00"), 1, 1, 1, 1),
            ("v3", 2, 7, Decimal("700.00"), 5, 4, 4, 0),
        ],
        SCORED_SCHEMA,
    )

    named = segments.named_segments(scored, {0: "High-Value Loyal", 1: "Churned or Inactive"})

    assert tuple(named.columns) == segments.NAMED_COLUMNS
    assert [tuple(row) for row in named.orderBy("viewer_id").collect()] == [
        ("v1", 1, 9, Decimal("900.00"), 5, 5, 5, 0, "High-Value Loyal"),
        ("v2", 80, 1, Decimal("15.00"), 1, 1, 1, 1, "Churned or Inactive"),
        ("v3", 2, 7, Decimal("700.00"), 5, 4, 4, 0, "High-Value Loyal"),
    ]


def test_named_segments_fail_on_a_cluster_without_a_name(spark):
    scored = spark.createDataFrame([("v1", 1, 9, Decimal("900.00"), 5, 5, 5, 2)], SCORED_SCHEMA)

    with pytest.raises(Exception, match="no segment name for cluster 2"):
        segments.named_segments(scored, {0: "High-Value Loyal"}).collect()


# ml/train_segments.py, end to end


@pytest.fixture
def tracking_restored(monkeypatch):
    """The test points mlflow at a tmp store; put the process-wide URI back afterwards."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield
    mlflow.set_tracking_uri(previous[0])
    mlflow.set_registry_uri(previous[1])


def test_train_logs_registers_the_model_and_writes_the_segment_tables(
    spark, tmp_path, tracking_restored
):
    settings = load_settings(DEFAULT_CONF).with_overrides(
        root=str(tmp_path / "lake"), mlflow_dir=str(tmp_path / "mlflow")
    )
    overwrite(rfm_frame(spark), settings.table(GOLD_RFM))

    result = train_segments.train(spark, settings, range(2, 4), seed=5)

    client = MlflowClient()
    model_name = settings.section("model")["segment_model_name"]
    assert result.model_name == model_name
    version = client.get_model_version(model_name, result.model_version)
    assert version.run_id == result.run_id
    run = client.get_run(result.run_id)
    assert run.data.params == {
        "k_min": "2",
        "k_max": "3",
        "chosen_k": "3",
        "seed": "5",
        "rows": "12",
    }
    assert set(run.data.metrics) == {"silhouette_k2", "silhouette_k3", "silhouette"}
    assert run.data.metrics["silhouette"] == run.data.metrics["silhouette_k3"]

    named = read_table(spark, settings.table(config.GOLD_SEGMENTS_NAMED))
    scored = read_table(spark, settings.table(config.GOLD_SEGMENTS_SCORED))
    assert tuple(scored.columns) == segments.SCORED_COLUMNS
    assert tuple(named.columns) == segments.NAMED_COLUMNS
    rows = [row.asDict() for row in named.collect()]
    assert sorted(row["viewer_id"] for row in rows) == sorted(expected_scored_without_cluster())
    names_of = {row["cluster"]: row["segment_name"] for row in rows}
    assert names_of == result.segmentation.names
    assert sorted(names_of) == [0, 1, 2]
    # Population means: recency (6 + 403 + 1203) / 12 = 134.3 days, frequency
    # (83 + 4 + 20) / 12 = 8.9, monetary (20800 + 43.5 + 2035) / 12 = 1906.5.
    # a: 1.5 days, 20.75 orders, 5200 -> recent, frequent, high spend;
    # b: 100.75 days, 1 order, 10.9 -> recent, neither;
    # c: 300.75 days, 5 orders, 508.75 -> not recent, neither, the only such cluster.
    assert {
        group: {names_of[c] for c in clusters}
        for group, clusters in clusters_by_group(rows).items()
    } == {
        "a": {"High-Value Loyal"},
        "b": {"New & Promising"},
        "c": {"Churned or Inactive"},
    }


def test_train_segments_parses_the_k_range():
    args = train_segments.parse_args(["--k-min", "3", "--k-max", "5", "--seed", "9"])

    assert (args.k_min, args.k_max, args.seed) == (3, 5, 9)
    with pytest.raises(SystemExit):
        train_segments.parse_args(["--k-min", "6", "--k-max", "5"])


# ml/online_retail.py


def test_invoice_sessions_keep_real_purchases_one_session_per_invoice(spark):
    lines = spark.createDataFrame(
        [
            ("536365", "A", "x", 6, datetime(2010, 12, 1, 8, 26), Decimal("2.550"), 17850.0, "UK"),
            ("536365", "B", "y", 2, datetime(2010, 12, 1, 8, 27), Decimal("0.001"), 17850.0, "UK"),
            ("536366", "A", "x", 1, datetime(2010, 12, 2, 9, 0), Decimal("3.000"), 17850.0, "UK"),
            # Left out: a cancellation, no customer, a return, a zero price, a bad-debt entry.
            ("C536379", "D", "z", 1, datetime(2010, 12, 3), Decimal("27.500"), 14527.0, "UK"),
            ("536414", "E", "w", 56, datetime(2010, 12, 3), Decimal("1.000"), None, "UK"),
            ("536500", "F", "v", -1, datetime(2010, 12, 3), Decimal("1.000"), 14527.0, "UK"),
            ("536600", "G", "u", 5, datetime(2010, 12, 3), Decimal("0.000"), 14527.0, "UK"),
            (
                "A563185",
                "B",
                "bad debt",
                1,
                datetime(2011, 8, 12),
                Decimal("-11062.060"),
                None,
                "UK",
            ),
        ],
        online_retail.LINE_SCHEMA,
    )

    sessions = online_retail.invoice_sessions(lines)

    assert [row.asDict() for row in sessions.orderBy("session_id").collect()] == [
        # 6 x 2.550 + 2 x 0.001 = 15.302, from the first line's time.
        {
            "session_id": "536365",
            "viewer_id": "17850",
            "started_at": datetime(2010, 12, 1, 8, 26),
            "revenue": Decimal("15.302"),
        },
        {
            "session_id": "536366",
            "viewer_id": "17850",
            "started_at": datetime(2010, 12, 2, 9, 0),
            "revenue": Decimal("3.000"),
        },
    ]
