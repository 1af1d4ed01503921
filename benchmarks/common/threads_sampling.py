"""OS threads of a benchmark's subprocess, sampled from the parent, and the async family's two kinds of run.

run_proc's side thread gets no pid, so the sampler finds the command as the one child of this process
(every family runs its commands one at a time) and then reads only /proc/<pid>/status "Threads:".
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common.proc import PY, Proc, RunOpts, pytest_cmd, require_ok, run_proc
from benchmarks.common.sampling import proc_files
from benchmarks.common.stats import med

INTERVAL_S = 0.02  # the brief's ~20 ms: a 256-thread pool shows up within one sample
OPTS = RunOpts(timeout_s=900)  # a hung async batch must not hang the benchmark


def _child_pid() -> int | None:
    me = os.getpid()
    for pid, stat in proc_files("stat"):
        rest = stat[stat.rfind(b")") + 2:].split()
        if int(rest[1]) == me and pid != me:
            return pid
    return None


def _threads(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Threads:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def thread_sampler(samples: list[tuple[float, int]]) -> Callable[[threading.Event], None]:
    """A run_proc side thread appending (epoch time, OS threads of the child) every INTERVAL_S."""

    def side(stop: threading.Event) -> None:
        pid = None
        while pid is None and not stop.is_set():
            pid = _child_pid()
            if pid is None:
                stop.wait(0.002)
        while pid is not None and not stop.is_set():
            n = _threads(pid)
            if n is None:  # the process is gone and reaped
                return
            samples.append((time.time(), n))
            stop.wait(INTERVAL_S)

    return side


def thread_figures(samples: list[tuple[float, int]], t_from: float | None = None,
                   t_to: float | None = None) -> dict[str, float]:
    """Peak threads over the run, and (given a window) the peak and median inside it."""
    out: dict[str, float] = {"peak_threads": max((n for _, n in samples), default=0),
                             "thread_samples": len(samples)}
    if t_from is not None and t_to is not None:
        inside = [n for t, n in samples if t_from <= t <= t_to]
        out["batch_peak_threads"] = max(inside, default=0)
        out["batch_median_threads"] = med([float(n) for n in inside])
    return out


def batch_span(db: Path) -> dict[str, float]:
    """First execution start and last execution end (started_at + duration_s) from wtb_executions."""
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            "SELECT min(started_at), max(started_at + duration_s), count(*),"
            " sum(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END), max(ended_at) FROM wtb_executions"
        ).fetchone()
        durations = [r[0] for r in conn.execute("SELECT duration_s FROM wtb_executions") if r[0] is not None]
    finally:
        conn.close()
    return {"first_start": row[0], "last_end": row[1], "rows": row[2], "succeeded": row[3] or 0,
            "last_recorded": row[4], "median_duration": med(durations), "max_duration": max(durations, default=0)}


def plugin_command(target: str, db: Path, extra: tuple[str, ...]) -> list[str]:
    return pytest_cmd(target, *extra, "--wtb-store", f"sqlite:///{db}")


def run_plugin(project: Path, target: str, n: int, extra: tuple[str, ...]) -> dict[str, Any]:
    """One pytest run on a fresh SQLite store, its threads sampled; it must pass ``n`` items."""
    store_dir = Path(tempfile.mkdtemp(prefix="store-", dir=project))
    cmd = plugin_command(target, store_dir / "wtb.db", extra)
    samples: list[tuple[float, int]] = []
    proc = run_proc(cmd, project, opts=OPTS, side=thread_sampler(samples))
    require_ok(proc, " ".join(cmd), f"{n} passed")
    span = batch_span(store_dir / "wtb.db")
    shutil.rmtree(store_dir, ignore_errors=True)
    if span["succeeded"] != n:
        raise SystemExit(f"benchmark step failed: {' '.join(cmd)}: {span['succeeded']} succeeded rows, expected {n}")
    t = proc.times
    return {
        "wall": proc.wall_s,
        "batch": span["last_end"] - span["first_start"],
        "loop": t["loop_end"] - t["loop_start"],
        "to_first_exec": span["first_start"] - t["loop_start"],
        "record_tail": span["last_recorded"] - span["last_end"],  # last end -> its row written
        "startup": t["collect_start"] - proc.t0,
        "after_loop": proc.t0 + proc.wall_s - t["loop_end"],
        "loop_cpu": t["loop_cpu_end"] - t["loop_cpu_start"],
        "cpu": proc.cpu_s,
        "maxrss_mb": proc.maxrss_mb,
        "median_duration": span["median_duration"],
        "max_duration": span["max_duration"],
        **thread_figures(samples, span["first_start"], span["last_end"]),
        "steal_pct": proc.steal_pct or 0.0,
    }


def run_floor(project: Path, n: int, concurrency: int, sleep_s: float) -> dict[str, Any]:
    """floor.py (generated) as a subprocess; ``loop``: its in-process gather, compile included."""
    cmd = [PY, "floor.py", str(n), str(concurrency), repr(sleep_s)]
    samples: list[tuple[float, int]] = []
    proc: Proc = run_proc(cmd, project, opts=OPTS, side=thread_sampler(samples))
    require_ok(proc, " ".join(cmd), '"loop_s"')
    data = json.loads(proc.out.strip().splitlines()[-1])
    return {"wall": proc.wall_s, "loop": data["loop_s"], "loop_cpu": data["loop_cpu_s"], "cpu": proc.cpu_s,
            "maxrss_mb": proc.maxrss_mb, **thread_figures(samples), "steal_pct": proc.steal_pct or 0.0}
