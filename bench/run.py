"""make bench: the pipeline's speed beside the machine's limits, in one run.

Starts the project's Kafka broker on free loopback ports in a temporary folder
and measures, in this order:

1. consume   the raw consume rate of a topic of --events events: Kafka's own
             Java consumer (kafka-consumer-perf-test), the I/O limit, and
             kafka-python, a plain single-threaded Python consumer;
2. ingest    bronze, silver and gold caught up (availableNow) over those
             events in a fresh lake: events/s of each layer, bronze and
             silver against (1);
4. rounds    then --rounds - 1 more rounds of --events new events each, every
             layer caught up after each: CPU seconds (driver JVM + Python)
             per million events for each round, so the first million and the
             last are compared at the same batch sizes;
5. duckdb    the gold figures of round 1 recomputed by DuckDB from the same
             events (bench/duckdb_reference.py), with its time;
3. latency   jobs/pipeline.py under spark-submit on processing-time triggers
             while --rate events/s are sent for --latency-seconds: one probe
             session a second, timed from its send to its row in
             gold/live_activity (the live path) and in gold/fct_sessions (the
             three layers): p50, p95, p99 of each;
6. dashboard the data load of each dashboard page over gold tables with
             1M sessions (bench/dashboard_load.py);
7. gbt       the GBT against sklearn's HistGradientBoosting on the same rows
             (bench/shoppers_gbt.py).

Each stage can be left out (--skip). Figures are printed as they come and
written to bench/results/bench.json and bench/results/bench.md, with the
machine's cores, memory and versions. The runs share this machine with
whatever else runs: quote ratios from one run, not figures across runs.

Run:  make bench    or    .venv/bin/python -m bench.run --help
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from statistics import quantiles
from typing import Any

import confluent_kafka as librdkafka
import pyarrow.dataset
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from kafka import KafkaConsumer

from bench.live import rows_in, start_pipeline
from bench.workload import Workload, probe_event
from lakehouse import config
from lakehouse.broker import KAFKA_JARS, EmbeddedBroker, free_port
from lakehouse.config import DEFAULT_CONF, PROJECT_DIR, load_settings
from lakehouse.contract import format_time
from lakehouse.producers.kafka_sink import encode_event, ensure_topic

log = logging.getLogger("bench")

RESULTS = PROJECT_DIR / "bench" / "results"
# The layers' niceness when the live query runs apart: on a small machine the
# live job takes the CPU it needs first, the layers take the rest.
LAYERS_NICENESS = 10
STAGES = ("consume", "ingest", "rounds", "duckdb", "latency", "dashboard", "gbt")
TOPIC = "bench_events"
LIVE_TOPIC = "bench_live_events"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events per round")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of --events (stage 4)")
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[5000.0, 500.0],
        help="events/s of the latency runs, one run each",
    )
    parser.add_argument("--latency-seconds", type=float, default=120.0, help="measured seconds")
    parser.add_argument("--warmup-seconds", type=float, default=45.0, help="before measuring")
    parser.add_argument(
        "--trigger-interval", default="2 seconds", help="trigger interval of the latency runs"
    )
    parser.add_argument(
        "--live-query",
        choices=["apart", "in_pipeline"],
        default="apart",
        help="latency runs: the live query as jobs/live.py beside the layers' jobs/pipeline.py "
        f"run at niceness {LAYERS_NICENESS} (apart), or inside jobs/pipeline.py",
    )
    parser.add_argument("--dashboard-sessions", type=int, default=1_000_000)
    parser.add_argument("--skip", nargs="*", default=[], choices=STAGES, help="stages to leave out")
    parser.add_argument("--conf", default=str(DEFAULT_CONF), help="the lakehouse settings to run")
    parser.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--output", default=str(RESULTS / "bench.json"))
    return parser.parse_args(argv)


# --- machine and versions ---------------------------------------------------------------


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    cpu = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line]
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    kafka_jar = next(KAFKA_JARS.glob("kafka-clients-*.jar"), None)
    versions = {"python": platform.python_version(), "java": java.splitlines()[0]}
    for package in (
        "pyspark",
        "delta-spark",
        "deltalake",
        "duckdb",
        "kafka-python",
        "confluent-kafka",
        "scikit-learn",
    ):
        versions[package] = metadata.version(package)
    versions["librdkafka"] = librdkafka.libversion()[0]
    versions["kafka broker"] = kafka_jar.stem.rsplit("-", 1)[1] if kafka_jar else None
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(total_kb / 2**20, 1),
        "cpu": cpu[0].split(":", 1)[1].strip() if cpu else platform.processor(),
        "os": platform.platform(),
        "versions": versions,
    }


# --- helpers ------------------------------------------------------------------------------


def conf_file(source: Path, target: Path, overrides: dict[str, dict[str, Any]]) -> Path:
    """A copy of a settings file with some keys replaced (sections of scalar values only)."""
    settings = tomllib.loads(source.read_text())
    for section, values in overrides.items():
        node = settings
        for part in section.split("."):
            node = node[part]
        node.update(values)

    def literal(value: Any) -> str:
        return json.dumps(value) if not isinstance(value, bool) else str(value).lower()

    lines: list[str] = []

    def write(node: dict[str, Any], prefix: str) -> None:
        scalars = {k: v for k, v in node.items() if not isinstance(v, dict)}
        if prefix:
            lines.append(f"\n[{prefix}]")
        lines.extend(f"{key} = {literal(value)}" for key, value in scalars.items())
        for key, value in node.items():
            if isinstance(value, dict):
                write(value, f"{prefix}.{key}" if prefix else key)

    write(settings, "")
    target.write_text("\n".join(lines) + "\n")
    return target


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def librdkafka_producer(bootstrap: str) -> librdkafka.Producer:
    """A librdkafka producer that waits for every in-sync replica and keys as Java's does.

    The bench sends through librdkafka, not kafka-python, so that sending
    takes little of the CPU it measures: 0.1 of a core at 5,000 events/s here,
    where kafka-python took 0.8.
    """
    return librdkafka.Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
            # Java's partitioner (and kafka-python's): a key lands where the simulator's would.
            "partitioner": "murmur2_random",
        }
    )


def produce(bootstrap: str, topic: str, workload: Workload, first: int, count: int) -> float:
    """Send events first .. first + count - 1 as fast as the broker takes them; events/s."""
    started = time.perf_counter()
    failed: list[Any] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failed.append(error)

    producer = librdkafka_producer(bootstrap)
    for key, value in workload.messages(first, count):
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.1)
    undelivered = producer.flush(120)
    if failed or undelivered:
        raise RuntimeError(f"{len(failed)} messages refused, {undelivered} not delivered")
    return count / (time.perf_counter() - started)


# --- stage 1: raw consume rate ------------------------------------------------------------


def java_consume_rate(bootstrap: str, topic: str, messages: int) -> dict[str, Any]:
    """kafka-consumer-perf-test (Kafka's ConsumerPerformance) over the whole topic."""
    command = [
        shutil.which("java") or "java",
        "-Xmx512m",
        "-cp",
        f"{KAFKA_JARS}/*",
        "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--messages",
        str(messages),
        "--timeout",
        "60000",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    header = next(i for i, line in enumerate(lines) if line.startswith("start.time"))
    row = next(csv.DictReader(io.StringIO("\n".join(lines[header : header + 2]))))
    row = {key.strip(): value.strip() for key, value in row.items()}
    return {
        "events": int(row["data.consumed.in.nMsg"]),
        "events_per_second": float(row["fetch.nMsg.sec"]),
        "mb_per_second": float(row["fetch.MB.sec"]),
    }


def python_consume_rate(bootstrap: str, topic: str, messages: int) -> dict[str, Any]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        consumer_timeout_ms=30_000,
    )
    count = 0
    size = 0
    started = None
    for message in consumer:
        if started is None:
            started = time.perf_counter()
        count += 1
        size += len(message.value or b"")
        if count >= messages:
            break
    seconds = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return {
        "events": count,
        "events_per_second": count / seconds if seconds else None,
        "mb_per_second": size / 2**20 / seconds if seconds else None,
    }


# --- stages 2 and 4: catch-up rounds ------------------------------------------------------


class CatchUp:
    """One SparkSession that catches bronze, silver and gold up, layer by layer, and times it."""

    def __init__(self, settings: config.Settings) -> None:
        from lakehouse.pipeline import report_progress
        from lakehouse.spark import build_session

        self.settings = settings
        self.spark = build_session("bench")
        report_progress(self.spark, settings)
        self.jvm_pid = java_process(self.spark.sparkContext._gateway.proc.pid)

    def layer(self, start: Callable[..., list[Any]]) -> dict[str, float]:
        from lakehouse.pipeline import Trigger

        cpu_before = cpu_seconds(self.jvm_pid) + own_cpu_seconds()
        started = time.perf_counter()
        for query in start(self.spark, self.settings, Trigger("available_now")):
            query.awaitTermination()
        return {
            "seconds": time.perf_counter() - started,
            "cpu_seconds": cpu_seconds(self.jvm_pid) + own_cpu_seconds() - cpu_before,
        }

    def kafka_source_alone(self, checkpoint: Path) -> dict[str, float]:
        """Spark's Kafka source over the whole topic into the noop sink, timed like a layer.

        It reads what bronze reads, with the same options, and writes nothing:
        no layer of this Spark can read the topic faster, whatever it does
        with the rows.
        """
        from lakehouse.pipeline import read_kafka

        def start(spark: Any, settings: config.Settings, trigger: Any) -> list[Any]:
            source = read_kafka(spark, settings, starting_offsets="earliest")
            writer = source.writeStream.format("noop").option("checkpointLocation", str(checkpoint))
            return [trigger.apply(writer).start()]

        return self.layer(start)

    def round(self, events: int) -> dict[str, Any]:
        from lakehouse.pipeline import start_bronze, start_gold, start_silver

        layers = {
            name: self.layer(start)
            for name, start in (
                ("bronze", start_bronze),
                ("silver", start_silver),
                ("gold", start_gold),
            )
        }
        for figures in layers.values():
            figures["events_per_second"] = events / figures["seconds"]
        cpu = sum(figures["cpu_seconds"] for figures in layers.values())
        return {
            "events": events,
            "layers": layers,
            "seconds": sum(figures["seconds"] for figures in layers.values()),
            "cpu_seconds": cpu,
            "cpu_seconds_per_million": cpu / events * 1e6,
            "jvm_rss_mb": rss_mb(self.jvm_pid),
            "jvm_heap_after_gc_mb": heap_after_gc_mb(self.jvm_pid),
        }

    def stop(self) -> None:
        self.spark.stop()


def java_process(pid: int) -> int:
    """The JVM among a process and its descendants (spark-submit execs it, or starts it)."""
    for _ in range(5):
        if Path(f"/proc/{pid}/comm").read_text().strip() == "java":
            return pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if not children:
            break
        pid = int(children[0])
    raise RuntimeError("cannot find the driver's JVM process")


def heap_after_gc_mb(pid: int) -> float | None:
    """The JVM's heap in use right after a full collection: what it holds on to, not garbage.

    Taken between rounds, outside their CPU seconds; None when jcmd is missing or fails.
    """
    jcmd = shutil.which("jcmd")
    if jcmd is None:
        return None
    run = partial(subprocess.run, capture_output=True, text=True, timeout=120)
    if run([jcmd, str(pid), "GC.run"]).returncode != 0:
        return None
    heap = run([jcmd, str(pid), "GC.heap_info"]).stdout
    # "garbage-first heap   total 2097152K, used 734003K [...]"
    used = next((line for line in heap.splitlines() if " used " in line and "heap" in line), "")
    return int(used.split(" used ")[1].split("K")[0]) / 1024 if used else None


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("VmRSS")).split()[1]) / 1024


