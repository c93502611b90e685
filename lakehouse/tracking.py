"""MLflow tracking and registry: the embedded SQLite store, or a server from the environment.

The embedded default keeps runs, the model registry and artifacts under
var/mlflow (conf [mlflow]). Setting MLFLOW_TRACKING_URI (e.g.
http://mlflow:5000) uses that tracking server for runs and registry instead.
"""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow

from lakehouse.config import PROJECT_DIR, Settings

log = logging.getLogger(__name__)


def _embedded_uri(uri: str) -> str:
    """sqlite:///relative/path -> an absolute path under the project folder."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        path = PROJECT_DIR / uri[len(prefix) :]
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"{prefix}{path}"
    return uri


def configure_tracking(settings: Settings) -> str:
    """Point mlflow at the tracking store and registry; create the experiment; return its id."""
    tracking = settings.section("mlflow")
    uri = _embedded_uri(tracking["tracking_uri"])
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)

    name = settings.section("model")["experiment"]
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        artifacts = None
        if uri.startswith("sqlite:"):
            root = Path(tracking["artifact_root"])
            root = root if root.is_absolute() else PROJECT_DIR / root
            root.mkdir(parents=True, exist_ok=True)
            artifacts = root.as_uri()
        experiment_id = mlflow.create_experiment(name, artifact_location=artifacts)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    log.info("MLflow tracking at %s, experiment %s (%s)", uri, name, experiment_id)
    return experiment_id
