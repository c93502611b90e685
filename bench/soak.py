"""Soak: a steady rate of live events through the running pipeline; memory, state and backlog.

Starts the project's Kafka broker on free loopback ports in a temporary folder,
jobs/pipeline.py under spark-submit on processing-time triggers, and a producer
that sends --rate events per second for --minutes. The events are the
simulator's, re-dated to the moment they are sent and given fresh ids on each
pass over the simulation, so every one is valid and on time.

Every --sample-seconds it records:
- the resident memory (RSS) of the driver's JVM and of its Python process;
- the streaming queries' state rows and last batch (their progress files);
- messages sent, rows in bronze, in silver/events and in silver/quarantine
  (from the Delta logs' statistics), hence the backlog of each layer.

Prints one line a sample and writes every sample plus a summary (first and
last thirds compared) to bench/results/soak.json.

Run:  .venv/bin/python -m bench.soak --rate 500 --minutes 15
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import mean
from typing import Any

from bench.live import rows_in, start_pipeline
from bench.workload import Workload
from lakehouse import config
from lakehouse.broker import EmbeddedBroker, free_port
from lakehouse.config import PROJECT_DIR
from lakehouse.contract import format_time
from lakehouse.producers.kafka_sink import create_producer, encode_event, ensure_topic
from lakehouse.producers.simulator import SimulatorConfig
from lakehouse.progress import read_progress

TOPIC = "soak_events"


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=500.0, help="events per second")
    parser.add_argument("--minutes", type=float, default=15.0, help="how long to send")
    parser.add_argument("--sample-seconds", type=float, default=30.0, help="sampling period")
    parser.add_argument(
        "--output", default=str(PROJECT_DIR / "bench" / "results" / "soak.json"), help="results"
    )
    return parser.parse_args(argv)


class Sender(threading.Thread):
    """Sends the simulation's events at a steady rate, each dated when it is sent."""

    def __init__(self, bootstrap_servers: str, rate: float, seconds: float) -> None:
        super().__init__(daemon=True)
        self.bootstrap_servers = bootstrap_servers
        self.rate = rate
        self.seconds = seconds
        self.sent = 0
        self.workload = Workload(SimulatorConfig())

    def run(self) -> None:
        started = time.monotonic()
        with create_producer(self.bootstrap_servers) as producer:
            while (elapsed := time.monotonic() - started) < self.seconds:
                due = int(elapsed * self.rate)
                while self.sent < due:
                    event = self.workload.live_event(self.sent, datetime.now(UTC))
                    key, value = encode_event(event)
                    producer.send(TOPIC, key=key, value=value)
                    self.sent += 1
                time.sleep(0.05)
            producer.flush()


def group_rss_mb(group: int) -> dict[str, float]:
    """RSS in MB of the java and python processes of a process group."""
    found: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = stat.with_name("comm").read_text().strip()
            status = stat.with_name("status").read_text()
        except OSError:
            continue
        if int(fields[2]) != group:
            continue
        kind = "jvm" if command == "java" else "python" if command.startswith("python") else None
        # A process that is exiting (a zombie) has no VmRSS line.
        rss = [line for line in status.splitlines() if line.startswith("VmRSS")]
        if kind and rss:
            key = f"{kind}_rss_mb"
            found[key] = found.get(key, 0) + int(rss[0].split()[1]) / 1024
    return found


def summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Means of the first and the last third of the samples, for a flat-or-not verdict."""
    third = max(1, len(samples) // 3)
    keys = ("jvm_rss_mb", "python_rss_mb", "state_rows", "bronze_backlog", "silver_backlog")
    result = {}
    for key in keys:
        values = [s[key] for s in samples if s.get(key) is not None]
        if len(values) >= 2:
            result[key] = {
                "first_third_mean": round(mean(values[:third]), 1),
                "last_third_mean": round(mean(values[-third:]), 1),
                "max": round(max(values), 1),
            }
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    root = work / "lake"
    broker = EmbeddedBroker(
        data_dir=work / "kafka", port=free_port(), controller_port=free_port(), heap="512m"
    )
    broker.start()
    samples: list[dict[str, Any]] = []
    pipeline = None
    log_file = (work / "pipeline.log").open("w")
    try:
        ensure_topic(broker.bootstrap_servers, TOPIC, partitions=3)
        pipeline = start_pipeline(
            broker.bootstrap_servers, TOPIC, root, work / "mlflow.db", log_file
        )
        sender = Sender(broker.bootstrap_servers, args.rate, args.minutes * 60)
        sender.start()
        started = time.monotonic()
        while sender.is_alive() or time.monotonic() - started < args.minutes * 60:
            time.sleep(args.sample_seconds)
            if pipeline.poll() is not None:
                raise RuntimeError(f"the pipeline exited with {pipeline.returncode}; see {work}")
            progress = {r["name"]: r for r in read_progress(str(root / "_progress"))}
            bronze = rows_in(root / config.BRONZE_EVENTS)
            silver = rows_in(root / config.SILVER_EVENTS) + rows_in(root / config.SILVER_QUARANTINE)
            sample = {
                "seconds": round(time.monotonic() - started),
                "sent": sender.sent,
                "bronze_rows": bronze,
                "silver_rows": silver,
                "bronze_backlog": sender.sent - bronze,
                "silver_backlog": bronze - silver,
                "state_rows": sum(r.get("state_rows") or 0 for r in progress.values()),
                "batches": {name: r.get("batch_id") for name, r in progress.items()},
                **group_rss_mb(pipeline.pid),
            }
            samples.append(sample)
            print(json.dumps(sample), flush=True)
    finally:
        if pipeline is not None and pipeline.poll() is None:
            os.killpg(pipeline.pid, signal.SIGTERM)
            pipeline.wait(timeout=60)
        log_file.close()
        broker.stop()
    result = {
        "rate_per_second": args.rate,
        "minutes": args.minutes,
        "cores": os.cpu_count(),
        "finished_at": format_time(datetime.now(UTC)),
        "summary": summary(samples),
        "samples": samples,
    }
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