def lake_counts(settings: config.Settings) -> dict[str, int]:
    names = {
        "bronze": config.BRONZE_EVENTS,
        "silver_events": config.SILVER_EVENTS,
        "quarantine": config.SILVER_QUARANTINE,
        "silver_sessions": config.SILVER_SESSIONS,
        "gold_sessions": config.GOLD_SESSIONS,
    }
    return {name: rows_in(settings.table(path)) for name, path in names.items()}


# --- stage 3: latency ---------------------------------------------------------------------


class LiveSender(threading.Thread):
    """Sends `rate` events/s dated now, and one probe session a second, until stopped.

    A probe's clock starts before it is sent.
    """

    def __init__(self, bootstrap: str, topic: str, rate: float, workload: Workload) -> None:
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.topic = topic
        self.rate = rate
        self.workload = workload
        self.sent = 0
        self.failed = 0  # messages the broker refused or that were still queued at the end
        self.probes: dict[str, float] = {}
        self.stopping = threading.Event()

    def _delivered(self, error: Any, _message: Any) -> None:
        if error is not None:
            self.failed += 1

    def run(self) -> None:
        producer = librdkafka_producer(self.bootstrap)
        send = partial(producer.produce, self.topic, on_delivery=self._delivered)
        started = time.monotonic()
        stream_id = self.workload.event(0)["stream_id"]
        while not self.stopping.is_set():
            elapsed = time.monotonic() - started
            now = datetime.now(UTC)
            while self.sent < int(elapsed * self.rate):
                event = self.workload.live_event(self.sent, now)
                stream_id = event["stream_id"]
                key, value = encode_event(event)
                send(key=key, value=value)
                self.sent += 1
            if len(self.probes) < int(elapsed):
                probe = probe_event(len(self.probes), stream_id, now)
                key, value = encode_event(probe)
                self.probes[probe["session_id"]] = time.time()
                send(key=key, value=value)
                producer.flush()
            producer.poll(0)
            time.sleep(0.01)
        self.failed += producer.flush(30)


