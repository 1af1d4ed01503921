"""A plugin run on a fresh store, and what its store says: execution span, per-worker timeline, node counts."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common.proc import PLAIN_OPTS, Proc, RunOpts, pytest_cmd, require_ok, run_proc
from benchmarks.common.stats import med

SPAN_SQL = (
    "SELECT min(started_at), max(ended_at), count(*),"
    " sum(CASE WHEN status = 'succeeded' AND variant NOT LIKE '(%%' THEN 1 ELSE 0 END),"
    " min(ended_at) FROM wtb_executions"
)


def _query(store: str, sql: str) -> list[tuple[Any, ...]]:
    if store.startswith("sqlite:///"):
        conn = sqlite3.connect(store.removeprefix("sqlite:///"))
        try:
            return list(conn.execute(sql.replace("%%", "%")).fetchall())
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(store) as pg:
        return list(pg.execute(sql).fetchall())


def store_span(store: str) -> dict[str, float]:
    """First start, last end and counts of the executions the plugin recorded in a fresh store.

    ``succeeded`` counts (variant, case) executions only, not rows such as shared-prefix executions
    (variant "(shared-prefix)") that pytest-wtb adds when variants share a graph prefix.
    """
    row = _query(store, SPAN_SQL)[0]
    return {"first_start": row[0], "last_end": row[1], "count": row[2], "succeeded": row[3] or 0,
            "first_end": row[4]}


def worker_timeline(store: str) -> dict[str, float]:
    """How busy the workers were: median execution duration, and the median idle gap between one
    execution's end and the next start on the same worker (a Ray actor: one execution at a time per
    process; a thread: its own label)."""
    rows = _query(store, "SELECT backend, worker, started_at, ended_at, duration_s FROM wtb_executions")
    by_worker: dict[str, list[tuple[float, float]]] = {}
    for backend, worker, started, ended, _ in rows:
        if started is None or ended is None:
            continue
        parts = str(worker).split(":")
        key = ":".join(parts[:2]) if backend == "ray" else str(worker)
        by_worker.setdefault(key, []).append((float(started), float(ended)))
    gaps: list[float] = []
    for runs in by_worker.values():
        runs.sort()
        gaps.extend(max(0.0, b[0] - a[1]) for a, b in itertools.pairwise(runs))
    durations = [float(r[4]) for r in rows if r[4] is not None]
    return {"workers_seen": float(len(by_worker)), "median_duration": med(durations),
            "median_gap": med(gaps), "total_gap": sum(gaps)}


def store_nodes(store: str) -> dict[str, Counter[str]]:
    """Node executions per kind of row: '(shared-prefix)' rows and variant rows."""
    out: dict[str, Counter[str]] = {"prefix": Counter(), "variant": Counter()}
    for variant, nodes_json in _query(store, "SELECT variant, nodes_json FROM wtb_executions"):
        kind = "prefix" if str(variant).startswith("(") else "variant"
        for node in json.loads(nodes_json or "[]"):
            out[kind][node["node"]] += 1
    return out


def plugin_run(project: Path, store: str, n_items: int, extra: tuple[str, ...], opts: RunOpts = PLAIN_OPTS, *,
               env: dict[str, str] | None = None, side: Callable[[threading.Event], None] | None = None,
               target: str = ".", pg_db: str | None = None) -> tuple[Proc, dict[str, float]]:
    """``python -m pytest`` with ``--wtb-store=store`` and ``extra``: it must pass ``n_items``."""
    cmd = pytest_cmd(target, f"--wtb-store={store}", *extra)
    proc = run_proc(cmd, project, env, opts, side=side, pg_db=pg_db)
    require_ok(proc, " ".join(cmd), f"{n_items} passed")
    return proc, store_span(store)


def core_phases(proc: Proc, span: dict[str, float]) -> dict[str, float]:
    """Phase times of a plugin run, from the generated conftest's timestamps and the store's span."""
    t = proc.times
    return {
        "startup": t["collect_start"] - proc.t0,
        "collect": t["collect_end"] - t["collect_start"],
        "batch": span["last_end"] - t["loop_start"],  # submit (incl. store open) -> last result
        "exec_span": span["last_end"] - span["first_start"],  # first execution start -> last end
        "to_first_exec": span["first_start"] - t["loop_start"],  # store open, schema, claims before the 1st
        "loop": t["loop_end"] - t["loop_start"],
        "loop_cpu": t["loop_cpu_end"] - t["loop_cpu_start"],  # CPU of the whole pytest process in the loop
    }
