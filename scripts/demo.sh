#!/usr/bin/env bash
# The whole product on one machine, from a fresh clone:
#   1. install what is missing (scripts/setup.sh)
#   2. start the embedded Kafka broker (unless LAKEHOUSE_KAFKA_BOOTSTRAP points elsewhere)
#   3. replay the real REES46 sample, then the simulator's shows, into Kafka
#   4. catch bronze, silver and gold up with one availableNow run
#   5. keep the pipeline running live, with the simulator sending a 30-minute show in real
#      time, and train the conversion model and the segments in the background
#   6. serve the dashboard on http://127.0.0.1:8501 until Ctrl-C, then stop it all
# Logs go to var/demo/. DEMO_NO_DASHBOARD=1 stops after step 5 (for scripted checks).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
say() { echo "[demo +$(( $(date +%s) - started ))s] $*"; }
LOGS=var/demo
PY=.venv/bin/python
PORT=${DASHBOARD_PORT:-8501}
REES46=${REES46_CSV:-../shared/data/rees46-2019-oct-head/2019-Oct_head.csv}
mkdir -p "$LOGS"

bash scripts/setup.sh
say "setup done"

"$PY" -m lakehouse.broker start
say "Kafka is up"

if [ -f "$REES46" ]; then
    "$PY" jobs/replay_rees46.py --csv "$REES46" --speedup 0
    say "replayed $REES46"
else
    say "no REES46 sample at $REES46: the demo runs on the simulator alone"
fi
"$PY" jobs/simulate.py
say "simulated shows sent"

scripts/submit.sh jobs/pipeline.py --trigger available_now > "$LOGS/catch-up.log" 2>&1 \
    || { tail -30 "$LOGS/catch-up.log"; exit 1; }
say "bronze, silver and gold caught up (log: $LOGS/catch-up.log)"

pids=()
stop_all() {
    say "stopping"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "$PY" -m lakehouse.broker stop
}
trap stop_all EXIT

scripts/submit.sh jobs/pipeline.py --trigger processing_time > "$LOGS/pipeline.log" 2>&1 &
pids+=($!)
"$PY" jobs/simulate.py --live --streams 1 --stream-minutes 30 --seed "$(date +%s)" \
    > "$LOGS/simulator.log" 2>&1 &
pids+=($!)
say "live pipeline and simulator running (logs: $LOGS/pipeline.log, $LOGS/simulator.log)"

# The models train beside the live stream; the stream picks the conversion
# model up from the registry as soon as it is registered as champion.
( scripts/submit.sh ml/train_conversion.py && scripts/submit.sh ml/train_segments.py ) \
    > "$LOGS/training.log" 2>&1 &
pids+=($!)
say "training the conversion model and the segments (log: $LOGS/training.log)"

if [ -n "${DEMO_NO_DASHBOARD:-}" ]; then
    say "DEMO_NO_DASHBOARD set: not serving the dashboard"
    exit 0
fi
say "dashboard on http://127.0.0.1:$PORT (Ctrl-C stops everything)"
"$PY" -m streamlit run dashboard/app.py --server.address 127.0.0.1 --server.port "$PORT" \
    --server.headless true --browser.gatherUsageStats false