# Where a probe is timed to: the live path's table and the end of the three layers.
PROBE_TABLES = {"live": config.GOLD_LIVE_ACTIVITY, "layers": config.GOLD_SESSIONS}


def probe_sessions(path: str, files_read: set[str]) -> list[str]:
    """The probe sessions in the files of a Delta table not read before; [] before it exists.

    Only new files are read, so a poll costs the same in the tenth minute as in
    the first, on a table that gains a file a second.
    """
    try:
        files = DeltaTable(path).file_uris()
    except TableNotFoundError:
        return []
    new = [uri for uri in files if uri not in files_read]
    files_read.update(new)
    if not new:
        return []
    rows = pyarrow.dataset.dataset(new, format="parquet").to_table(
        columns=["session_id"], filter=pyarrow.dataset.field("viewer_id") == "probe-viewer"
    )
    return rows.column("session_id").to_pylist()


def watch_probes(
    root: Path, probes: dict[str, float], seen: dict[str, dict[str, float]], stop: threading.Event
):
    """Polls each of PROBE_TABLES; the first time a probe's session is in one is its arrival."""
    files_read: dict[str, set[str]] = {path: set() for path in PROBE_TABLES}
    while not stop.is_set():
        for path, name in PROBE_TABLES.items():
            arrived = probe_sessions(str(root / name), files_read[path])
            now = time.time()
            for session_id in arrived:
                if session_id in probes:
                    seen[path].setdefault(session_id, now)
        time.sleep(0.2)


