"""The one SparkSession factory of the project.

Under spark-submit (scripts/submit.sh) the jars, master and resources come
from the command line and conf/spark-defaults.conf. When Python starts the
JVM itself (tests, notebooks) the factory adds the jars that
scripts/setup.sh resolved, so the same code runs both ways.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.config import PROJECT_DIR

SPARK_JARS = PROJECT_DIR / ".cache" / "jars" / "spark"
SPARK_DEFAULTS = PROJECT_DIR / "conf" / "spark-defaults.conf"

# Settings the code depends on for correctness, not for speed: Delta as the
# catalog and every timestamp read and written in UTC.
REQUIRED_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",
}


# A local run listens on loopback only (driver, block manager and UI).
LOOPBACK_CONF = {"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"}


def local_jars() -> list[str]:
    """The resolved Delta and Kafka-source jars, or an error saying how to get them."""
    jars = sorted(str(path) for path in Path(SPARK_JARS).glob("*.jar"))
    if not jars:
        raise RuntimeError(f"no jars in {SPARK_JARS}: run `make setup` first")
    return jars


def spark_defaults(path: Path = SPARK_DEFAULTS) -> dict[str, str]:
    """The key-value pairs of a spark-defaults.conf file (comments and blanks skipped)."""
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            pairs[key] = value.strip()
    return pairs


def build_session(app_name: str, conf: dict[str, str] | None = None) -> SparkSession:
    """Get or create the SparkSession of a job, with Delta Lake enabled.

    Started from plain Python, it reads conf/spark-defaults.conf itself, as
    spark-submit would, and adds the resolved jars; `conf` overrides both.
    """
    builder = SparkSession.builder.appName(app_name)
    settings = dict(REQUIRED_CONF)
    launched_by_python = "PYSPARK_GATEWAY_PORT" not in os.environ
    if launched_by_python:
        settings = {**spark_defaults(), **settings, "spark.jars": ",".join(local_jars())}
        settings["spark.master"] = os.environ.get("SPARK_MASTER", settings.get("spark.master"))
        if settings["spark.master"].startswith("local"):
            settings.update(LOOPBACK_CONF)
    for key, value in {**settings, **(conf or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
