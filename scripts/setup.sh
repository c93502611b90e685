#!/usr/bin/env bash
# Installs what the project needs into git-ignored folders, skipping what is
# already there:
#   .venv/               Python packages pinned by pyproject.toml + requirements.lock
#   .cache/jars/spark/   Delta Lake and Spark's Kafka source, for spark-submit
#   .cache/jars/kafka/   a KRaft Kafka broker (the embedded default)
#   .cache/jars/s3a/     only with --s3a (or LAKEHOUSE_S3A=1): Hadoop's S3A file
#                        system and the AWS SDK bundle (about 600 MB) for s3a:// tables
# Needs python3 (3.11 or 3.12), Java 17+ and Maven; reaches PyPI and Maven Central.
set -euo pipefail

with_s3a=${LAKEHOUSE_S3A:-0}
for arg in "$@"; do
    case "$arg" in
        --s3a) with_s3a=1 ;;
        *) echo "usage: scripts/setup.sh [--s3a]" >&2; exit 2 ;;
    esac
done

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
    if [ "$profile" != kafka ]; then
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
if [ "$with_s3a" = 1 ]; then
    resolve s3a "$JARS/s3a"
fi

# --- Chromium for the dashboard's browser test and screenshot (Debian's package) -----------
# Playwright drives this binary: it cannot download browsers of its own here. Installed with
# apt-get only when missing (sudo unless root); without it only tests/test_dashboard_browser.py
# is skipped, so a failed install is reported and setup goes on.
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    :
elif ! command -v apt-get >/dev/null; then
    log "no chromium and no apt-get: install Chromium yourself for the dashboard's browser test"
else
    as_root=()
    [ "$(id -u)" -eq 0 ] || as_root=(sudo -n)
    log "installing chromium with apt-get (dashboard browser test)"
    if ! { "${as_root[@]}" apt-get update -qq \
            && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
    then
        log "could not install chromium: tests/test_dashboard_browser.py will be skipped"
    fi
fi
# --------------------------------------------------------------------------------------------

log "ready: $("$VENV/bin/python" -c 'import pyspark; print("pyspark", pyspark.__version__)'), jars: $(ls "$JARS/spark" | tr '\n' ' ')"
