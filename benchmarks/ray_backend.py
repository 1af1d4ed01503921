"""Issue 3: the Ray backend against threads (measurement 1 of the former benchmarks/extended.py).

    python -m benchmarks.ray_backend                  # 3 repetitions, medians
    python -m benchmarks.ray_backend --quick          # small sizes, 1 repetition (a smoke run)

Every run is a fresh ``python -m pytest`` subprocess on a fresh SQLite store, Ray in a private temp dir;
phase times come from the generated conftest (hook timestamps, ray.init time, the driver's own peak RSS)
and from the store's execution rows.

(a) CPU-bound: a 3-node graph whose middle node burns ~20 ms of pure-Python CPU (calibrated here with
time.process_time), 80 executions, ``--wtb-backend=threads`` (16 threads) vs ``--wtb-backend=ray
--wtb-workers=2``; "once started" is the execution span (first execution start -> last execution end).
Ray start-up is reported on its own: ray.init (including ``import ray``) and the extra time to the first
execution start. (b) 400 trivial executions: overhead per execution = (ray wall - ray fixed cost -
threads wall) / N, fixed cost = extra time to first execution start + ray shutdown. (c) 10,000 trivial
executions on ray: peak RSS of the pytest process (its own getrusage(RUSAGE_SELF), and wait4's rusage,
which also covers reaped Ray daemons) and of its whole process tree.
"""

from __future__ import annotations

from typing import Any

from benchmarks.common.cli import Ctx, Family, main
from benchmarks.common.ext_files import CPU_TEST, TRIV_TEST, ext_project
from benchmarks.common.ext_runs import calibrate_cpu, fresh_sqlite, run_plugin
from benchmarks.common.info import log
from benchmarks.common.proc import EXTENDED_OPTS
from benchmarks.common.sampling import cores, fmt_cores
from benchmarks.common.stats import interleave, log_reps, med, medians
from benchmarks.common.table import Row, fmt_s, verdict

THREADS = ("--wtb-backend=threads",)
RAY = ("--wtb-backend=ray", "--wtb-workers=2")
BACKENDS = {"threads": THREADS, "ray": RAY}


def run(ctx: Ctx) -> None:
    cpu_iters, cpu_node_s = calibrate_cpu()
    ctx.raw |= {"cpu_iters": cpu_iters, "cpu_node_s": cpu_node_s}
    n_cpu, n_triv = ctx.size(80, 40), ctx.size(400, 100)
    n_big = (10, ctx.size(1000, 100))  # variants x cases
    root = ext_project(ctx.tmp / "ray", {"test_cpu.py": CPU_TEST.format(n_cases=n_cpu),
                                         "test_triv.py": TRIV_TEST.format(n_variants=1, n_cases=n_triv)}, cpu_iters)
    big = ext_project(ctx.tmp / "ray-big", {"test_big.py": TRIV_TEST.format(n_variants=n_big[0], n_cases=n_big[1])},
                      cpu_iters)
    warm = ext_project(ctx.tmp / "ray-warm", {"test_w.py": TRIV_TEST.format(n_variants=1, n_cases=4)}, cpu_iters)
    n_total = n_big[0] * n_big[1]

    def plugin(project: Any, n: int, opts: tuple[str, ...], target: str = ".") -> Any:
        return lambda: run_plugin(project, fresh_sqlite(ctx.tmp), n, opts, opts=ctx.opts, target=target)

    show = log_reps({
        "1a": "1a rep {rep} {rest:7s} CPU-bound x{n_cpu}: wall {wall:.2f}s span {exec_span:.2f}s first exec "
              "{to_first_exec:.2f}s ray.init {ray_connect:.2f}s load {load1:.1f} steal {steal_pct:.0f}%",
        "1b": "1b rep {rep} {rest:7s} trivial x{n_triv}: wall {wall:.2f}s span {exec_span:.2f}s first exec "
              "{to_first_exec:.2f}s shutdown {ray_disconnect:.2f}s",
        "1c": "1c rep {rep} {rest:7s} trivial x{n_total}: wall {wall:.1f}s self maxrss {self_maxrss_mb:.0f} MB "
              "wait4 {wait4_maxrss_mb:.0f} MB tree {tree_peak_mb:.0f} MB",
    }, n_cpu=n_cpu, n_triv=n_triv, n_total=n_total)

    log("warm-up (discarded): 4 trivial executions on threads and on ray")
    for opts in BACKENDS.values():
        plugin(warm, 4, opts)()
    fns = {f"1a {b}": plugin(root, n_cpu, opts, "test_cpu.py") for b, opts in BACKENDS.items()}
    fns |= {f"1b {b}": plugin(root, n_triv, opts, "test_triv.py") for b, opts in BACKENDS.items()}
    ab = interleave(fns, ctx.reps, show)
    c = interleave({"1c ray": plugin(big, n_total, RAY), "1c threads": plugin(big, n_total, THREADS)}, ctx.reps, show)
    cpu = {b: ab[f"1a {b}"] for b in BACKENDS}
    triv = {b: ab[f"1b {b}"] for b in BACKENDS}
    bigruns = {b: c[f"1c {b}"] for b in ("threads", "ray")}
    ctx.raw["ray"] = {"cpu": cpu, "triv": triv, "big": bigruns, "n_cpu": n_cpu, "n_triv": n_triv, "n_big": n_total,
                      "cpu_iters": cpu_iters}
    rows_cpu_bound(ctx, cpu, triv, n_cpu)
    rows_overhead(ctx, triv, n_triv)
    rows_memory(ctx, bigruns, n_total)
    notes(ctx, cpu, triv, bigruns, n_cpu, n_triv, n_total)


