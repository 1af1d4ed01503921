"""How the Ray, PostgreSQL and prefix families run the plugin: phases, worker timeline, cores, load, steal."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common.info import loadavg, log
from benchmarks.common.proc import EXTENDED_OPTS, RunOpts
from benchmarks.common.sampling import cpu_breakdown
from benchmarks.common.store import core_phases, plugin_run, worker_timeline


def fresh_sqlite(tmp: Path) -> str:
    return f"sqlite:///{tempfile.mkdtemp(prefix='s-', dir=tmp)}/wtb.db"


def run_plugin(project: Path, store: str, n_items: int, extra: tuple[str, ...], *,
               opts: RunOpts = EXTENDED_OPTS, env: dict[str, str] | None = None,
               side: Callable[[threading.Event], None] | None = None, target: str = ".",
               pg_db: str | None = None, extra_rows: int = 0) -> dict[str, Any]:
    """One plugin run; ``extra_rows``: execution rows expected beyond the items (shared prefixes)."""
    load0 = loadavg()
    proc, span = plugin_run(project, store, n_items, extra, opts, env=env, side=side, target=target, pg_db=pg_db)
    if span["count"] != n_items + extra_rows:
        log(f"WARNING: {span['count']} execution rows in the store, expected {n_items + extra_rows} "
            f"(shared-prefix executions where none were expected?)")
    t = proc.times
    res: dict[str, Any] = {
        "wall": proc.wall_s,
        "wait4_maxrss_mb": proc.maxrss_mb,
        "self_maxrss_mb": t.get("self_maxrss_kb", 0) / 1024,
        "tree_peak_mb": proc.tree_peak_mb,
        **core_phases(proc, span),
        "to_first_result": span["first_end"] - t["loop_start"],
        "after_loop": proc.t0 + proc.wall_s - t["loop_end"],
        "rows": span["count"],
        **{f"tl_{k}": v for k, v in worker_timeline(store).items()},
        "succeeded": span["succeeded"],
        "load1": (load0 + loadavg()) / 2,
        # % of CPU time the hypervisor gave to other VMs: 0 on a machine of one's own
        "steal_pct": proc.steal_pct or 0.0,
        "cores_in_span": cpu_breakdown(proc.samples, span["first_start"], span["last_end"]),
    }
    if "ray_connect_start" in t:
        res["ray_connect"] = t["ray_connect_end"] - t["ray_connect_start"]
    if "ray_disconnect_start" in t:
        res["ray_disconnect"] = t["ray_disconnect_end"] - t["ray_disconnect_start"]
    return res


def calibrate_cpu(target_s: float = 0.020) -> tuple[int, float]:
    """Iterations of the generated burn() loop that take ``target_s`` of CPU time (min of 5 tries)."""

    def burn(n: int) -> int:
        acc = 0
        for i in range(n):
            acc = (acc * 31 + i) & 0xFFFFFFFF
        return acc

    def cpu_time(n: int) -> float:
        c0 = time.process_time()
        burn(n)
        return time.process_time() - c0

    n = 20_000
    while cpu_time(n) <= 0.05:
        n *= 2
    best = min(cpu_time(n) for _ in range(5))
    iters = int(n * target_s / best)
    return iters, min(cpu_time(iters) for _ in range(5))
