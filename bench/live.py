"""What the benchmarks that run the live pipeline share: starting it, counting its rows."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import IO

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from lakehouse.config import PROJECT_DIR


def start_pipeline(
    bootstrap_servers: str,
    topic: str,
    root: Path,
    mlflow_db: Path,
    log: IO[str],
    conf: Path | None = None,
    job: str = "jobs/pipeline.py",
    niceness: int = 0,
) -> subprocess.Popen[bytes]:
    """A job (by default jobs/pipeline.py) under spark-submit on processing-time triggers.

    It runs in a process group of its own, at the given scheduling niceness.
    The group stays in this session: under Linux's autogroup scheduling (on in
    many kernels, this machine's too), niceness only ranks processes of one
    session against each other, so a job in a session of its own would get
    an equal share whatever its niceness.
    """
    env = {
        **os.environ,
        "LAKEHOUSE_KAFKA_BOOTSTRAP": bootstrap_servers,
        "LAKEHOUSE_KAFKA_TOPIC": topic,
        "LAKEHOUSE_ROOT": str(root),
        "MLFLOW_TRACKING_URI": f"sqlite:///{mlflow_db}",
    }
    if conf is not None:
        env["LAKEHOUSE_CONF"] = str(conf)
    return subprocess.Popen(
        ["nice", "-n", str(niceness), "scripts/submit.sh", job, "--trigger", "processing_time"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        process_group=0,
    )


def rows_in(path: str | Path) -> int:
    """Rows of a Delta table from its log's statistics; 0 before it exists."""
    try:
        actions = DeltaTable(str(path)).get_add_actions(flatten=True)
    except TableNotFoundError:
        return 0
    return int(sum(actions.column("num_records").to_pylist()))