def rows_cpu_bound(ctx: Ctx, cpu: dict[str, list[dict[str, Any]]], triv: dict[str, list[dict[str, Any]]],
                   n_cpu: int) -> None:
    c_t, c_r = medians(cpu["threads"]), medians(cpu["ray"])
    speed_span = c_t["exec_span"] / c_r["exec_span"]
    ctx.rows.append(Row(f"1a Ray CPU-bound {n_cpu} x ~20 ms, once started (execution span)",
                        fmt_s(c_r["exec_span"]), fmt_s(c_t["exec_span"]), f"{speed_span:.2f}x faster",
                        ">= 1.7x", verdict(speed_span >= 1.7)))
    speed_wall = c_t["wall"] / c_r["wall"]
    ctx.rows.append(Row(f"1a Ray CPU-bound {n_cpu} x ~20 ms, pytest wall (incl. Ray start/stop)",
                        fmt_s(c_r["wall"]), fmt_s(c_t["wall"]), f"{speed_wall:.2f}x faster", "(report)", "-"))

    # CPU accounting: what the same executions would take with the machine to ourselves, if threads
    # stay on one core (the GIL) and Ray's processes (actors, driver, raylet) spread over both
    def cpu_per_exec(r: dict[str, Any]) -> float:
        busy = float((r.get("cores_in_span") or {}).get("(ours)", 0.0))
        return busy * float(r["exec_span"]) / n_cpu

    t_cpu, r_cpu = med([cpu_per_exec(r) for r in cpu["threads"]]), med([cpu_per_exec(r) for r in cpu["ray"]])
    if t_cpu > 0 and r_cpu > 0:
        projected = t_cpu / (r_cpu / 2)
        ctx.rows.append(Row("1a   projection for an idle 2-core machine, from CPU seconds per execution",
                            f"{r_cpu * 1000:.1f} ms CPU/2 cores", f"{t_cpu * 1000:.1f} ms CPU/1 core",
                            f"{projected:.2f}x faster", ">= 1.7x", "estimate: " + verdict(projected >= 1.7)))
    startup_extra = [r["to_first_exec"] for r in cpu["ray"] + triv["ray"]]
    threads_first = [r["to_first_exec"] for r in cpu["threads"] + triv["threads"]]
    ray_init = [r["ray_connect"] for r in cpu["ray"] + triv["ray"] if "ray_connect" in r]
    ray_stop = [r["ray_disconnect"] for r in cpu["ray"] + triv["ray"] if "ray_disconnect" in r]
    ctx.rows.append(Row("1a Ray start-up: ray.init (incl. import ray)", fmt_s(med(ray_init)), "-", "-",
                        "(report)", "-"))
    ctx.rows.append(Row("1a Ray start-up: batch start -> first execution starts", fmt_s(med(startup_extra)),
                        fmt_s(med(threads_first)), f"+{med(startup_extra) - med(threads_first):.2f} s", "(report)",
                        "-"))
    ctx.rows.append(Row("1a Ray shutdown (ray.shutdown at session end)", fmt_s(med(ray_stop)), "-", "-",
                        "(report)", "-"))


def rows_overhead(ctx: Ctx, triv: dict[str, list[dict[str, Any]]], n_triv: int) -> None:
    """Per-execution overhead on the trivial graph, fixed costs (start-up + shutdown) taken out."""
    t_t, t_r = medians(triv["threads"]), medians(triv["ray"])
    per_run = []
    for rr, tr in zip(triv["ray"], triv["threads"], strict=True):
        fixed = (rr["to_first_exec"] - tr["to_first_exec"]) + rr.get("ray_disconnect", 0.0)
        per_run.append((rr["wall"] - fixed - tr["wall"]) / n_triv)
    overhead = med(per_run)
    overhead_span = (t_r["exec_span"] - t_t["exec_span"]) / n_triv
    ctx.rows.append(Row(f"1b Ray per-execution overhead vs threads, {n_triv} trivial (wall)",
                        fmt_s(t_r["wall"]), fmt_s(t_t["wall"]), f"{overhead * 1000:+.2f} ms/exec",
                        "<= 3 ms/exec", verdict(overhead <= 0.003)))
    ctx.rows.append(Row("1b   same, execution span only", fmt_s(t_r["exec_span"]), fmt_s(t_t["exec_span"]),
                        f"{overhead_span * 1000:+.2f} ms/exec", "<= 3 ms/exec", verdict(overhead_span <= 0.003)))