def latency_figures(latencies: list[float], probes: int) -> dict[str, Any]:
    """p50, p95, p99 and max of the probes that arrived, and how many did."""
    figures: dict[str, Any] = {"probes": probes, "probes_arrived": len(latencies)}
    if len(latencies) >= 2:
        cuts = quantiles(latencies, n=100, method="inclusive")
        figures.update(p50_seconds=cuts[49], p95_seconds=cuts[94], p99_seconds=cuts[98])
        figures["max_seconds"] = max(latencies)
    return figures


def latency_run(
    args: argparse.Namespace, rate: float, broker: EmbeddedBroker, work: Path
) -> dict[str, Any]:
    """One run at `rate` events/s on a lake and topic of its own."""
    root = work / f"live-lake-{rate:g}"
    topic = f"{LIVE_TOPIC}_{rate:g}"
    streaming = {}
    if args.trigger_interval:
        streaming["trigger_interval"] = args.trigger_interval
    # Apart: the live query as jobs/live.py, the layers niced below it.
    apart = args.live_query == "apart"
    overrides = {"streaming": streaming, "live": {"enabled": not apart}}
    conf = conf_file(Path(args.conf), work / "live.toml", overrides)
    ensure_topic(broker.bootstrap_servers, topic, partitions=3)
    sender = LiveSender(broker.bootstrap_servers, topic, rate, Workload())
    seen: dict[str, dict[str, float]] = {path: {} for path in PROBE_TABLES}
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_probes, args=(root, sender.probes, seen, stop), daemon=True
    )
    with (
        (work / f"live-pipeline-{rate:g}.log").open("w") as pipeline_log,
        (work / f"live-job-{rate:g}.log").open("w") as live_log,
    ):
        start = partial(start_pipeline, broker.bootstrap_servers, topic, root, work / "mlflow.db")
        pipeline = start(pipeline_log, conf, niceness=LAYERS_NICENESS if apart else 0)
        live_job = start(live_log, conf, job="jobs/live.py") if apart else pipeline
        try:
            # The live query starts from the newest offsets: send once it runs.
            wait_for_table(root / config.GOLD_LIVE_ACTIVITY, live_job, live_log.name)
            sender.start()
            watcher.start()
            time.sleep(args.warmup_seconds)
            first_probe = len(sender.probes)
            sent_before = sender.sent
            time.sleep(args.latency_seconds)
            last_probe = len(sender.probes)
            sent = sender.sent - sent_before
            sender.stopping.set()
            sender.join()
            if sender.failed:
                raise RuntimeError(f"{sender.failed} messages of the run were not delivered")
            # Let the probes of the measured window arrive, up to a minute.
            deadline = time.monotonic() + 60
            measured = [f"probe-{n}" for n in range(first_probe, last_probe)]
            while time.monotonic() < deadline and not all(
                p in arrivals for arrivals in seen.values() for p in measured
            ):
                if pipeline.poll() is not None or live_job.poll() is not None:
                    raise RuntimeError(f"a job exited; see {pipeline_log.name}, {live_log.name}")
                time.sleep(0.5)
            stop.set()
        finally:
            for job in {pipeline, live_job}:
                if job.poll() is None:
                    os.killpg(job.pid, signal.SIGTERM)
                    job.wait(timeout=60)
    result: dict[str, Any] = {
        "rate_per_second": rate,
        "achieved_rate_per_second": sent / args.latency_seconds,
        "trigger_interval": args.trigger_interval
        or load_settings(conf).section("streaming")["trigger_interval"],
        "live_trigger_interval": load_settings(conf).section("live").get("trigger_interval"),
        "live_query": args.live_query,
    }
    for path, arrivals in seen.items():
        latencies = [arrivals[p] - sender.probes[p] for p in measured if p in arrivals]
        result[path] = latency_figures(latencies, len(measured))
    return result


