"""Project settings: conf/lakehouse.toml, overridden by a few environment variables.

LAKEHOUSE_CONF            another settings file
LAKEHOUSE_KAFKA_BOOTSTRAP an external Kafka (host:port[,host:port]) instead of the embedded one
LAKEHOUSE_KAFKA_TOPIC     the events topic
LAKEHOUSE_ROOT            root folder (or URI) of the Delta tables and checkpoints
MLFLOW_TRACKING_URI       an MLflow tracking server instead of the embedded SQLite store
"""

from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_CONF = PROJECT_DIR / "conf" / "lakehouse.toml"

BRONZE_EVENTS = "bronze/events"
SILVER_EVENTS = "silver/events"
SILVER_QUARANTINE = "silver/quarantine"
SILVER_SESSIONS = "silver/sessions"
GOLD_STREAMS = "gold/streams"
GOLD_SESSIONS = "gold/fct_sessions"
GOLD_VIEWERS_PER_MINUTE = "gold/viewers_per_minute"
GOLD_KPIS = "gold/kpis"
GOLD_RFM = "gold/rfm_analysis"
GOLD_PREDICTIONS = "gold/predicted_conversions"
GOLD_SEGMENTS_SCORED = "gold/customer_segments_scored"
GOLD_SEGMENTS_NAMED = "gold/customer_segments_named"
GOLD_DATA_QUALITY = "gold/data_quality"
GOLD_LIVE_ACTIVITY = "gold/live_activity"


@dataclass(frozen=True)
class Settings:
    """The parsed settings file with the environment applied."""

    raw: dict[str, Any]

    def section(self, name: str) -> dict[str, Any]:
        return self.raw.get(name, {})

    @property
    def kafka_embedded(self) -> bool:
        return self.raw["kafka"]["bootstrap_servers"] == "embedded"

    @property
    def bootstrap_servers(self) -> str:
        kafka = self.raw["kafka"]
        if kafka["bootstrap_servers"] == "embedded":
            embedded = kafka["embedded"]
            return f"{embedded['host']}:{embedded['port']}"
        return kafka["bootstrap_servers"]

    @property
    def topic(self) -> str:
        return self.raw["kafka"]["topic"]

    @property
    def root(self) -> str:
        return self.raw["storage"]["root"]

    def table(self, name: str) -> str:
        """Location of a Delta table, e.g. table(SILVER_EVENTS)."""
        return f"{self.root.rstrip('/')}/{name}"

    def checkpoint(self, query_name: str) -> str:
        """One checkpoint folder per streaming query."""
        return f"{self.root.rstrip('/')}/_checkpoints/{query_name}"

    def with_overrides(
        self,
        bootstrap_servers: str | None = None,
        topic: str | None = None,
        root: str | None = None,
        mlflow_dir: str | None = None,
    ) -> Settings:
        """A copy pointing at another Kafka, topic, storage root or MLflow folder (tests)."""
        raw = copy.deepcopy(self.raw)
        if bootstrap_servers:
            raw["kafka"]["bootstrap_servers"] = bootstrap_servers
        if topic:
            raw["kafka"]["topic"] = topic
        if root:
            raw["storage"]["root"] = _absolute(root)
        if mlflow_dir:
            folder = Path(_absolute(mlflow_dir))
            raw["mlflow"]["tracking_uri"] = f"sqlite:///{folder / 'mlflow.db'}"
            raw["mlflow"]["artifact_root"] = str(folder / "artifacts")
        return Settings(raw)

    @property
    def engagement_weights(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.raw["engagement"]["weights"].items()}


def _absolute(path: str) -> str:
    """Relative local paths are taken from the project folder; URIs are left alone."""
    if "://" in path or Path(path).is_absolute():
        return path
    return str(PROJECT_DIR / path)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read the settings file and apply the LAKEHOUSE_* environment variables."""
    conf_path = Path(path or os.environ.get("LAKEHOUSE_CONF") or DEFAULT_CONF)
    with conf_path.open("rb") as handle:
        raw = tomllib.load(handle)

    kafka = raw["kafka"]
    kafka["bootstrap_servers"] = os.environ.get(
        "LAKEHOUSE_KAFKA_BOOTSTRAP", kafka["bootstrap_servers"]
    )
    kafka["topic"] = os.environ.get("LAKEHOUSE_KAFKA_TOPIC", kafka["topic"])
    kafka["embedded"]["data_dir"] = _absolute(kafka["embedded"]["data_dir"])
    raw["storage"]["root"] = _absolute(os.environ.get("LAKEHOUSE_ROOT", raw["storage"]["root"]))
    # Read once here: mlflow.set_tracking_uri() itself writes this variable later on.
    raw["mlflow"]["tracking_uri"] = os.environ.get(
        "MLFLOW_TRACKING_URI", raw["mlflow"]["tracking_uri"]
    )
    return Settings(raw)
