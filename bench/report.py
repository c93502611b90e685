"""bench/results/bench.md from bench.json: the machine, each measurement, each target.

Run alone to rewrite the markdown of an earlier run:
    .venv/bin/python -m bench.report bench/results/bench.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if isinstance(value, int) or (isinstance(value, float) and value >= 1000):
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def _machine(results: dict[str, Any]) -> list[str]:
    box = results["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in box["versions"].items())
    return [
        f"Run from {results['started_at']} to {results.get('finished_at', 'unfinished')}.",
        "",
        f"- Machine: {box['cores']} cores ({box['cpu']}), {box['memory_gib']} GiB, {box['os']}.",
        f"- Versions: {versions}.",
        f"- Arguments: `{json.dumps(results['arguments'])}`.",
        "",
    ]


def _ingest(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    consume = results.get("consume")
    if consume:
        lines += ["## 1. Raw consume rate", ""]
        rows = [
            [
                name,
                _number(figures["events"]),
                _number(figures["events_per_second"]),
                _number(figures["mb_per_second"]),
            ]
            for name, figures in consume.items()
        ]
        lines += _table(["consumer", "events", "events/s", "MB/s"], rows)
    ingest = results.get("ingest")
    if ingest:
        lines += ["## 2. Catch-up (availableNow) of each layer over the same events", ""]
        layers = dict(ingest["layers"])
        if "spark_kafka_source" in ingest:
            layers["Spark's Kafka source alone (noop sink, after round 1)"] = ingest[
                "spark_kafka_source"
            ]
        rows = []
        for name, layer in layers.items():
            ratio = layer.get("ratio_to_raw_consume")
            rows.append(
                [
                    name,
                    _number(ingest["events"]),
                    _number(layer["seconds"]),
                    _number(layer["events_per_second"]),
                    _number(layer["cpu_seconds"]),
                    "n/a" if ratio is None else f"{ratio:.1%}",
                ]
            )
        lines += _table(
            ["layer", "events", "seconds", "events/s", "CPU s", "of the Java consumer"], rows
        )
        lake = ingest.get("lake", {})
        if lake:
            lines += ["Rows afterwards: " + ", ".join(f"{k} {v:,}" for k, v in lake.items()), ""]
    return lines


def _rounds(results: dict[str, Any]) -> list[str]:
    rounds = results.get("rounds")
    if not rounds:
        return []
    lines = ["## 4. CPU seconds per million events, round by round", ""]
    rows = []
    total = 0
    for number, entry in enumerate(rounds["rounds"], start=1):
        total += entry["events"]
        rows.append(
            [
                number,
                _number(total),
                _number(entry["seconds"]),
                _number(entry["cpu_seconds_per_million"]),
                " / ".join(_number(layer["cpu_seconds"]) for layer in entry["layers"].values()),
                _number(entry["jvm_rss_mb"]),
                _number(entry.get("jvm_heap_after_gc_mb")),
            ]
        )
    lines += _table(
        [
            "round",
            "events in total",
            "wall s",
            "CPU s per M events",
            "CPU s bronze / silver / gold",
            "JVM RSS MB",
            "heap after full GC MB",
        ],
        rows,
    )
    lines += [f"Last round against the first: {rounds['last_to_first']:.2f}x.", ""]
    return lines


PATH_LABELS = {
    "live": "gold/live_activity (live query)",
    "layers": "gold/fct_sessions (bronze, silver, gold)",
}


def _latency_paths(run: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path, figures) of a latency run; a run recorded before the live path had one, flat."""
    if "layers" not in run:
        return [("layers", run)]
    return [(path, run[path]) for path in PATH_LABELS if path in run]


def _others(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    latency = results.get("latency")
    if latency:
        lines += ["## 3. Produce-to-gold latency at a steady rate", ""]
        lines += _table(
            [
                "asked events/s",
                "sent events/s",
                "to",
                "trigger",
                "probes arrived",
                "p50 s",
                "p95 s",
                "p99 s",
                "max s",
            ],
            [
                [
                    _number(run["rate_per_second"]),
                    _number(run["achieved_rate_per_second"]),
                    PATH_LABELS[path],
                    run["live_trigger_interval" if path == "live" else "trigger_interval"],
                    f"{figures['probes_arrived']} / {figures['probes']}",
                    _number(figures.get("p50_seconds")),
                    _number(figures.get("p95_seconds")),
                    _number(figures.get("p99_seconds")),
                    _number(figures.get("max_seconds")),
                ]
                for run in latency
                for path, figures in _latency_paths(run)
            ],
        )
        lines += [
            "A probe is a session of its own sent once a second, timed from its send to its "
            "first row in the table. Percentiles are over the probes that arrived within a "
            "minute of the end; a run where some never arrived did not keep up with its rate.",
            "",
        ]
    duckdb = results.get("duckdb")
    if duckdb:
        lines += ["## 5. The same gold figures by DuckDB", ""]
        spark = sum(
            layer["seconds"] for layer in results.get("ingest", {}).get("layers", {}).values()
        )
        lines += [
            f"DuckDB: {duckdb['seconds']:.1f} s from the JSON-lines file to the figures; "
            f"the three layers' catch-up: {spark:.1f} s. "
            f"{duckdb['figures_equal']} of {duckdb['figures_compared']} figures equal.",
            "",
        ]
        rows = [
            [name, entry.get("duckdb"), entry.get("spark"), "yes" if entry["match"] else "NO"]
            for name, entry in duckdb["comparison"].items()
        ]
        lines += _table(["figure", "DuckDB", "Spark gold", "equal"], rows)
    dashboard = results.get("dashboard")
    if dashboard and "pages" in dashboard:
        lines += [f"## 6. Dashboard data load, {dashboard['sessions']:,} sessions in gold", ""]
        rows = [
            [page, _number(figures["cold_seconds"], 3), _number(figures["warm_seconds"], 3)]
            for page, figures in dashboard["pages"].items()
        ]
        lines += _table(["page", "cold s", "warm s (median)"], rows)
    gbt = results.get("gbt")
    if gbt:
        lines += ["## 7. GBT against HistGradientBoosting (UCI online shoppers)", ""]
        rows = [
            [
                name,
                _number(model.get("roc_auc"), 4),
                _number(model.get("pr_auc"), 4),
                _number(model.get("fit_seconds")),
            ]
            for name, model in gbt.get("models", {}).items()
        ]
        lines += _table(["model", "ROC AUC", "PR AUC", "fit s"], rows)
    return lines


def _targets(results: dict[str, Any]) -> list[str]:
    found = results.get("targets")
    if not found:
        return []
    lines = ["## Targets", ""]
    rows = []
    for name, entry in found.items():
        figures = ", ".join(
            f"{key} {_number(value, 2)}" for key, value in entry.items() if key != "met"
        )
        rows.append([name, figures, "met" if entry["met"] else "NOT met"])
    return lines + _table(["target", "measured", ""], rows)


def write_markdown(results: dict[str, Any], path: Path) -> None:
    lines = ["# Benchmark results", "", *_machine(results), *_targets(results)]
    lines += _ingest(results) + _others(results) + _rounds(results)
    path.write_text("\n".join(lines).rstrip() + "\n")


if __name__ == "__main__":
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/bench.json")
    write_markdown(json.loads(source.read_text()), source.with_suffix(".md"))
