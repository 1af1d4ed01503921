"""Issue 5: prefix sharing on and off (measurement 3 of the former benchmarks/extended.py).

    python -m benchmarks.prefix                       # 3 repetitions, medians
    python -m benchmarks.prefix --quick               # 10 cases, 1 repetition (a smoke run)
    python -m benchmarks.prefix --prefix-sleep-ms 500 # slower upstream nodes

A 4-node graph whose first three nodes sleep 50 ms, 5 variants (a baseline and 4 ``with_nodes``
replacing only the last node), 40 cases, ``--wtb-workers=16``, with and without
``--wtb-no-share-prefix``; node executions counted by the nodes themselves (an O_APPEND file) and from
the store's nodes_json.
"""

from __future__ import annotations

import argparse
import uuid
from collections import Counter
from typing import Any

from benchmarks.common.cli import Ctx, Family, main
from benchmarks.common.ext_files import PREFIX_TEST, ext_project
from benchmarks.common.ext_runs import fresh_sqlite, run_plugin
from benchmarks.common.info import log
from benchmarks.common.proc import EXTENDED_OPTS
from benchmarks.common.sampling import cores, fmt_cores
from benchmarks.common.stats import interleave, log_reps, medians
from benchmarks.common.store import store_nodes
from benchmarks.common.table import Row, fmt_s, verdict

BASE_OPTS = ("--wtb-backend=threads", "--wtb-workers=16")
CONFIGS = {"shared": BASE_OPTS, "no-share": (*BASE_OPTS, "--wtb-no-share-prefix")}
N_VARIANTS = 5
UPSTREAM = ("n1", "n2", "n3")


def run(ctx: Ctx) -> None:
    n_cases = ctx.size(40, 10)
    sleep_s = ctx.args.prefix_sleep_ms / 1000
    root = ext_project(ctx.tmp / "prefix", {"test_prefix.py": PREFIX_TEST.format(n_cases=n_cases)}, sleep_s=sleep_s)
    n_items = N_VARIANTS * n_cases

    def config(name: str, opts: tuple[str, ...]) -> Any:
        def one() -> dict[str, Any]:
            store = fresh_sqlite(ctx.tmp)
            counter = ctx.tmp / f"counter-{uuid.uuid4().hex[:6]}"
            r = run_plugin(root, store, n_items, opts, opts=ctx.opts, env={"WTB_BENCH_COUNTER": str(counter)},
                           extra_rows=n_cases if name == "shared" else 0)
            calls = Counter(counter.read_text().split()) if counter.exists() else Counter()
            rows = store_nodes(store)
            r["calls"] = dict(calls)
            r["store_nodes"] = {k: dict(v) for k, v in rows.items()}
            for node in (*UPSTREAM, "n4"):
                r[f"calls_{node}"] = calls[node]
                r[f"store_{node}"] = rows["prefix"][node] + rows["variant"][node]
            return r

        return one

    show = log_reps(dict.fromkeys(CONFIGS, "3 rep {rep} {name:8s}: wall {wall:.2f}s batch {batch:.2f}s calls {calls} "
                                          "rows {rows} steal {steal_pct:.0f}%"))

    log("warm-up (discarded): one run with prefix sharing")
    run_plugin(root, fresh_sqlite(ctx.tmp), n_items, BASE_OPTS, opts=ctx.opts, extra_rows=n_cases)
    runs = interleave({name: config(name, opts) for name, opts in CONFIGS.items()}, ctx.reps, show)
    ctx.raw["prefix"] = runs | {"n_cases": n_cases}
    sh, ns = medians(runs["shared"]), medians(runs["no-share"])
    up_sh = max(sh[f"calls_{x}"] for x in UPSTREAM)
    up_ns = max(ns[f"calls_{x}"] for x in UPSTREAM)
    ctx.rows.append(Row(
        f"3 Prefix sharing: executions of each upstream node (n1/n2/n3), {N_VARIANTS} variants x {n_cases} cases",
        "/".join(f"{sh[f'calls_{x}']:.0f}" for x in UPSTREAM), "/".join(f"{ns[f'calls_{x}']:.0f}" for x in UPSTREAM),
        f"{up_ns / up_sh:.1f}x fewer" if up_sh else "-", f"= cases ({n_cases})", verdict(up_sh == n_cases)))
    ctx.rows.append(Row("3   same, read from the store's nodes_json (n1/n2/n3/n4)",
                        "/".join(f"{sh[f'store_{x}']:.0f}" for x in (*UPSTREAM, "n4")),
                        "/".join(f"{ns[f'store_{x}']:.0f}" for x in (*UPSTREAM, "n4")),
                        "-", f"= {n_cases}/{n_cases}/{n_cases}/{n_items}",
                        verdict(all(sh[f"store_{x}"] == n_cases for x in UPSTREAM))))
    speed, speed_b = ns["wall"] / sh["wall"], ns["batch"] / sh["batch"]
    ctx.rows.append(Row("3 Prefix sharing: pytest wall", fmt_s(sh["wall"]), fmt_s(ns["wall"]),
                        f"{speed:.2f}x faster", ">= 3x", verdict(speed >= 3)))
    ctx.rows.append(Row("3   same, batch only (submit -> last result)", fmt_s(sh["batch"]), fmt_s(ns["batch"]),
                        f"{speed_b:.2f}x faster", ">= 3x", verdict(speed_b >= 3)))
    ideal_sh = -(-n_cases // 16) * 3 * sleep_s
    ideal_ns = -(-n_items // 16) * 3 * sleep_s
    ctx.notes.append(
        f"3: ideal batch (sleeps only, 16 workers): shared {ideal_sh:.2f}s, no-share {ideal_ns:.2f}s "
        f"({ideal_ns / ideal_sh:.1f}x). Fixed cost outside the batch (interpreter, imports, collection, "
        f"session end): shared {sh['wall'] - sh['batch']:.2f}s, no-share {ns['wall'] - ns['batch']:.2f}s. "
        f"Store rows: shared {sh['rows']:.0f} (incl. {n_cases} '(shared-prefix)'), no-share {ns['rows']:.0f}. "
        f"CPU of the pytest process in the test loop: shared {sh['loop_cpu']:.2f}s "
        f"({sh['loop_cpu'] / sh['rows'] * 1000:.1f} ms per execution row), no-share {ns['loop_cpu']:.2f}s "
        f"({ns['loop_cpu'] / ns['rows'] * 1000:.1f} ms per row). Cores during the execution span: shared: "
        f"{fmt_cores(cores(runs['shared']))}; no-share: {fmt_cores(cores(runs['no-share']))}."
    )


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--prefix-sleep-ms", type=float, default=50.0,
                    help="how long each of the three upstream nodes sleeps (default 50, the issue's)")


FAMILY = Family("prefix", "prefix", "issue 5: prefix sharing on and off", __doc__ or "", run, opts=EXTENDED_OPTS,
                add_args=add_args)

if __name__ == "__main__":
    main(FAMILY)
