#!/usr/bin/env bash
# spark-submit with the project's jars and spark-defaults, e.g.
#   scripts/submit.sh jobs/bronze.py --trigger available_now
# SPARK_MASTER picks another cluster (spark://host:7077, k8s://...);
# SPARK_SUBMIT_ARGS adds options before the script (e.g. "--conf k=v").
# With the opt-in S3A jars (scripts/setup.sh --s3a) they go on the driver's and
# executors' class path from .cache/jars/s3a: every worker needs them at that
# same path (the Docker image has them), as they are too big to ship per job.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
jars=$(ls .cache/jars/spark/*.jar 2>/dev/null | paste -sd, -)
[ -n "$jars" ] || { echo "no jars in .cache/jars/spark: run 'make setup' first" >&2; exit 1; }

export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$PWD/$VENV/bin/python}
export PYSPARK_DRIVER_PYTHON=${PYSPARK_DRIVER_PYTHON:-$PYSPARK_PYTHON}
export SPARK_CONF_DIR=${SPARK_CONF_DIR:-$PWD/conf/spark}

# Without a cluster, or with a master on loopback, the driver and its UI
# listen on loopback only.
local_only=()
case "${SPARK_MASTER:-local}" in
    local*|spark://127.0.0.1:*|spark://localhost:*)
        local_only=(--conf spark.driver.bindAddress=127.0.0.1 --conf spark.driver.host=127.0.0.1)
        export SPARK_LOCAL_IP=${SPARK_LOCAL_IP:-127.0.0.1} ;;
esac

s3a=()
if compgen -G ".cache/jars/s3a/*.jar" >/dev/null; then
    s3a=(--conf "spark.driver.extraClassPath=$PWD/.cache/jars/s3a/*"
         --conf "spark.executor.extraClassPath=$PWD/.cache/jars/s3a/*")
fi

# shellcheck disable=SC2086
exec "$VENV/bin/spark-submit" \
    --properties-file conf/spark-defaults.conf \
    ${SPARK_MASTER:+--master "$SPARK_MASTER"} \
    --jars "$jars" \
    "${local_only[@]}" \
    "${s3a[@]}" \
    ${SPARK_SUBMIT_ARGS:-} \
    "$@"
