#!/usr/bin/env bash
# Installs what the project needs into git-ignored folders, skipping what is
# already there:
#   .venv/               Python packages pinned by pyproject.toml + requirements.lock
#   .cache/jars/spark/   Delta Lake and Spark's Kafka source, for spark-submit
#   .cache/jars/kafka/   a KRaft Kafka broker (the embedded default)
# Needs python3 (3.11 or 3.12), Java 17+ and Maven; reaches PyPI and Maven Central.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv
JARS=.cache/jars
POM=scripts/jvm/pom.xml
MVN_SETTINGS=scripts/jvm/settings.xml

log() { echo "[setup] $*"; }

for tool in java mvn "$PYTHON"; do
    command -v "$tool" >/dev/null || { echo "[setup] $tool is required but not found" >&2; exit 1; }
done

# A stamp records what the venv was built from, so an edit of either file
# reinstalls and an unchanged checkout skips pip entirely.
stamp=$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)
if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$stamp" ]; then
    log "installing Python packages (pinned)"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet -c requirements.lock -e ".[dev]"
    echo "$stamp" > "$VENV/.stamp"
fi

# Resolve one pom profile into a folder. Jars that pyspark already ships
# (Scala, Hadoop, log4j, ...) are left out of the Spark folder so that a
# single version of each sits on the driver's classpath.
resolve() {
    local profile=$1 target=$2 stamp_file="$2/.stamp"
    local want
    want=$(sha256sum "$POM" | cut -c1-16)
    [ "$(cat "$stamp_file" 2>/dev/null)" = "$want" ] && return 0
    log "resolving the $profile jars from Maven Central"
    rm -rf "$target" && mkdir -p "$target"
    mvn -q -B -Dstyle.color=never -s "$MVN_SETTINGS" -f "$POM" -P "$profile" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$PWD/$target"
    if [ "$profile" = spark ]; then
        local shipped
        shipped=$("$VENV/bin/python" -c 'import pyspark, os; print(os.path.dirname(pyspark.__file__))')/jars
        for jar in "$target"/*.jar; do
            local name artifact
            name=$(basename "$jar" .jar)
            artifact=${name%-*}
            if compgen -G "$shipped/$artifact-[0-9]*.jar" >/dev/null; then
                rm "$jar"
            fi
        done
    fi
    echo "$want" > "$stamp_file"
}
resolve spark "$JARS/spark"
resolve kafka "$JARS/kafka"

log "ready: $("$VENV/bin/python" -c 'import pyspark; print("pyspark", pyspark.__version__)'), jars: $(ls "$JARS/spark" | tr '\n' ' ')"