def wait_for_table(path: Path, pipeline: subprocess.Popen[bytes], log_name: str) -> None:
    """Until the pipeline has created the Delta table at path (its first batch ran)."""
    deadline = time.monotonic() + 300
    while not (path / "_delta_log").exists():
        if pipeline.poll() is not None:
            raise RuntimeError(f"the pipeline exited; see {log_name}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} was not created within 5 minutes; see {log_name}")
        time.sleep(0.5)


# --- the run ------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "started_at": format_time(datetime.now(UTC)),
        "machine": machine(),
        "arguments": {k: v for k, v in vars(args).items() if k not in ("work", "output")},
    }

    def record(stage: str, value: Any) -> None:
        results[stage] = value
        print(json.dumps({stage: value}, default=str), flush=True)
        Path(args.output).write_text(json.dumps(results, indent=2, default=str) + "\n")

    broker = EmbeddedBroker(
        data_dir=work / "kafka", port=free_port(), controller_port=free_port(), heap="1g"
    )
    broker.start()
    try:
        workload = Workload()
        ensure_topic(broker.bootstrap_servers, TOPIC, partitions=3)
        produced = produce(broker.bootstrap_servers, TOPIC, workload, 0, args.events)
        record("produce", {"events": args.events, "events_per_second": produced})
        if "consume" not in args.skip:
            record(
                "consume",
                {
                    "java": java_consume_rate(broker.bootstrap_servers, TOPIC, args.events),
                    "python": python_consume_rate(broker.bootstrap_servers, TOPIC, args.events),
                },
            )
        if not {"ingest", "rounds", "duckdb"} <= set(args.skip):
            catch_up_rounds(args, broker, work, workload, record, results)
        if "latency" not in args.skip:
            runs = []
            for rate in args.rates:
                runs.append(latency_run(args, rate, broker, work))
                record("latency", runs)
    finally:
        broker.stop()
    if "dashboard" not in args.skip:
        from bench.dashboard_load import build_gold, measure

        build_gold(work / "dashboard-lake", args.dashboard_sessions, seed=42)
        record(
            "dashboard", {"sessions": args.dashboard_sessions, **measure(work / "dashboard-lake")}
        )
    if "gbt" not in args.skip:
        output = work / "shoppers_gbt.json"
        subprocess.run(
            [sys.executable, "-m", "bench.shoppers_gbt", "--output", str(output)],
            cwd=PROJECT_DIR,
            check=True,
        )
        record("gbt", json.loads(output.read_text()))
    results["finished_at"] = format_time(datetime.now(UTC))
    record("targets", targets(results))
    return results


