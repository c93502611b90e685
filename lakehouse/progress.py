"""The latest progress of each streaming query, as one JSON file per query, for the dashboard.

A job registers the listener once on its SparkSession:

    register_progress_listener(spark, progress_folder(settings))

From then on, every progress event of every query of that session rewrites
<folder>/<query name>.json (the folder is <storage root>/_progress unless
[streaming] progress_dir says otherwise) with the fields of PROGRESS_FIELDS (plus when the
query last reported being idle, and when and how it stopped). Each file is written to a
temporary name and then renamed over the old one, so a reader never sees half a file. The
dashboard's pipeline health page reads the folder with read_progress().

Known limit: the files are written with plain file I/O, so the folder must be on a local (or
mounted) file system: with the storage root on object storage (s3a://...), set
[streaming] progress_dir to a folder the jobs and the dashboard share.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQueryListener
from pyspark.sql.streaming.listener import (
    QueryIdleEvent,
    QueryProgressEvent,
    QueryStartedEvent,
    QueryTerminatedEvent,
)

from lakehouse.config import Settings

log = logging.getLogger(__name__)

PROGRESS_FOLDER = "_progress"

# What a progress file holds, taken from Spark's StreamingQueryProgress.
PROGRESS_FIELDS = (
    "name",
    "id",
    "run_id",
    "batch_id",
    "timestamp",
    "input_rows_per_second",
    "processed_rows_per_second",
    "num_input_rows",
    "batch_duration_ms",
    "watermark",
    "state_rows",
)
# What the listener adds: when it wrote the file, and the idle and termination events.
LISTENER_FIELDS = ("reported_at", "idle_at", "terminated_at", "exception")


def progress_dir(root: str) -> str:
    """The folder of the progress files under a storage root."""
    return f"{root.rstrip('/')}/{PROGRESS_FOLDER}"


def progress_folder(settings: Settings) -> str:
    """[streaming] progress_dir if set, else <storage root>/_progress."""
    return settings.section("streaming").get("progress_dir") or progress_dir(settings.root)


def is_local(folder: str) -> bool:
    """Whether plain file I/O can reach the folder (a path or a file:// URI)."""
    return "://" not in folder.removeprefix("file://")


def _number(value: Any) -> float | None:
    """A rate as a float; Spark leaves NaN rates out of its JSON, and JSON has no NaN."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def progress_record(progress: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of PROGRESS_FIELDS from one progress, as parsed from its JSON.

    `progress` is json.loads(StreamingQueryProgress.json): camelCase keys as Spark writes them.
    state_rows is the total of numRowsTotal over the query's stateful operators (0 without any).
    """
    durations = progress.get("durationMs") or {}
    event_time = progress.get("eventTime") or {}
    operators = progress.get("stateOperators") or []
    return {
        "name": progress.get("name"),
        "id": progress["id"],
        "run_id": progress["runId"],
        "batch_id": progress["batchId"],
        "timestamp": progress["timestamp"],
        "input_rows_per_second": _number(progress.get("inputRowsPerSecond")),
        "processed_rows_per_second": _number(progress.get("processedRowsPerSecond")),
        "num_input_rows": progress.get("numInputRows"),
        "batch_duration_ms": durations.get("triggerExecution"),
        "watermark": event_time.get("watermark"),
        "state_rows": sum(int(operator.get("numRowsTotal") or 0) for operator in operators),
    }


def file_stem(name: str) -> str:
    """A query name made safe as a file name: anything but letters, digits, '.', '-' is '_'."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".")
    return stem or "_"


def write_json_atomically(path: Path, record: Mapping[str, Any]) -> None:
    """Write `record` to a temporary file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w") as handle:
            json.dump(record, handle, sort_keys=True)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ProgressFileWriter(StreamingQueryListener):
    """Keeps <progress_dir>/<query name>.json up to date with each query's latest progress.

    A query without a name is filed under its id. Started events only teach the listener a
    query's name; idle and terminated events update the last record of the query, so the
    dashboard can tell an idle query from a stalled or stopped one.
    """

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self._names: dict[str, str] = {}
        self._latest: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _write(self, query_id: str, record: dict[str, Any]) -> None:
        record["reported_at"] = _utc_now()
        self._latest[query_id] = record
        write_json_atomically(self.folder / f"{file_stem(record['name'] or query_id)}.json", record)

    def _base_record(self, query_id: str, run_id: str) -> dict[str, Any]:
        """The query's last record, or an empty one if it has made no progress yet."""
        record = self._latest.get(query_id)
        if record is None:
            record = dict.fromkeys(PROGRESS_FIELDS + LISTENER_FIELDS)
            record.update(name=self._names.get(query_id), id=query_id, run_id=run_id)
        return dict(record)

    def onQueryStarted(self, event: QueryStartedEvent) -> None:  # noqa: N802 (Spark's name)
        with self._lock:
            self._names[str(event.id)] = event.name or str(event.id)

    def onQueryProgress(self, event: QueryProgressEvent) -> None:  # noqa: N802
        record = progress_record(json.loads(event.progress.json))
        query_id = record["id"]
        with self._lock:
            record["name"] = record["name"] or self._names.get(query_id) or query_id
            record.update(idle_at=None, terminated_at=None, exception=None)
            self._write(query_id, record)
        log.debug("progress of %s: batch %s", record["name"], record["batch_id"])

    def onQueryIdle(self, event: QueryIdleEvent) -> None:  # noqa: N802
        query_id = str(event.id)
        with self._lock:
            record = self._base_record(query_id, str(event.runId))
            record["idle_at"] = event.timestamp
            self._write(query_id, record)

    def onQueryTerminated(self, event: QueryTerminatedEvent) -> None:  # noqa: N802
        query_id = str(event.id)
        with self._lock:
            record = self._base_record(query_id, str(event.runId))
            record.update(terminated_at=_utc_now(), exception=event.exception)
            self._write(query_id, record)
        outcome = "failed" if event.exception else "stopped"
        log.info("query %s %s", record["name"], outcome)


def register_progress_listener(spark: SparkSession, progress_dir: str) -> ProgressFileWriter:
    """Add a ProgressFileWriter for `progress_dir` to the session and return it.

    Remove it with spark.streams.removeListener(listener). `progress_dir` is a local folder
    (or a file:// URI); it is created if missing.
    """
    if not is_local(progress_dir):
        raise ValueError(
            f"progress files need a local folder, not {progress_dir}: set [streaming] progress_dir"
        )
    folder = progress_dir.removeprefix("file://")
    Path(folder).mkdir(parents=True, exist_ok=True)
    listener = ProgressFileWriter(folder)
    spark.streams.addListener(listener)
    log.info("streaming progress goes to %s", folder)
    return listener


def read_progress(folder: str) -> list[dict[str, Any]]:
    """Every progress file in `folder`, sorted by query name; [] when there is none.

    Temporary files of a write in flight (dot files) are skipped. A file that is not valid
    JSON (edited by hand, or cut by a full disk) is skipped with a warning.
    """
    directory = Path(folder.removeprefix("file://"))
    if not directory.is_dir():
        return []
    records = []
    for path in sorted(directory.glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as error:
            log.warning("skipped unreadable progress file %s: %s", path, error)
    return sorted(records, key=lambda record: str(record.get("name")))
