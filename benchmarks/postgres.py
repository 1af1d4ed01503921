"""Issue 4: the PostgreSQL store against SQLite (measurement 2 of the former benchmarks/extended.py).

    python -m benchmarks.postgres                     # 3 repetitions, medians
    python -m benchmarks.postgres --quick             # 200 executions, 1 repetition (a smoke run)

1,000 executions of a 3-node graph (10 variants x 100 cases, durability="sync"), threads at 16 workers,
into a throwaway PostgreSQL database (postgresql://postgres@127.0.0.1:5432/, a fresh one per run,
dropped right after) vs a SQLite file; per-execution overhead over a hand-written ThreadPoolExecutor
loop with InMemorySaver on the same graph; the peak number of connections (pg_stat_activity for that
database, polled every 20 ms from a side thread) and the sessions opened during a run.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.common.cli import Ctx, Family, main
from benchmarks.common.ext_files import TRIV_TEST, ext_project
from benchmarks.common.ext_runs import fresh_sqlite, run_plugin
from benchmarks.common.info import log
from benchmarks.common.pg import PG_BASE, PgDatabases, connection_poller, pg_available, pg_sessions
from benchmarks.common.proc import EXTENDED_OPTS, PY, require_ok, run_proc
from benchmarks.common.sampling import cores, fmt_cores
from benchmarks.common.stats import interleave, log_reps, med, medians
from benchmarks.common.table import Row, fmt_s, verdict

OPTS = ("--wtb-backend=threads", "--wtb-workers=16")


def run(ctx: Ctx) -> None:
    problem = pg_available()
    if problem:
        ctx.rows.append(Row("2 PostgreSQL", "-", "-", "-", "-", f"SKIPPED ({problem})"))
        return
    n_variants, n_cases = 10, ctx.size(100, 20)
    n = n_variants * n_cases
    root = ext_project(ctx.tmp / "pg", {"test_triv.py": TRIV_TEST.format(n_variants=n_variants, n_cases=n_cases)})
    dbs = PgDatabases()

    def postgresql() -> dict[str, Any]:
        db = dbs.create()
        peak = {"max": 0, "samples": 0}
        r = run_plugin(root, PG_BASE + db, n, OPTS, opts=ctx.opts, side=connection_poller(db, peak), pg_db=db)
        r["peak_connections"], r["poll_samples"] = peak["max"], peak["samples"]
        r["sessions_opened"] = pg_sessions(db)
        dbs.drop(db)
        return r

    def sqlite() -> dict[str, Any]:
        return run_plugin(root, fresh_sqlite(ctx.tmp), n, OPTS, opts=ctx.opts)

    def memory() -> dict[str, Any]:
        proc = run_proc([PY, "memloop.py", str(n_variants), str(n_cases), "16"], root, None, ctx.opts)
        require_ok(proc, "memloop.py")
        return {"wall": proc.wall_s, "loop": json.loads(proc.out.strip().splitlines()[-1])["loop_s"]}

    show = log_reps({
        "postgresql": "2 rep {rep} postgresql x{n}: wall {wall:.2f}s batch {batch:.2f}s peak connections "
                      "{peak_connections} ({poll_samples} polls), sessions opened {sessions_opened} load {load1:.1f}",
        "sqlite": "2 rep {rep} sqlite     x{n}: wall {wall:.2f}s batch {batch:.2f}s steal {steal_pct:.0f}%",
        "memory": "2 rep {rep} InMemorySaver loop x{n}: wall {wall:.2f}s loop {loop:.2f}s",
    }, n=n)

    try:
        log("warm-up (discarded): one PostgreSQL run, one SQLite run")
        db = dbs.create()
        run_plugin(root, PG_BASE + db, n, OPTS, opts=ctx.opts)
        dbs.drop(db)
        sqlite()
        runs = interleave({"postgresql": postgresql, "sqlite": sqlite, "memory": memory}, ctx.reps, show)
    finally:
        dbs.drop_all()
    ctx.raw["pg"] = runs | {"n": n}
    rows(ctx, runs, n)
    pg = runs["postgresql"]
    p, s = medians(pg), medians(runs["sqlite"])
    ctx.notes.append(
        f"2: {n_variants} variants x {n_cases} cases of the trivial 3-node graph (durability='sync'); a fresh "
        f"database per PostgreSQL run. Median peak connections {med([r['peak_connections'] for r in pg]):.0f}; "
        f"sessions opened to the database during a run (pg_stat_database.sessions; the poller connects to "
        f"'test' and is not counted): {med([r['sessions_opened'] for r in pg]):.0f}. "
        f"Median load during runs: postgresql {p['load1']:.1f}, sqlite {s['load1']:.1f}. "
        f"Driver CPU per execution in the loop: postgresql {p['loop_cpu'] / n * 1000:.1f} ms, "
        f"sqlite {s['loop_cpu'] / n * 1000:.1f} ms. Cores during the execution span: postgresql: "
        f"{fmt_cores(cores(pg))}; sqlite: {fmt_cores(cores(runs['sqlite']))}."
    )


def rows(ctx: Ctx, runs: dict[str, list[dict[str, Any]]], n: int) -> None:
    p, s, m = medians(runs["postgresql"]), medians(runs["sqlite"]), medians(runs["memory"])
    ratio, ratio_b = p["wall"] / s["wall"], p["batch"] / s["batch"]
    ctx.rows.append(Row(f"2 PostgreSQL vs SQLite, {n:,} execs, 16 threads: pytest wall", fmt_s(p["wall"]),
                        fmt_s(s["wall"]), f"{ratio:.2f}x", "<= 2x", verdict(ratio <= 2)))
    ctx.rows.append(Row("2   same, batch only (submit -> last result)", fmt_s(p["batch"]), fmt_s(s["batch"]),
                        f"{ratio_b:.2f}x", "<= 2x", verdict(ratio_b <= 2)))
    for what, x, key, base in (("2 PostgreSQL per-exec overhead over InMemorySaver loop (whole process)", p, "wall",
                                "wall"),
                               ("2   same, batch vs the loop alone", p, "batch", "loop"),
                               ("2   SQLite per-exec overhead over InMemorySaver loop (whole process)", s, "wall",
                                "wall")):
        ctx.rows.append(Row(what, fmt_s(x[key]), fmt_s(m[base]), f"{(x[key] - m[base]) / n * 1000:+.2f} ms/exec",
                            "(report)", "-"))
    conns = max(r["peak_connections"] for r in runs["postgresql"])
    ctx.rows.append(Row("2 PostgreSQL connections at peak (pg_stat_activity, max of runs)", str(conns),
                        "13 (README: 8 checkpoint + 5 results)", "-", "<= 13", verdict(conns <= 13)))


FAMILY = Family("postgres", "postgres", "issue 4: the PostgreSQL store against SQLite", __doc__ or "", run,
                opts=EXTENDED_OPTS, packages=("langgraph-checkpoint-postgres", "psycopg"))

if __name__ == "__main__":
    main(FAMILY)