def catch_up_rounds(args, broker, work, workload, record, results) -> None:
    settings = load_settings(args.conf).with_overrides(
        bootstrap_servers=broker.bootstrap_servers,
        topic=TOPIC,
        root=str(work / "lake"),
        mlflow_dir=str(work / "mlflow"),
    )
    catch_up = CatchUp(settings)
    try:
        first = catch_up.round(args.events)
        first["lake"] = lake_counts(settings)
        # After round 1, on a warm JVM and a topic in the page cache: the most
        # generous ceiling for the layers' ratio.
        source = catch_up.kafka_source_alone(work / "noop-checkpoint")
        source["events_per_second"] = args.events / source["seconds"]
        first["spark_kafka_source"] = source
        java = results.get("consume", {}).get("java", {}).get("events_per_second")
        for figures in (first["layers"]["bronze"], first["layers"]["silver"], source):
            figures["ratio_to_raw_consume"] = figures["events_per_second"] / java if java else None
        record("ingest", first)
        if "duckdb" not in args.skip:
            record("duckdb", duckdb_stage(work, workload, args.events, settings))
        rounds = [first]
        if "rounds" not in args.skip:
            for number in range(1, args.rounds):
                produce(
                    broker.bootstrap_servers, TOPIC, workload, number * args.events, args.events
                )
                rounds.append(catch_up.round(args.events))
                rounds[-1]["lake"] = lake_counts(settings)
                record("rounds", summarize_rounds(rounds))
    finally:
        catch_up.stop()


def summarize_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    per_million = [r["cpu_seconds_per_million"] for r in rounds]
    return {
        "events_per_round": rounds[0]["events"],
        "total_events": sum(r["events"] for r in rounds),
        "cpu_seconds_per_million": per_million,
        "last_to_first": per_million[-1] / per_million[0],
        "rounds": rounds,
    }


def duckdb_stage(
    work: Path, workload: Workload, events: int, settings: config.Settings
) -> dict[str, Any]:
    from bench import duckdb_reference

    path = work / "events.jsonl"
    with path.open("wb") as out:
        for _, value in workload.messages(0, events):
            out.write(value + b"\n")
    reference = duckdb_reference.gold_figures(path, settings)
    spark = duckdb_reference.spark_gold_figures(Path(settings.root))
    comparison = duckdb_reference.compare(reference["figures"], spark)
    return {
        "seconds": reference["seconds"],
        "figures_compared": len(comparison),
        "figures_equal": sum(1 for c in comparison.values() if c["match"]),
        "comparison": comparison,
    }


def targets(results: dict[str, Any]) -> dict[str, Any]:
    """Each target of the issue with the figure measured and whether it is met."""
    found: dict[str, Any] = {}
    ingest = results.get("ingest", {}).get("layers", {})
    # What Spark's Kafka source reaches alone, beside each layer: the ceiling of the ratio.
    ceiling = results.get("ingest", {}).get("spark_kafka_source", {}).get("ratio_to_raw_consume")
    for name in ("bronze", "silver"):
        ratio = ingest.get(name, {}).get("ratio_to_raw_consume")
        if ratio is not None:
            found[f"{name}_at_least_half_of_raw_consume"] = {
                "ratio": ratio,
                "spark_kafka_source_alone_ratio": ceiling,
                "met": ratio >= 0.5,
            }
    for run in results.get("latency", []):
        for path in PROBE_TABLES:
            figures = run.get(path)
            if figures is None:
                continue
            # A probe that never arrived counts as slower than any that did.
            complete = figures["probes_arrived"] == figures["probes"]
            p95 = figures.get("p95_seconds") if complete else None
            found[f"latency_p95_at_most_5_s_{path}_at_{run['rate_per_second']:g}_per_s"] = {
                "p95_seconds": p95,
                "probes_arrived": f"{figures['probes_arrived']} of {figures['probes']}",
                "met": p95 is not None and p95 <= 5,
            }
    rounds = results.get("rounds")
    if rounds:
        ratio = rounds["last_to_first"]
        found["cpu_per_million_flat_within_20_percent"] = {
            "ratio": ratio,
            "events_in_total": rounds["total_events"],
            "met": ratio <= 1.2,
        }
    dashboard = results.get("dashboard", {}).get("pages")
    if dashboard:
        # The first load of each page, in a fresh process: nothing cached yet.
        slowest = max(page["cold_seconds"] for page in dashboard.values())
        found["dashboard_load_at_most_1_s"] = {"slowest_page_seconds": slowest, "met": slowest <= 1}
    return found


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = parse_arguments(argv)
    results = run(args)
    from bench.report import write_markdown

    write_markdown(results, Path(args.output).with_suffix(".md"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
