"""The one SparkSession factory of the project.

Under spark-submit (scripts/submit.sh) the jars, master and resources come
from the command line and conf/spark-defaults.conf. When Python starts the
JVM itself (tests, notebooks) the factory adds the jars that
scripts/setup.sh resolved, so the same code runs both ways.

Either way, tables on object storage (LAKEHOUSE_ROOT=s3a://bucket/...) take
their endpoint and region from the standard AWS variables (object_store_conf);
the S3A jars come from `scripts/setup.sh --s3a`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.config import PROJECT_DIR

SPARK_JARS = PROJECT_DIR / ".cache" / "jars" / "spark"
S3A_JARS = PROJECT_DIR / ".cache" / "jars" / "s3a"
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


def s3a_classpath(folder: Path = S3A_JARS) -> dict[str, str]:
    """Put the opt-in S3A jars, when resolved, on the driver's and executors' class path.

    They stay off spark.jars: the AWS SDK bundle is too big to ship to the executors
    with every job, so workers need them at the same path (the Docker image has them).
    """
    if not any(Path(folder).glob("*.jar")):
        return {}
    entry = f"{folder}/*"
    return {"spark.driver.extraClassPath": entry, "spark.executor.extraClassPath": entry}


def object_store_conf(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Hadoop S3A settings for s3a:// tables from the standard AWS variables.

    AWS_ENDPOINT_URL (an S3-compatible store such as MinIO) becomes the S3A endpoint,
    with path-style bucket addressing; AWS_REGION (or AWS_DEFAULT_REGION) the signing
    region. The keys are not copied into Spark's conf, where the UI would list them:
    S3A's default credential chain reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
    from the environment of the driver and of each executor (which inherits the
    worker's). `environ` defaults to the process environment.
    """
    environ = os.environ if environ is None else environ
    conf = {}
    endpoint = environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    return conf


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
    settings = {**REQUIRED_CONF, **object_store_conf()}
    launched_by_python = "PYSPARK_GATEWAY_PORT" not in os.environ
    if launched_by_python:
        settings = {
            **spark_defaults(),
            **settings,
            **s3a_classpath(),
            "spark.jars": ",".join(local_jars()),
        }
        settings["spark.master"] = os.environ.get("SPARK_MASTER", settings.get("spark.master"))
        if settings["spark.master"].startswith("local"):
            settings.update(LOOPBACK_CONF)
    for key, value in {**settings, **(conf or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
