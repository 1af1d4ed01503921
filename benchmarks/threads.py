"""Issue 2: the threads backend against what people write by hand (formerly benchmarks/run.py).

    python -m benchmarks.threads                     # measurements 1-3, 3 repetitions, prints the table
    python -m benchmarks.threads --only 1,2          # a subset
    python -m benchmarks.threads --reps 5 --json /tmp/wtb-bench.json
    python -m benchmarks.threads --reps 1 --scale 0.01   # a smoke run

Every measurement is a fresh subprocess with a fresh SQLite file; medians over --reps, after one
discarded warm-up run of each configuration (configurations interleaved):

1. 500 trivial executions (5 variants x 100 cases, 3-node graph, durability="sync", SqliteSaver):
   ``pytest -q -p no:cacheprovider --wtb-store=sqlite:///<tmp>/wtb.db`` end to end, and the batch
   alone (first runtestloop hook -> last execution row's ended_at), against a hand-written
   ThreadPoolExecutor loop over ``graph.invoke(..., durability="sync")`` sharing one
   ``SqliteSaver(sqlite3.connect(path, check_same_thread=False))``: the loop alone (in-process) and
   the whole script as a subprocess (python start-up and imports included).
2. I/O-bound: 200 executions whose middle node sleeps 50 ms, against the ideal
   ceil(200 / workers) x 50 ms and against the same tests written with plain
   ``pytest.mark.parametrize`` calling ``graph.invoke`` under ``pytest -n 2``.
3. 10,000 items (10 variants x 1,000 cases): collection time per item, the non-execution time per
   item (wall - execution span) / items, and peak RSS of the pytest process.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from benchmarks.common.cli import Ctx, Family, main
from benchmarks.common.stats import repeat
from benchmarks.common.table import Row, fmt_s, phases, ratio_row
from benchmarks.common.threads_files import (
    NOOP_PARAM_MODULE,
    PARAM_TEST_MODULE,
    PLAIN_TEST,
    WTB_TEST_MODULE,
    threads_project,
)
from benchmarks.common.threads_runs import (
    NO_HYPOTHESIS,
    NO_SHARE_PREFIX,
    NOOP,
    plugin_options,
    run_collect_only,
    run_handwritten,
    run_param,
    run_plain_collect,
    run_pytest_floor,
    run_wtb,
)


def vs(what: str, a: float, b: float, goal: str = "info", limit: float | None = None, unit: str = "s") -> Row:
    """a against b, ratio a / b; met when the ratio is at most ``limit`` (no verdict without one)."""
    shown = [fmt_s(x, 3) if unit == "s" else f"{x:.0f} {unit}" for x in (a, b)]
    return ratio_row(what, *shown, a / b, goal, None if limit is None else a / b <= limit)


def per_item(what: str, ms: float, goal: str = "info", met: bool | None = None) -> Row:
    return ratio_row(what, f"{ms:.3f} ms", "-", None, goal, met)


def bench_throughput(ctx: Ctx, workers: int) -> tuple[list[Row], dict[str, Any]]:
    nv, nc = 5, ctx.size(100)
    n = nv * nc
    project = threads_project(ctx.tmp / "b1", WTB_TEST_MODULE.format(n_variants=nv, n_cases=nc, sleep_s=0.0),
                              "test_wtb_bench.py")
    floor = threads_project(ctx.tmp / "b1floor", NOOP_PARAM_MODULE.format(n_variants=nv, n_cases=nc), "test_noop.py")
    print(f"[1] {n} trivial executions, {workers} workers", flush=True)
    configs: dict[str, Any] = {
        "pytest alone, no-op items": lambda: run_pytest_floor(floor, n),
        "plugin": lambda: run_wtb(project, n, workers),
        "plugin, -p no:hypothesispytest": lambda: run_wtb(project, n, workers, NO_HYPOTHESIS),
    }
    if NO_SHARE_PREFIX in plugin_options(project):
        configs[f"plugin, {NO_SHARE_PREFIX}"] = lambda: run_wtb(project, n, workers, (NO_SHARE_PREFIX,))
    configs["hand-written"] = lambda: run_handwritten(project, nv, nc, 0.0, workers)
    configs["hand-written, saver per thread"] = lambda: run_handwritten(project, nv, nc, 0.0, workers, "perthread")
    r = repeat(configs, ctx.reps)
    wtb, wtb_nh, hw = r["plugin"], r["plugin, -p no:hypothesispytest"], r["hand-written"]
    hwp, fl = r["hand-written, saver per thread"], r["pytest alone, no-op items"]
    rows = [
        vs(f"1a. {n} trivial execs, end to end (pytest vs script subprocess)", wtb["wall"], hw["wall"], "<= 1.3", 1.3),
        vs("1b. same, pytest -p no:hypothesispytest (info: venv plugin)", wtb_nh["wall"], hw["wall"]),
        vs(f"1c. {n} trivial execs, batch vs in-process loop", wtb["batch"], hw["loop"], "<= 1.3", 1.3),
        vs("1d. same, CPU s during batch / loop (process_time)", wtb["loop_cpu"], hw["loop_cpu"]),
        vs("1e. batch vs loop with a saver per thread, WAL+sync=NORMAL (info)", wtb["batch"], hwp["loop"]),
        vs("1f. same, CPU s during batch / loop", wtb["loop_cpu"], hwp["loop_cpu"]),
        vs(f"1g. pytest alone: {n} no-op parametrized items, end to end (same plugins installed)", fl["wall"],
           hw["wall"]),
        vs("1h. plugin minus that pytest floor, vs the script (what pytest-wtb adds)", wtb["wall"] - fl["wall"],
           hw["wall"]),
    ]
    nsp = r.get(f"plugin, {NO_SHARE_PREFIX}")
    if nsp is not None:
        rows.insert(4, vs(f"1c'. batch with {NO_SHARE_PREFIX} vs in-process loop", nsp["batch"], hw["loop"]))
    return rows, r


def bench_io(ctx: Ctx, workers: int) -> tuple[list[Row], dict[str, Any]]:
    nv, nc, sleep_s = 2, ctx.size(100), 0.05
    n = nv * nc
    ideal = math.ceil(n / workers) * sleep_s
    mod = dict(n_variants=nv, n_cases=nc, sleep_s=sleep_s)
    project = threads_project(ctx.tmp / "b2", WTB_TEST_MODULE.format(**mod), "test_wtb_io.py")
    param_project = threads_project(ctx.tmp / "b2p", PARAM_TEST_MODULE.format(**mod), "test_param_io.py")
    print(f"[2] {n} executions sleeping {sleep_s * 1000:.0f} ms, {workers} workers, ideal {ideal:.3f} s", flush=True)
    r = repeat(
        {
            "plugin": lambda: run_wtb(project, n, workers),
            "hand-written": lambda: run_handwritten(project, nv, nc, sleep_s, workers),
            "hand-written, InMemorySaver": lambda: run_handwritten(project, nv, nc, sleep_s, workers, "memory"),
            "parametrize -n 2": lambda: run_param(param_project, n, 2),
        },
        ctx.reps,
    )
    wtb, hw, hwm, param = r["plugin"], r["hand-written"], r["hand-written, InMemorySaver"], r["parametrize -n 2"]
    rows = [
        vs(f"2a. {n} x 50 ms sleep, batch vs ideal ceil({n}/{workers})x50ms", wtb["batch"], ideal, "<= 1.5", 1.5),
        vs("2b. same, hand-written in-process loop vs ideal (info)", hw["loop"], ideal),
        vs("2c. same, plugin batch vs hand-written in-process loop", wtb["batch"], hw["loop"]),
        vs("2d. LangGraph floor: hand-written loop with InMemorySaver", hwm["loop"], ideal),
        vs("2e. CPU s during batch / hand-written loop", wtb["loop_cpu"], hw["loop_cpu"]),
        vs("2f. end to end: plugin vs parametrize + invoke, pytest -n 2", wtb["wall"], param["wall"],
           "<= 0.2 (5x faster)", 0.2),
    ]
    return rows, {"ideal": ideal, **r}


def bench_overhead(ctx: Ctx, workers: int) -> tuple[list[Row], dict[str, Any]]:
    nv, nc = 10, ctx.size(1000)
    n = nv * nc
    project = threads_project(ctx.tmp / "b3", WTB_TEST_MODULE.format(n_variants=nv, n_cases=nc, sleep_s=0.0),
                              "test_wtb_many.py")
    small = threads_project(ctx.tmp / "b3s", WTB_TEST_MODULE.format(n_variants=nv, n_cases=1, sleep_s=0.0),
                            "test_wtb_small.py")
    plain = threads_project(ctx.tmp / "b3p", PLAIN_TEST, "test_plain.py")
    print(f"[3] {n} items ({nv} variants x {nc} cases)", flush=True)
    r0 = repeat({"plain test, plugin installed": lambda: run_plain_collect(plain, ()),
                 "plain test, -p no:wtb": lambda: run_plain_collect(plain, ("-p", "no:wtb"))}, ctx.reps)
    r1 = repeat({f"collect-only {nv} items": lambda: run_collect_only(small, nv),
                 f"collect-only {n} items": lambda: run_collect_only(project, n)}, ctx.reps)
    col_small, col = r1[f"collect-only {nv} items"], r1[f"collect-only {n} items"]
    r2 = repeat({f"plugin {n} items": lambda: run_wtb(project, n, workers),
                 "hand-written": lambda: run_handwritten(project, nv, nc, 0.0, workers)}, ctx.reps, warmup=False)
    wtb, hw = r2[f"plugin {n} items"], r2["hand-written"]
    # the same items with executions that cost nothing: pytest + pytest-wtb alone
    noop_cfg = {f"plugin {n} items, no-op backend": lambda: run_wtb(project, n, workers, NOOP)}
    if NO_SHARE_PREFIX in plugin_options(project):
        noop_cfg[f"plugin {n} items, no-op backend, {NO_SHARE_PREFIX}"] = lambda: run_wtb(
            project, n, workers, (*NOOP, NO_SHARE_PREFIX)
        )
    r3 = repeat(noop_cfg, ctx.reps, warmup=False)
    with_p, without_p = r0["plain test, plugin installed"], r0["plain test, -p no:wtb"]
    collect_ms = (col["wall"] - col_small["wall"]) / (n - nv) * 1000
    nonexec_ms = (wtb["wall"] - wtb["exec_span"]) / n * 1000
    marginal_ms = (wtb["wall"] - wtb["exec_span"] - col_small["wall"]) / n * 1000
    over_hw_ms = (wtb["wall"] - hw["wall"]) / n * 1000
    rows = [
        per_item(f"3a. collection per item ({n} vs {nv} items, --collect-only)", collect_ms),
        per_item(f"3b. non-execution time per item, (wall - exec span)/{n}", nonexec_ms, "<= 1 ms", nonexec_ms <= 1.0),
        per_item(f"3c. same, minus fixed start-up ({nv}-item --collect-only wall)", marginal_ms),
        per_item("3d. end to end minus hand-written script, per item", over_hw_ms),
        vs(f"3e. end to end wall, {n} items vs hand-written script", wtb["wall"], hw["wall"]),
        vs(f"3f. peak RSS of pytest, {n} items (baseline: hand-written)", wtb["maxrss_mb"], hw["maxrss_mb"],
           unit="MB"),
        vs(f"3g. peak RSS of pytest --collect-only, {n} items (baseline: {nv})", col["maxrss_mb"],
           col_small["maxrss_mb"], unit="MB"),
        vs("3h. start-up tax on a plain pytest run (plugin vs -p no:wtb)", with_p["wall"], without_p["wall"]),
    ]
    for letter, (name, d) in zip("ij", r3.items(), strict=False):
        per = (d["wall"] - col_small["wall"]) / n * 1000
        label = name.removeprefix(f"plugin {n} items, ")
        rows.append(per_item(f"3{letter}. {label}: (wall - {nv}-item collect-only)/{n}", per, "info (vs 1 ms)"))
    extra = {**r0, **r1, **r2, **r3, "collect_ms_per_item": collect_ms, "nonexec_ms_per_item": nonexec_ms,
             "marginal_ms_per_item": marginal_ms, "over_handwritten_ms_per_item": over_hw_ms}
    return rows, extra


BENCHES = {"1": bench_throughput, "2": bench_io, "3": bench_overhead}


def run(ctx: Ctx) -> None:
    only = {s.strip() for s in ctx.args.only.split(",")}
    ctx.raw["workers"] = ctx.args.workers
    ctx.notes.append(f"--wtb-workers={ctx.args.workers} (and the hand-written pool size)")
    for key, bench in BENCHES.items():
        if key in only:
            rows, ctx.raw[key] = bench(ctx, ctx.args.workers)
            ctx.rows += rows
            ctx.lines += [phases(f"[{key}] {name}", d) for name, d in ctx.raw[key].items() if isinstance(d, dict)]


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--workers", type=int, default=16, help="--wtb-workers and the hand-written pool size")
    ap.add_argument("--only", default="1,2,3", help="comma-separated subset of 1,2,3")


FAMILY = Family("threads", "threads", "issue 2: the threads backend against hand-written loops and pytest-xdist",
                __doc__ or "", run, add_args=add_args, quick_scale=0.05)

if __name__ == "__main__":
    main(FAMILY)
