#!/usr/bin/env bash
# spark-submit with the project's jars and spark-defaults, e.g.
#   scripts/submit.sh jobs/bronze.py --trigger available_now
# SPARK_MASTER picks another cluster (spark://host:7077, k8s://...);
# SPARK_SUBMIT_ARGS adds options before the script (e.g. "--conf k=v").
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
jars=$(ls .cache/jars/spark/*.jar 2>/dev/null | paste -sd, -)
[ -n "$jars" ] || { echo "no jars in .cache/jars/spark: run 'make setup' first" >&2; exit 1; }

export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$PWD/$VENV/bin/python}
export PYSPARK_DRIVER_PYTHON=${PYSPARK_DRIVER_PYTHON:-$PYSPARK_PYTHON}
export SPARK_CONF_DIR=${SPARK_CONF_DIR:-$PWD/conf/spark}

# Without a cluster, the driver and its UI listen on loopback only.
local_only=()
case "${SPARK_MASTER:-local}" in
    local*) local_only=(--conf spark.driver.bindAddress=127.0.0.1 --conf spark.driver.host=127.0.0.1)
            export SPARK_LOCAL_IP=${SPARK_LOCAL_IP:-127.0.0.1} ;;
esac

# shellcheck disable=SC2086
exec "$VENV/bin/spark-submit" \
    --properties-file conf/spark-defaults.conf \
    ${SPARK_MASTER:+--master "$SPARK_MASTER"} \
    --jars "$jars" \
    "${local_only[@]}" \
    ${SPARK_SUBMIT_ARGS:-} \
    "$@"
