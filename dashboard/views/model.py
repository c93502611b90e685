"""Model: the champion conversion model's version, hold-out metrics, calibration and
feature importances, read from the MLflow registry and its training run."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from mlflow.tracking import MlflowClient

from dashboard import common, data, model_info
from lakehouse import config
from lakehouse.tracking import configure_tracking


@st.cache_resource(show_spinner=False)
def registry_client(tracking_uri: str, _settings: config.Settings) -> MlflowClient:
    """One client per tracking store; configure_tracking points mlflow at it first."""
    configure_tracking(_settings)
    return MlflowClient()


@st.cache_data(ttl=common.configured_refresh_seconds(common.load_settings()), show_spinner=False)
def champion(
    tracking_uri: str, name: str, alias: str, _client: MlflowClient
) -> model_info.Champion | None:
    """Checked again every refresh: the alias moves when a better model is trained."""
    return model_info.load_champion(_client, name, alias)


@st.cache_data(show_spinner=False, max_entries=32)
def run_artifact(tracking_uri: str, run_id: str, name: str, _client: MlflowClient) -> Any:
    """Kept for good: a run's artifacts do not change."""
    return model_info.load_json_artifact(_client, run_id, name)


def calibration_chart(calibration: pd.DataFrame) -> alt.LayerChart:
    """Observed conversion rate against mean predicted probability per bin, and the diagonal."""
    diagonal = (
        alt.Chart(pd.DataFrame({"p": [0.0, 1.0]}))
        .mark_line(strokeDash=[4, 4])
        .encode(x="p:Q", y="p:Q", color=alt.value("gray"))
    )
    bins = (
        alt.Chart(calibration)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "mean_predicted:Q",
                title="mean predicted probability",
                scale=alt.Scale(domain=[0, 1]),
            ),
            y=alt.Y(
                "observed_rate:Q", title="observed conversion rate", scale=alt.Scale(domain=[0, 1])
            ),
            tooltip=["bin", "rows", "mean_predicted", "observed_rate"],
        )
    )
    return diagonal + bins


def model_panels(settings: config.Settings) -> None:
    model = settings.section("model")
    name, alias = model["conversion_model_name"], model["champion_alias"]
    tracking_uri = settings.section("mlflow")["tracking_uri"]
    client = registry_client(tracking_uri, settings)
    found = champion(tracking_uri, name, alias, client)
    if found is None:
        st.info(
            f"{data.MODEL_NOT_TRAINED}: no version of {name} has the alias {alias} in the "
            f"MLflow registry at {tracking_uri}. scripts/submit.sh ml/train_conversion.py "
            "trains and registers one."
        )
        return

    st.caption(
        f"{name} version {found.version} (alias {alias}), registered "
        f"{data.format_time(found.registered_at)}, MLflow run {found.run_id}"
    )
    metrics = found.metrics
    common.show_tiles(
        [
            ("ROC AUC", data.format_decimals(metrics.get("holdout_roc_auc"))),
            ("PR AUC", data.format_decimals(metrics.get("holdout_pr_auc"))),
            ("Log loss", data.format_decimals(metrics.get("holdout_log_loss"))),
            ("Brier score", data.format_decimals(metrics.get("holdout_brier"))),
            ("Training rows", data.format_count(metrics.get("train_rows"))),
            ("Hold-out rows", data.format_count(metrics.get("holdout_rows"))),
            ("Positive rate (training)", data.format_rate(metrics.get("train_positive_rate"))),
        ]
    )
    st.subheader("Hold-out metrics")
    st.caption("The champion beside the logistic-regression baseline, on the latest sessions.")
    st.dataframe(
        model_info.metrics_table(metrics),
        hide_index=True,
        column_config={
            "champion": st.column_config.NumberColumn("champion", format="%.4f"),
            "baseline": st.column_config.NumberColumn("baseline", format="%.4f"),
        },
    )

    calibration = run_artifact(tracking_uri, found.run_id, model_info.CALIBRATION_ARTIFACT, client)
    importances = run_artifact(tracking_uri, found.run_id, model_info.IMPORTANCES_ARTIFACT, client)
    left, right = st.columns(2)
    with left:
        st.subheader("Calibration")
        if calibration is None:
            st.info(f"The training run logged no {model_info.CALIBRATION_ARTIFACT}.")
        else:
            bins = model_info.calibration_frame(calibration)
            st.altair_chart(calibration_chart(bins))
            st.dataframe(bins, hide_index=True)
    with right:
        st.subheader("Feature importances")
        if importances is None:
            st.info(f"The training run logged no {model_info.IMPORTANCES_ARTIFACT}.")
        else:
            ranked = model_info.importance_frame(importances)
            st.bar_chart(ranked, x="feature", y="importance", horizontal=True, sort="-importance")
            st.dataframe(ranked, hide_index=True)


@st.fragment(run_every=common.refresh_interval())
def model_view(settings: config.Settings) -> None:
    """Reruns on its own at the chosen interval: a newly promoted champion shows up."""
    with common.errors_shown("the model"):
        model_panels(settings)


st.title("Conversion model")
model_view(common.load_settings())
