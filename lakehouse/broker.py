"""The embedded default: a single-node Kafka broker in KRaft mode.

The broker runs from the jars that scripts/setup.sh resolved into
.cache/jars/kafka, its data in a git-ignored folder (conf [kafka.embedded]).
It is started and stopped by this module, e.g.

    python -m lakehouse.broker start      # formats the storage on first use
    python -m lakehouse.broker status
    python -m lakehouse.broker stop

Tests start their own broker on a free port in a temporary folder through
EmbeddedBroker.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from lakehouse.config import PROJECT_DIR, load_settings

log = logging.getLogger(__name__)

KAFKA_JARS = PROJECT_DIR / ".cache" / "jars" / "kafka"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


@dataclass
class EmbeddedBroker:
    """One KRaft node acting as broker and controller, listening on host:port."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 19092
    controller_port: int = 19093
    heap: str = "512m"
    partitions: int = 3

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def _properties(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def _pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    def _write_properties(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": str(self.partitions),
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Topics are created by the producers with the configured partitions.
            "auto.create.topics.enable": "false",
            # A week of retention; bronze keeps everything for longer.
            "log.retention.hours": "168",
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        self._properties.write_text("\n".join(lines) + "\n")

    def _java(self, main_class: str, *args: str) -> list[str]:
        if not any(KAFKA_JARS.glob("kafka_*.jar")):
            raise RuntimeError(f"no Kafka jars in {KAFKA_JARS}: run `make setup` first")
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("java is not on PATH; the broker needs Java 17 or newer")
        return [
            java,
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            f"-Dkafka.logs.dir={self.data_dir / 'server-logs'}",
            "-cp",
            f"{KAFKA_JARS}/*",
            main_class,
            *args,
        ]

    def _format_storage(self, cluster_id: str | None = None) -> None:
        """Format the log folder once; KRaft refuses to start on an unformatted one.

        cluster_id: a new random one unless given.
        """
        if (self.data_dir / "logs" / "meta.properties").exists():
            return
        if cluster_id is None:
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # One id in 64 starts with "-": as a separate argument it would read as an option.
        command = self._java(
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",
            "-c",
            str(self._properties),
        )
        subprocess.run(command, check=True, capture_output=True, text=True)
        log.info("formatted Kafka storage in %s (cluster %s)", self.data_dir, cluster_id)

    def pid(self) -> int | None:
        """The broker's process id if it runs, else None."""
        try:
            pid = int(self._pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def start(self, timeout_seconds: float = 60.0) -> None:
        """Start the broker in the background and wait until it accepts connections."""
        if self.pid() is not None:
            log.info(
                "Kafka broker already running (pid %s) on %s", self.pid(), self.bootstrap_servers
            )
            return
        if _port_open(self.host, self.port):
            raise RuntimeError(f"port {self.port} on {self.host} is taken by another process")
        self._write_properties()
        self._format_storage()
        server_log = (self.data_dir / "broker.out").open("ab")
        process = subprocess.Popen(
            self._java("kafka.Kafka", str(self._properties)),
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout_seconds
        while not _port_open(self.host, self.port):
            if process.poll() is not None:
                raise RuntimeError(
                    f"Kafka broker exited with {process.returncode}; see {self.data_dir}/broker.out"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"Kafka broker not listening after {timeout_seconds:.0f} s")
            time.sleep(0.3)
        log.info("Kafka broker started (pid %s) on %s", process.pid, self.bootstrap_servers)

    def stop(self, timeout_seconds: float = 30.0) -> None:
        """Stop the broker: SIGTERM for a clean shutdown, SIGKILL if it hangs."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_seconds
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.3)
            _reap(pid)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)
            _reap(pid)
        self._pid_file.unlink(missing_ok=True)
        log.info("Kafka broker stopped (pid %s)", pid)


def _reap(pid: int) -> None:
    """Collect our own child's exit status, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def from_settings() -> EmbeddedBroker:
    """The embedded broker as conf/lakehouse.toml describes it."""
    settings = load_settings()
    embedded = settings.section("kafka")["embedded"]
    return EmbeddedBroker(
        data_dir=Path(embedded["data_dir"]),
        host=embedded["host"],
        port=int(embedded["port"]),
        controller_port=int(embedded["controller_port"]),
        heap=embedded["heap"],
        partitions=int(settings.section("kafka")["partitions"]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start, stop or check the embedded Kafka broker.")
    parser.add_argument("action", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    settings = load_settings()
    if not settings.kafka_embedded:
        log.info("Kafka is external (%s): nothing to %s", settings.bootstrap_servers, args.action)
        return 0
    broker = from_settings()
    if args.action == "start":
        broker.start()
    elif args.action == "stop":
        broker.stop()
    else:
        pid = broker.pid()
        print(f"running, pid {pid}, {broker.bootstrap_servers}" if pid else "not running")
        return 0 if pid else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
