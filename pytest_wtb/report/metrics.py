"""``--wtb-metrics=PATH.prom`` and ``--wtb-pushgateway=URL``: the run's metrics for Prometheus.

prometheus_client is imported only here and only when one of the options is used (the metrics
extra). The registry is built per run from the merged records, so under pytest-xdist the
controller writes one file or push covering every worker.
"""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from typing import Any, Final

from pytest_wtb.errors import ConfigError
from pytest_wtb.report.records import RunRecords, variant_rows

JOB: Final = "pytest_wtb"
EXECUTION_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
NODE_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
MISSING: Final = (
    "{flag} needs prometheus_client, which is not installed; install the metrics extra: "
    "pip install 'pytest-wtb[metrics]'"
)


def check_available(flag: str) -> None:
    if importlib.util.find_spec("prometheus_client") is None:
        raise ConfigError(MISSING.format(flag=flag))


def registry(records: RunRecords) -> Any:
    """A fresh CollectorRegistry with this run's counters and histograms."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    reg = CollectorRegistry()
    executions = Counter("wtb_executions", "Workflow executions by variant, final status and backend",
                         ["variant", "status", "backend"], registry=reg)
    items = Counter("wtb_items", "pytest-wtb test items by variant and outcome", ["variant", "outcome"],
                    registry=reg)
    parity = Counter("wtb_parity_mismatches", "Items whose final state differs from the baseline's",
                     ["variant"], registry=reg)
    saved = Counter("wtb_prefix_saved_nodes", "Node executions saved by prefix sharing", ["variant"],
                    registry=reg)
    exec_hist = Histogram("wtb_execution_duration_seconds", "Wall time of one workflow execution",
                          ["variant", "backend"], buckets=EXECUTION_BUCKETS, registry=reg)
    node_hist = Histogram("wtb_node_duration_seconds", "Wall time of one node run inside an execution",
                          ["variant", "node"], buckets=NODE_BUCKETS, registry=reg)
    info = Gauge("wtb_run_info", "Always 1; labels name the run", ["run_id", "host"], registry=reg)
    finished = Gauge("wtb_last_run_timestamp_seconds", "When this run's metrics were written", registry=reg)
    for rec in records.executions.values():
        variant, backend = rec["variant"], rec["backend"] or "unknown"
        executions.labels(variant, rec["status"], backend).inc()
        exec_hist.labels(variant, backend).observe(rec["duration_s"])
        for _, node, duration, _ in rec["nodes"]:
            node_hist.labels(variant, node).observe(duration)
    by_key = records.executions
    for item in records.items.values():
        owner = by_key.get(item["key"])
        if owner is not None and item["outcome"]:
            items.labels(owner["variant"], item["outcome"]).inc()
    for row in variant_rows(records):
        parity.labels(row.name).inc(row.parity)
        saved.labels(row.name).inc(row.saved_nodes)
    _gate_gauges(reg, records, Gauge)
    for run_id in records.run_ids:
        info.labels(run_id, socket.gethostname()).set(1)
    finished.set_to_current_time()
    return reg


def _gate_gauges(reg: Any, records: RunRecords, gauge: Any) -> None:
    """Per @wtb.gate item: both mean scores, the paired difference with its interval, its p-value."""
    if not records.gates:
        return
    labels = ["test", "variant", "baseline"]
    score = gauge("wtb_gate_mean_score", "Mean score of a gate's executions (side: variant or baseline)",
                  [*labels, "side"], registry=reg)
    diff = gauge("wtb_gate_score_difference", "Variant mean minus baseline mean over the gate's pairs "
                 "(bound: estimate, low or high of its interval)", [*labels, "bound"], registry=reg)
    pval = gauge("wtb_gate_p_value", "p-value of the gate's paired test", labels, registry=reg)
    worse = gauge("wtb_gate_worse", "1 when the gate found the variant worse than the baseline by more than "
                  "its margin", labels, registry=reg)
    for g in records.gates.values():
        key = (g["nodeid"].split("[")[0], g["variant"], g["baseline"])
        for side, value in (("variant", g["mean"]), ("baseline", g["base_mean"])):
            if value is not None:
                score.labels(*key, side).set(value)
        for bound, value in (("estimate", g["diff"]), ("low", g["low"]), ("high", g["high"])):
            if value is not None:
                diff.labels(*key, bound).set(value)
        if g["p_value"] is not None:
            pval.labels(*key).set(g["p_value"])
        worse.labels(*key).set(1 if g["decision"] == "worse" else 0)


def write_textfile(path: Path, records: RunRecords) -> None:
    """Atomically (node_exporter's textfile collector must never read half a file)."""
    from prometheus_client import write_to_textfile

    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry(records))


def push(url: str, records: RunRecords) -> None:
    """PUT to a Pushgateway: replaces this job's group, one group per host."""
    from prometheus_client import push_to_gateway

    push_to_gateway(url, job=JOB, registry=registry(records), grouping_key={"instance": socket.gethostname()},
                    timeout=10)