def rows_memory(ctx: Ctx, bigruns: dict[str, list[dict[str, Any]]], n_total: int) -> None:
    b_t, b_r = medians(bigruns["threads"]), medians(bigruns["ray"])
    for what, key in (("pytest process peak RSS (RUSAGE_SELF)", "self_maxrss_mb"),
                      ("wait4 ru_maxrss of the pytest subprocess", "wait4_maxrss_mb"),
                      ("process tree peak RSS (sampled 4/s)", "tree_peak_mb")):
        ctx.rows.append(Row(f"1c Ray {n_total:,} trivial: {what}", f"{b_r[key]:.0f} MB",
                            f"{b_t[key]:.0f} MB (threads)", f"{b_r[key] / b_t[key]:.2f}x", "(report)", "-"))
    ctx.rows.append(Row(f"1c Ray {n_total:,} trivial: pytest wall", fmt_s(b_r["wall"]),
                        fmt_s(b_t["wall"]) + " (threads)", f"{b_r['wall'] / b_t['wall']:.2f}x", "(report)", "-"))


def notes(ctx: Ctx, cpu: dict[str, list[dict[str, Any]]], triv: dict[str, list[dict[str, Any]]],
          bigruns: dict[str, list[dict[str, Any]]], n_cpu: int, n_triv: int, n_total: int) -> None:
    c_t, c_r = medians(cpu["threads"]), medians(cpu["ray"])
    t_t, t_r = medians(triv["threads"]), medians(triv["ray"])
    b_t, b_r = medians(bigruns["threads"]), medians(bigruns["ray"])
    node_ms = ctx.raw["cpu_node_s"] * 1000
    ctx.notes.append(
        f"1: CPU node = {ctx.raw['cpu_iters']:,} iterations of a pure-Python loop, calibrated to "
        f"{node_ms:.1f} ms of CPU in this process. Threads: the default 16 threads. "
        f"Median load average during 1a runs: threads {c_t['load1']:.1f}, ray {c_r['load1']:.1f} (2 cores). "
        f"CPU-bound span per execution: threads {c_t['exec_span'] / n_cpu * 1000:.1f} ms, "
        f"ray {c_r['exec_span'] / n_cpu * 1000:.1f} ms (ideal with 2 actors: {node_ms / 2:.1f} ms). 1b fixed "
        f"cost taken out = Ray's extra time to the first execution + ray.shutdown. 1c ray wall {b_r['wall']:.1f}s = "
        f"{b_r['wall'] / n_total * 1000:.2f} ms per item; threads {b_t['wall'] / n_total * 1000:.2f} ms per item."
    )
    cr, ct = cores(cpu["ray"]), cores(cpu["threads"])
    actor_cpu = cr.get("ray actor", 0.0) * c_r["exec_span"] / n_cpu
    ctx.notes.append(
        f"1a cores used during the execution span (CPU seconds / span, medians): ray: {fmt_cores(cr)}; "
        f"threads: {fmt_cores(ct)}. Ray actor CPU per execution: {actor_cpu * 1000:.1f} ms "
        f"(node work {node_ms:.1f} ms)."
    )
    tr_c, tt_c = cores(triv["ray"]), cores(triv["threads"])

    def per_exec_ms(c: dict[str, float], key: str, span: float) -> str:
        return f"{c.get(key, 0) * span / n_triv * 1000:.1f} ms"

    ctx.notes.append(
        f"1b ({n_triv} trivial): ray actors' median execution {t_r.get('tl_median_duration', 0) * 1000:.1f} ms, "
        f"median idle gap on an actor between one execution's end and its next start "
        f"{t_r.get('tl_median_gap', 0) * 1000:.1f} ms (one execution in flight per actor); threads' median "
        f"execution {t_t.get('tl_median_duration', 0) * 1000:.1f} ms (16 threads sharing the GIL). Cores during "
        f"the span: ray: {fmt_cores(tr_c)}; threads: {fmt_cores(tt_c)}. CPU per execution: ray "
        f"{per_exec_ms(tr_c, '(ours)', t_r['exec_span'])} (actors {per_exec_ms(tr_c, 'ray actor', t_r['exec_span'])}"
        f", driver {per_exec_ms(tr_c, 'pytest driver', t_r['exec_span'])}), threads "
        f"{per_exec_ms(tt_c, '(ours)', t_t['exec_span'])}."
    )
    ctx.raw["ray"]["cores"] = {"cpu_ray": cr, "cpu_threads": ct, "triv_ray": tr_c, "triv_threads": tt_c}


FAMILY = Family("ray", "ray_backend", "issue 3: the Ray backend against threads", __doc__ or "", run,
                opts=EXTENDED_OPTS, packages=("ray",))

if __name__ == "__main__":
    main(FAMILY)
