"""The MLflow model registry: register a version, move the champion alias, load by alias."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from pyspark.ml import PipelineModel

log = logging.getLogger(__name__)


def champion_version(name: str, alias: str) -> str | None:
    """The version the alias points at, or None (no such model or alias yet)."""
    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


@dataclass(frozen=True)
class Promotion:
    version: str
    promoted: bool
    previous_champion: str | None
    challenger_score: float
    champion_score: float | None


def promote_if_better(
    name: str,
    alias: str,
    version: str,
    challenger_score: float,
    score_champion: Callable[[PipelineModel], float],
) -> Promotion:
    """Move `alias` to `version` when there is no champion or the challenger scores higher.

    score_champion evaluates the current champion on the same hold-out as the
    challenger, so both are judged on the same rows. A champion that no longer
    loads (e.g. trained on other features) is replaced.
    """
    current = champion_version(name, alias)
    champion_score = None
    if current is not None:
        try:
            champion = mlflow.spark.load_model(f"models:/{name}@{alias}")
            champion_score = score_champion(champion)
        except Exception:  # an unloadable champion must not block a working model
            log.exception("champion %s v%s could not be scored; replacing it", name, current)
    promoted = champion_score is None or challenger_score > champion_score
    if promoted:
        MlflowClient().set_registered_model_alias(name, alias, version)
    log.info(
        "%s v%s scored %.4f against champion v%s %s: %s",
        name,
        version,
        challenger_score,
        current,
        "n/a" if champion_score is None else f"{champion_score:.4f}",
        "promoted" if promoted else "kept the champion",
    )
    return Promotion(version, promoted, current, challenger_score, champion_score)


class ChampionModel:
    """The model behind an alias, reloaded when the alias moves to another version."""

    def __init__(self, name: str, alias: str) -> None:
        self.name = name
        self.alias = alias
        self.version: str | None = None
        self.model: PipelineModel | None = None

    def current(self) -> tuple[str | None, PipelineModel | None]:
        """Check the alias (one registry lookup) and load the model if it moved."""
        version = champion_version(self.name, self.alias)
        if version is not None and version != self.version:
            self.model = mlflow.spark.load_model(f"models:/{self.name}/{version}")
            log.info("loaded %s v%s (alias %s)", self.name, version, self.alias)
            self.version = version
        return self.version, self.model
