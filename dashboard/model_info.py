"""What the Model page shows about the champion conversion model, read from MLflow.

The registry's alias (conf [model] champion_alias) names the champion version; its training
run (lakehouse/training.py) holds the hold-out metrics of the model and of the logistic
baseline, the data sizes, and two JSON artifacts: the calibration table and the feature
importances. load_champion() and load_json_artifact() read them with an MlflowClient; the
other functions shape them for display and are pure.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)

# The artifact names lakehouse/training.py logs with mlflow.log_dict.
CALIBRATION_ARTIFACT = "calibration.json"
IMPORTANCES_ARTIFACT = "feature_importances.json"

# The registry's answers when the model, or its alias, does not exist yet.
NOT_FOUND_ERRORS = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})

# Hold-out metrics as training.py logs them: holdout_<m> for the model, baseline_holdout_<m>.
METRICS = ("roc_auc", "pr_auc", "log_loss", "brier")
METRIC_LABELS = {
    "roc_auc": "ROC AUC (higher is better)",
    "pr_auc": "PR AUC (higher is better)",
    "log_loss": "log loss (lower is better)",
    "brier": "Brier score (lower is better)",
}


@dataclass(frozen=True)
class Champion:
    """The champion version of a registered model and the metrics of its training run."""

    name: str
    alias: str
    version: str
    run_id: str
    registered_at: datetime
    metrics: dict[str, float]


def load_json_artifact(client: MlflowClient, run_id: str, name: str) -> Any:
    """A JSON artifact of the run, or None when the run did not log it (a warning says so).

    A run's artifacts never change, so callers may cache the result for good.
    """
    with tempfile.TemporaryDirectory() as folder:
        try:
            local = client.download_artifacts(run_id, name, folder)
        except (MlflowException, OSError) as error:
            logger.warning("run %s has no readable %s: %s", run_id, name, error)
            return None
        return json.loads(Path(local).read_text())


def load_champion(client: MlflowClient, name: str, alias: str) -> Champion | None:
    """The version behind `alias` of model `name`, with its training run's metrics.

    None while no model of that name, or no version with that alias, is registered. Any
    other registry error (an unreachable tracking server) is raised.
    """
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if error.error_code in NOT_FOUND_ERRORS:
            return None
        raise
    run = client.get_run(version.run_id)
    return Champion(
        name=name,
        alias=alias,
        version=str(version.version),
        run_id=version.run_id,
        registered_at=datetime.fromtimestamp(version.creation_timestamp / 1000, tz=UTC),
        metrics=dict(run.data.metrics),
    )


def metrics_table(metrics: dict[str, float]) -> pd.DataFrame:
    """metric, champion, baseline: the hold-out metrics side by side (NaN where not logged)."""
    return pd.DataFrame(
        {
            "metric": [METRIC_LABELS[name] for name in METRICS],
            "champion": [metrics.get(f"holdout_{name}", float("nan")) for name in METRICS],
            "baseline": [metrics.get(f"baseline_holdout_{name}", float("nan")) for name in METRICS],
        }
    )


def calibration_frame(calibration: list[dict[str, Any]]) -> pd.DataFrame:
    """The calibration table: bin, rows, mean_predicted, observed_rate, lowest bin first."""
    frame = pd.DataFrame(calibration).sort_values("bin_low", kind="mergesort")
    bins = [
        f"{low:.1f}-{high:.1f}"
        for low, high in zip(frame["bin_low"], frame["bin_high"], strict=True)
    ]
    return pd.DataFrame(
        {
            "bin": bins,
            "rows": frame["rows"].astype("int64").to_numpy(),
            "mean_predicted": frame["mean_predicted"].astype("float64").to_numpy(),
            "observed_rate": frame["observed_rate"].astype("float64").to_numpy(),
        }
    )


def importance_frame(importances: dict[str, float]) -> pd.DataFrame:
    """feature, importance: the most important feature first (ties by name)."""
    frame = pd.DataFrame({"feature": list(importances), "importance": list(importances.values())})
    frame = frame.sort_values(["importance", "feature"], ascending=[False, True], kind="mergesort")
    return frame.reset_index(drop=True)
