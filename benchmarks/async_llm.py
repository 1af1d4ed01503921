"""Issue 10: async graphs, many LLM-like calls in flight on few OS threads (--wtb-concurrency).

    python -m benchmarks.async_llm                    # 1,000 executions, concurrency 256, 3 repetitions
    python -m benchmarks.async_llm --quick            # 100 executions, concurrency 32, 1 repetition
    python -m benchmarks.async_llm --reps 5 --executions 2000 --concurrency 512 --json /tmp/wtb-async.json

One generated project, a 3-node graph prep -> llm -> finish whose llm node waits 250 ms (a stand-in
for an LLM call), one variant, N cases (plain input dicts via @wtb.cases), configurations interleaved
after one discarded warm-up each, every run a fresh subprocess (and a fresh SQLite store):

(a) async nodes (``await asyncio.sleep``), ``python -m pytest -q -p no:cacheprovider
    --wtb-concurrency=C --wtb-store sqlite:///<tmp>/wtb.db`` (threads backend, the default);
(b) the floor: the same graph compiled once with InMemorySaver, N ``ainvoke`` calls (distinct
    thread_ids) under ``asyncio.gather`` and ``asyncio.Semaphore(C)``; and the same without the sleep
    (LangGraph's own CPU cost of N executions);
(c) the same work with sync nodes (``time.sleep``) on the threads backend, ``--wtb-workers=W``.

Wall: the whole command (os.wait4). Batch: the first execution's start to the last one's end
(wtb_executions.started_at, started_at + duration_s). Threads: /proc/<pid>/status "Threads:" of the
command's process every 20 ms, from this process. Ideal = ceil(N / C) x sleep + the CPU floor's loop.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common.async_files import async_project
from benchmarks.common.cli import Ctx, Family, main
from benchmarks.common.info import log
from benchmarks.common.proc import PY
from benchmarks.common.stats import interleave, medians
from benchmarks.common.table import Row, fmt_s, phases, ratio_row
from benchmarks.common.threads_runs import plugin_options
from benchmarks.common.threads_sampling import plugin_command, run_floor, run_plugin

ASYNC, SYNC, FLOOR, CPU_FLOOR = "(a) pytest-wtb async", "(c) pytest-wtb sync", "(b) floor", "(b) CPU floor"
BATCH_GOAL, THREADS_GOAL = 1.5, 40
TMP_DB = Path("<tmp>/wtb.db")  # how the commands are shown


def vs(what: str, a: float, b: float, goal: str = "info", limit: float | None = None) -> Row:
    """a against b (seconds), ratio a / b; met when it is at most ``limit`` (no verdict without one)."""
    return ratio_row(what, fmt_s(a), fmt_s(b), a / b, goal, None if limit is None else a / b <= limit)


def count(what: str, n: float, goal: str = "report", limit: float | None = None) -> Row:
    return ratio_row(what, f"{n:.0f}", "-", None, goal, None if limit is None else n < limit)


def run(ctx: Ctx) -> None:
    a = ctx.args
    n = a.executions or ctx.size(1000, 100)
    conc = a.concurrency or (32 if ctx.quick else 256)
    workers, sleep_s = a.workers, a.sleep_ms / 1000
    root = async_project(ctx.tmp / "async", n, sleep_s)
    async_opts = (f"--wtb-concurrency={conc}",)
    sync_opts = (f"--wtb-workers={workers}",)
    configs: dict[str, Callable[[], dict[str, Any]]] = {}
    has_concurrency = "--wtb-concurrency" in plugin_options(root)
    if has_concurrency:
        configs[ASYNC] = lambda: run_plugin(root, "test_async_llm.py", n, async_opts)
    else:
        ctx.notes.append("(a) NOT MEASURED: this pytest-wtb has no --wtb-concurrency option (the async core "
                         "is not in yet)")
    configs |= {
        SYNC: lambda: run_plugin(root, "test_sync_llm.py", n, sync_opts),
        FLOOR: lambda: run_floor(root, n, conc, sleep_s),
        CPU_FLOOR: lambda: run_floor(root, n, conc, 0.0),
    }
    print(f"{n} executions, llm node {sleep_s * 1000:.0f} ms; async concurrency {conc}, sync workers {workers}",
          flush=True)
    log("warm-up (discarded): one run of each configuration")
    for name, fn in list(configs.items()):
        try:
            fn()
        except SystemExit as exc:  # (a) failing must not cost the other rows: report it and go on
            if name != ASYNC:
                raise
            del configs[ASYNC]
            ctx.notes.append(f"(a) FAILED, not measured: {str(exc)[-1500:]}")
    runs = interleave(configs, ctx.reps)
    r = {name: medians(rs) | {"wall_min": min(x["wall"] for x in rs), "wall_max": max(x["wall"] for x in rs)}
         for name, rs in runs.items()}
    ctx.raw.update(executions=n, concurrency=conc, workers=workers, sleep_s=sleep_s, runs=runs, medians=r)
    fl, cpu = r[FLOOR], r[CPU_FLOOR]
    ideal = math.ceil(n / conc) * sleep_s + cpu["loop"]
    ideal_sync = math.ceil(n / workers) * sleep_s + cpu["loop"]
    ctx.raw.update(ideal=ideal, ideal_sync=ideal_sync)
    rows: list[Row] = []
    at = f"{n} x {sleep_s * 1000:.0f} ms"
    if ASYNC in r:
        an = r[ASYNC]
        rows += [
            vs(f"(a) async nodes, {at}, --wtb-concurrency={conc}: batch wall vs ideal", an["batch"], ideal,
               f"<= {BATCH_GOAL}", BATCH_GOAL),
            count("(a)   peak OS threads of the pytest process", an["peak_threads"], f"< {THREADS_GOAL}",
                  THREADS_GOAL),
            vs("(a)   batch vs the floor's loop (b)", an["batch"], fl["loop"]),
            vs("(a)   pytest wall, end to end, vs the floor script's wall", an["wall"], fl["wall"]),
        ]
    rows += [
        vs(f"(b) floor: {n} ainvoke, gather + Semaphore({conc}), InMemorySaver: loop vs ideal", fl["loop"], ideal),
        ratio_row(f"(b) CPU floor: same, no sleep: loop ({cpu['loop'] / n * 1000:.2f} ms per execution)",
                  fmt_s(cpu["loop"]), "-", None, "info", None),
        vs(f"(c) sync nodes, threads --wtb-workers={workers}: batch wall vs its ideal ceil({n}/{workers}) x "
           f"{sleep_s * 1000:.0f} ms + CPU floor", r[SYNC]["batch"], ideal_sync),
        count("(c)   peak OS threads of the pytest process", r[SYNC]["peak_threads"]),
    ]
    if ASYNC in r:
        rows += [vs("(a)/(c) batch wall, async vs sync", r[ASYNC]["batch"], r[SYNC]["batch"]),
                 vs("(a)/(c) pytest wall, async vs sync", r[ASYNC]["wall"], r[SYNC]["wall"])]
    ctx.rows += rows
    ctx.notes += [
        f"ideal (a) = ceil({n}/{conc}) x {sleep_s:g} s + CPU floor {cpu['loop']:.2f} s = {ideal:.2f} s; "
        f"ideal (c) = ceil({n}/{workers}) x {sleep_s:g} s + CPU floor = {ideal_sync:.2f} s",
        f"floor script peak threads: {fl['peak_threads']:.0f} (with sleep), {cpu['peak_threads']:.0f} (no sleep)",
        "commands (in the generated project): " + "; ".join(" ".join(c).replace(PY, "python") for c in (
            *([plugin_command("test_async_llm.py", TMP_DB, async_opts)] if has_concurrency else []),
            plugin_command("test_sync_llm.py", TMP_DB, sync_opts), ["python", "floor.py", str(n), str(conc),
                                                                   repr(sleep_s)])),
    ]
    for name in (ASYNC, SYNC):
        if name in r:
            d = r[name]
            ctx.notes.append(f"{name}: median execution duration {d['median_duration'] * 1000:.0f} ms (max "
                             f"{d['max_duration']:.2f} s), threads during the batch median "
                             f"{d['batch_median_threads']:.0f} / peak {d['batch_peak_threads']:.0f}, CPU in the "
                             f"test loop {d['loop_cpu']:.2f} s ({d['loop_cpu'] / n * 1000:.1f} ms per execution), "
                             f"peak RSS {d['maxrss_mb']:.0f} MB")
    ctx.lines += [phases(name, d) for name, d in r.items()]


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--executions", type=int, default=None, help="cases = executions (default 1000, 100 --quick)")
    ap.add_argument("--concurrency", type=int, default=None,
                    help="--wtb-concurrency and the floor's Semaphore (default 256, 32 with --quick)")
    ap.add_argument("--workers", type=int, default=64, help="--wtb-workers of the sync run (c) (default 64)")
    ap.add_argument("--sleep-ms", type=float, default=250.0, help="the llm node's wait (default 250)")


FAMILY = Family("async_llm", "async_llm", "issue 10: async graphs, LLM-like waits, --wtb-concurrency vs sync threads",
                __doc__ or "", run, add_args=add_args)

if __name__ == "__main__":
    main(FAMILY)
