"""End to end on a Spark standalone cluster: the hand-made events through bronze, silver, gold.

A master and one worker (1 core) start on loopback from the installed pyspark
(bin/spark-class: the pip package has no sbin/ start scripts). The pipeline is
submitted to them as a deployment would submit it, with
`scripts/submit.sh jobs/pipeline.py --trigger available_now` and
SPARK_MASTER=spark://127.0.0.1:<port>, reading the test broker. The gold checks
are the ones of test_pipeline_handmade, taken over below: pytest runs them here
against the lake the cluster wrote (this module's handmade_lake fixture).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyspark
import pytest

from lakehouse.broker import free_port
from lakehouse.config import PROJECT_DIR, load_settings
from lakehouse.producers.kafka_sink import create_producer, ensure_topic, send_events, send_raw
from tests import test_pipeline_handmade
from tests.fixtures import handmade

pytestmark = pytest.mark.slow

# Every check of the local end-to-end test, by whatever name it has there, is
# collected here as well, where it reads the cluster's lake. The re-run check
# is left out: it would run the pipeline again in this process, not on the cluster.
LOCAL_ONLY = {"test_running_again_without_new_data_changes_nothing"}
HANDMADE_CHECKS = {
    name: check
    for name, check in vars(test_pipeline_handmade).items()
    if name.startswith("test_") and callable(check) and name not in LOCAL_ONLY
}
globals().update(HANDMADE_CHECKS)

SPARK_CLASS = Path(sys.executable).with_name("spark-class")
APP_NAME = "lakehouse-pipeline"  # jobs/pipeline.py's SparkSession name
# Small JVMs: the machine is shared, and the hand-made set is 26 messages.
DAEMON_MEMORY = "384m"
EXECUTOR_MEMORY = "512m"
SUBMIT_TIMEOUT_SECONDS = 900


@dataclass
class StandaloneCluster:
    """A running master and worker; `state()` is the master's JSON status page."""

    master_url: str
    webui_url: str

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.webui_url}/json/", timeout=5) as response:
            return json.load(response)


def _spark_class(main_class: str, args: list[str], log: Path, env: dict[str, str]):
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(SPARK_CLASS), main_class, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: the executors go with it
        )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_for_worker(cluster: StandaloneCluster, processes, logs: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"a Spark daemon exited early; see the logs in {logs}")
        try:
            workers = cluster.state().get("workers", [])
        except OSError:
            workers = []
        if any(worker.get("state") == "ALIVE" for worker in workers):
            return
        time.sleep(1)
    raise TimeoutError(f"no worker registered with {cluster.master_url} in {timeout:.0f} s")


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory) -> Iterator[StandaloneCluster]:
    """A master and a 1-core worker on loopback, for this module only."""
    folder = tmp_path_factory.mktemp("spark-standalone")
    port, master_ui, worker_ui = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        # Without it spark-class asks whichever python3 is on PATH where pyspark is.
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
        "SPARK_CONF_DIR": str(PROJECT_DIR / "conf" / "spark"),
    }
    cluster = StandaloneCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{master_ui}")
    processes = []
    try:
        processes.append(
            _spark_class(
                "org.apache.spark.deploy.master.Master",
                ["--host", "127.0.0.1", "--port", str(port), "--webui-port", str(master_ui)],
                folder / "master.log",
                env,
            )
        )
        processes.append(
            _spark_class(
                "org.apache.spark.deploy.worker.Worker",
                [
                    cluster.master_url,
                    *("--host", "127.0.0.1", "--cores", "1", "--memory", "1g"),
                    *("--webui-port", str(worker_ui), "--work-dir", str(folder / "work")),
                ],
                folder / "worker.log",
                env,
            )
        )
        _wait_for_worker(cluster, processes, folder, timeout=120)
        yield cluster
    finally:
        for process in reversed(processes):
            _stop(process)


@pytest.fixture(scope="module")
def handmade_lake(standalone_cluster, kafka_broker, tmp_path_factory):
    """The hand-made set sent once, the pipeline submitted to the cluster; its settings."""
    folder = tmp_path_factory.mktemp("cluster-run")
    settings = load_settings().with_overrides(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        topic="standalone_events",
        root=str(folder / "lake"),
        mlflow_dir=str(folder / "mlflow"),
    )
    ensure_topic(settings.bootstrap_servers, settings.topic, partitions=3)
    with create_producer(settings.bootstrap_servers) as producer:
        send_events(producer, settings.topic, handmade.EVENTS)
        send_raw(producer, settings.topic, [(None, raw) for raw, _ in handmade.BAD_MESSAGES])

    env = {
        **os.environ,
        "SPARK_MASTER": standalone_cluster.master_url,
        "SPARK_SUBMIT_ARGS": " ".join(
            [
                f"--conf spark.executor.memory={EXECUTOR_MEMORY}",
                "--conf spark.driver.memory=1g",
                "--conf spark.cores.max=1",
                "--conf spark.ui.enabled=false",
            ]
        ),
        "LAKEHOUSE_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
        "LAKEHOUSE_KAFKA_TOPIC": settings.topic,
        "LAKEHOUSE_ROOT": settings.root,
        "MLFLOW_TRACKING_URI": settings.section("mlflow")["tracking_uri"],
    }
    log = folder / "submit.log"
    with log.open("wb") as out:
        finished = subprocess.run(
            ["scripts/submit.sh", "jobs/pipeline.py", "--trigger", "available_now"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=SUBMIT_TIMEOUT_SECONDS,
        )
    if finished.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        pytest.fail(f"spark-submit exited with {finished.returncode}:\n{tail}")
    return settings


def test_the_pipeline_ran_on_the_standalone_master(standalone_cluster, handmade_lake):
    apps = standalone_cluster.state().get("completedapps", [])
    assert [(app["name"], app["state"]) for app in apps] == [(APP_NAME, "FINISHED")]
