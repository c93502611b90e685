"""The conversion model: no leakage, time-ordered split, metrics, registry rules, live scores.

A small silver layer is built from simulated shows with the pipeline's own
transforms (parse, validate, deduplicate, build sessions) and an MLflow
store in a temporary folder; the GBT is trained on it once per module.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from pyspark.ml.linalg import Vectors
from pyspark.sql import functions as F

from lakehouse import config, conversion, gold, silver
from lakehouse.config import load_settings
from lakehouse.pipeline import Trigger, start_gold
from lakehouse.producers.simulator import SimulatorConfig, generate_events
from lakehouse.registry import ChampionModel, champion_version, promote_if_better
from lakehouse.runner import await_queries
from lakehouse.scoring import score_sessions
from lakehouse.sessions import build_sessions
from lakehouse.training import train_conversion_model

START = datetime(2026, 11, 1, 18, 0, tzinfo=UTC)
SEED = 42


def _bronze_frame(spark, events):
    rows = [
        ("t", 0, offset, None, json.dumps(event).encode(), datetime(2026, 12, 1, tzinfo=UTC))
        for offset, event in enumerate(events)
    ]
    schema = (
        "topic string, partition int, offset long, key string, value binary, ingest_time timestamp"
    )
    return spark.createDataFrame(rows, schema)


@pytest.fixture(scope="module")
def small_silver(spark, tmp_path_factory):
    """silver/events and silver/sessions of three simulated shows, in a temporary root."""
    root = tmp_path_factory.mktemp("conversion")
    settings = load_settings().with_overrides(root=str(root), mlflow_dir=str(root / "mlflow"))
    simulated = generate_events(
        SimulatorConfig(seed=3, streams=3, viewers=60, sessions_per_viewer=4.0), START
    )
    parsed = silver.parse_events(_bronze_frame(spark, simulated))
    events = silver.with_event_date(silver.valid_events(parsed).dropDuplicates(["event_id"]))
    events.write.format("delta").save(settings.table(config.SILVER_EVENTS))
    events = spark.read.format("delta").load(settings.table(config.SILVER_EVENTS))
    clock = events.agg(F.max("event_time")).first()[0]
    build_sessions(events, clock, 30).write.format("delta").save(
        settings.table(config.SILVER_SESSIONS)
    )
    return settings


@pytest.fixture(scope="module")
def trained(spark, small_silver):
    return train_conversion_model(spark, small_silver, SEED, [2, 5, 10, 20])


def _events(spark, rows):
    schema = (
        "event_id string, event_type string, event_time timestamp, stream_id string, "
        "session_id string, viewer_id string, device_type string, viewer_state string, "
        "product_id string"
    )
    return spark.createDataFrame(rows, schema)


def _at(clock: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-20T{clock}+00:00")


def _viewer_event(event_id, event_type, clock, product=None):
    return (event_id, event_type, _at(clock), "s1", "a", "v1", "mobile", "CA", product)


SESSION_A = [
    _viewer_event("a1", "join", "10:00:00"),
    _viewer_event("a2", "view_product", "10:01:00", "p1"),
    _viewer_event("a3", "product_click", "10:02:00", "p1"),
    _viewer_event("a4", "add_to_cart", "10:03:00", "p1"),
    _viewer_event("a5", "like", "10:04:00"),
    _viewer_event("a6", "purchase", "10:06:00", "p1"),
    _viewer_event("a7", "comment", "10:07:00"),
    _viewer_event("a8", "leave", "10:09:00"),
]


def test_no_feature_is_derived_from_purchases(spark):
    # Features at 10:05 must be the same whether or not the purchase (10:06) and
    # anything after the snapshot ever happened.
    cutoffs = spark.createDataFrame([("a", _at("10:05:00"))], "session_id string, cutoff timestamp")
    sessions = spark.createDataFrame(
        [], "viewer_id string, started_at timestamp, last_event_at timestamp"
    )
    full = conversion.session_features(_events(spark, SESSION_A), cutoffs, sessions)
    before_only = conversion.session_features(_events(spark, SESSION_A[:5]), cutoffs, sessions)

    columns = list(conversion.FEATURE_COLUMNS)
    assert full.select(columns).collect() == before_only.select(columns).collect()
    assert not [name for name in columns if "purchase" in name or "revenue" in name]
    # 5 minutes watched; one each of view, click, cart add and like by 10:05.
    row = full.first()
    assert (row.watch_seconds, row.product_views, row.product_clicks, row.cart_adds, row.likes) == (
        300.0,
        1.0,
        1.0,
        1.0,
        1.0,
    )
    assert (row.comments, row.prior_sessions) == (0.0, 0.0)


def test_training_snapshots_stop_at_the_first_purchase(spark):
    # Session a starts 10:00, buys at 10:06, last event 10:09: snapshots at +2 and +5
    # minutes are before the purchase (label 1); +8 comes after it and is dropped.
    cutoffs = conversion.training_cutoffs(_events(spark, SESSION_A), [2, 5, 8, 20])
    got = sorted((row.cutoff, row.label) for row in cutoffs.collect())
    # Spark hands timestamps back as naive UTC datetimes.
    naive = [(_at(clock).replace(tzinfo=None), 1.0) for clock in ("10:02:00", "10:05:00")]
    assert got == naive


def test_time_ordered_split_holds_out_the_latest_sessions(trained, spark, small_silver):
    rows = conversion.session_features(*_training_inputs(spark, small_silver))
    train, holdout = conversion.time_ordered_split(rows, 0.2)
    last_train = train.agg(F.max("started_at")).first()[0]
    first_holdout = holdout.agg(F.min("started_at")).first()[0]
    assert last_train < first_holdout
    assert train.count() + holdout.count() == rows.count()


def _training_inputs(spark, settings):
    events = spark.read.format("delta").load(settings.table(config.SILVER_EVENTS))
    events = events.where(F.col("session_id").isNotNull())
    sessions = spark.read.format("delta").load(settings.table(config.SILVER_SESSIONS))
    return events, conversion.training_cutoffs(events, [2, 5, 10, 20]), sessions


def test_metrics_match_hand_computed_values(spark):
    # Four rows: p = 0.9 (y=1), 0.6 (y=0), 0.4 (y=1), 0.1 (y=0).
    # ROC AUC: of the 4 positive-negative pairs, 3 are ordered right -> 0.75.
    # Brier: (0.01 + 0.36 + 0.36 + 0.01) / 4 = 0.185.
    # Log loss: -(ln 0.9 + ln 0.4 + ln 0.4 + ln 0.9) / 4.
    rows = [
        (Vectors.dense([1 - p, p]), Vectors.dense([-p, p]), label)
        for p, label in [(0.9, 1.0), (0.6, 0.0), (0.4, 1.0), (0.1, 0.0)]
    ]
    predictions = spark.createDataFrame(rows, ["probability", "rawPrediction", "label"])
    got = conversion.evaluate(predictions)
    expected_log_loss = -(2 * math.log(0.9) + 2 * math.log(0.4)) / 4
    assert got["roc_auc"] == pytest.approx(0.75)
    assert got["brier"] == pytest.approx(0.185)
    assert got["log_loss"] == pytest.approx(expected_log_loss)


def test_training_logs_one_run_and_makes_the_first_version_champion(trained, small_silver):
    client = MlflowClient()
    run = client.get_run(trained.run_id)
    name = small_silver.section("model")["conversion_model_name"]
    assert run.data.params["seed"] == str(SEED)
    assert {"holdout_roc_auc", "holdout_pr_auc", "holdout_log_loss", "holdout_brier"} <= set(
        run.data.metrics
    )
    assert "baseline_holdout_roc_auc" in run.data.metrics
    assert run.data.metrics["train_rows"] > 0 and run.data.metrics["holdout_rows"] > 0
    artifacts = {item.path for item in client.list_artifacts(trained.run_id)}
    assert {"calibration.json", "feature_importances.json"} <= artifacts
    assert trained.promotion.promoted and trained.promotion.previous_champion is None
    assert champion_version(name, "champion") == trained.promotion.version
    version = client.get_model_version(name, trained.promotion.version)
    assert version.run_id == trained.run_id


def test_the_alias_moves_only_to_a_better_model(trained, small_silver):
    name = small_silver.section("model")["conversion_model_name"]
    client = MlflowClient()
    source = client.get_model_version(name, trained.promotion.version).source
    worse = str(client.create_model_version(name, source, run_id=trained.run_id).version)
    better = str(client.create_model_version(name, source, run_id=trained.run_id).version)

    kept = promote_if_better(name, "champion", worse, 0.60, lambda champion: 0.70)
    assert (kept.promoted, champion_version(name, "champion")) == (
        False,
        trained.promotion.version,
    )
    tie = promote_if_better(name, "champion", worse, 0.70, lambda champion: 0.70)
    assert not tie.promoted
    moved = promote_if_better(name, "champion", better, 0.71, lambda champion: 0.70)
    assert (moved.promoted, champion_version(name, "champion")) == (True, better)


def test_the_live_scorer_follows_the_alias_without_a_restart(trained, small_silver):
    name = small_silver.section("model")["conversion_model_name"]
    client = MlflowClient()
    scorer = ChampionModel(name, "champion")
    first_version, first_model = scorer.current()
    assert first_model is not None
    source = client.get_model_version(name, first_version).source
    newer = str(client.create_model_version(name, source, run_id=trained.run_id).version)
    client.set_registered_model_alias(name, "champion", newer)
    assert scorer.current()[0] == newer != first_version


def test_same_seed_same_model(trained, spark, small_silver):
    events, cutoffs, sessions = _training_inputs(spark, small_silver)
    rows = conversion.session_features(events, cutoffs, sessions)
    train, holdout = conversion.time_ordered_split(rows, 0.2)

    def predictions():
        model = conversion.gbt_pipeline(SEED).fit(train)
        scored = conversion.with_probability(model.transform(holdout))
        return [
            (row.session_id, row.cutoff, row.conversion_probability)
            for row in scored.orderBy("session_id", "cutoff").collect()
        ]

    assert predictions() == predictions()


def test_every_open_session_gets_a_probability_between_0_and_1(trained, spark, small_silver):
    events, _, sessions = _training_inputs(spark, small_silver)
    # Pretend the clock stands in the middle of the last show: sessions running then are open.
    last_start = sessions.agg(F.max("started_at")).first()[0]
    clock = last_start
    open_sessions = sessions.where(F.col("started_at") < F.lit(clock)).where(
        F.col("last_event_at") > F.lit(clock)
    )
    streams = gold.streams(
        spark.read.format("delta")
        .load(small_silver.table(config.SILVER_EVENTS))
        .where(F.col("session_id").isNull())
    )
    facts = gold.session_facts(sessions, streams, small_silver.engagement_weights)
    scores = score_sessions(
        trained.model, "1", open_sessions, events, sessions, facts, clock, 0.5
    ).collect()

    expected = {row.session_id for row in open_sessions.select("session_id").collect()}
    assert expected and {row.session_id for row in scores} == expected
    assert all(0.0 <= row.conversion_probability <= 1.0 for row in scores)
    for row in scores:
        assert row.churn_risk == pytest.approx(1.0 - row.conversion_probability)
        assert row.high_intent == (row.conversion_probability >= 0.5)
    assert mlflow.get_tracking_uri().startswith("sqlite:")


def test_the_gold_stream_scores_every_open_session_with_the_champion(trained, spark, small_silver):
    # The gold job over the small silver layer, with the champion in the registry.
    await_queries(start_gold(spark, small_silver, Trigger("available_now")))

    sessions = spark.read.format("delta").load(small_silver.table(config.SILVER_SESSIONS))
    open_ids = {row.session_id for row in sessions.where(~F.col("is_closed")).collect()}
    scores = spark.read.format("delta").load(small_silver.table(config.GOLD_PREDICTIONS)).collect()
    assert open_ids
    assert {row.session_id for row in scores} == open_ids
    assert all(0.0 <= row.conversion_probability <= 1.0 for row in scores)
    assert {row.model_version for row in scores} == {
        champion_version(small_silver.section("model")["conversion_model_name"], "champion")
    }
