"""Issue 13: repetitions are ordinary executions of the one batch, and the gate's statistics are cheap.

    python -m benchmarks.repeats [--reps 3] [--cases 20] [--repeat 10]

(1) 20 cases x @wtb.repeat(10) x 3 variants (600 executions) whose node awaits 250 ms, against the same
600 executions declared as 200 independent cases x 3 variants: batch wall (first start to last end,
from the store) and pytest wall, medians of interleaved runs. Goal: the repeated suite takes no longer.
(2) verdict.stats.paired_gate on 10,000 pairs, pass/fail and numeric scores. Goal: under 1 s each.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common.threads_sampling import batch_span

GRAPH = '''
import asyncio
from typing import TypedDict

from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb


class S(TypedDict, total=False):
    x: int
    y: int


async def llm(state):
    await asyncio.sleep(0.25)
    return {"y": state["x"] + 1}


def build():
    g = StateGraph(S)
    g.add_node("llm", llm)
    g.add_edge(START, "llm")
    g.add_edge("llm", END)
    return g


@wtb.variant(baseline=True)
def a():
    return build()


@wtb.variant
def b():
    return build()


@wtb.variant
def c():
    return build()
'''


def write_projects(root: Path, cases: int, k: int) -> dict[str, Path]:
    repeated = root / "repeated"
    independent = root / "independent"
    for p in (repeated, independent):
        p.mkdir()
        (p / "conftest.py").write_text("")
    (repeated / "test_r.py").write_text(GRAPH + f'''

@wtb.repeat({k})
@wtb.cases({{f"c{{i}}": {{"x": i}} for i in range({cases})}})
def test_r(wtb_run):
    assert wtb_run.state["y"] == wtb_run.input["x"] + 1
''')
    (independent / "test_i.py").write_text(GRAPH + f'''

@wtb.cases({{f"c{{i}}": {{"x": i}} for i in range({cases * k})}})
def test_i(wtb_run):
    assert wtb_run.state["y"] == wtb_run.input["x"] + 1
''')
    return {"repeated": repeated, "independent": independent}


def run(project: Path, executions: int) -> dict[str, float]:
    db = project / f"wtb-{time.monotonic_ns()}.db"
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--wtb-store",
                           f"sqlite:///{db}"], cwd=project, capture_output=True, text=True, timeout=900, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed in {project}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    span = batch_span(db)
    if span["succeeded"] != executions:
        raise SystemExit(f"{project}: {span['succeeded']} executions succeeded, expected {executions}")
    return {"wall": wall, "batch": span["last_end"] - span["first_start"]}


def gate_timing() -> dict[str, float]:
    from pytest_wtb.verdict.stats import paired_gate

    rng = random.Random(7)
    base_b = [rng.random() < 0.8 for _ in range(10_000)]
    other_b = [rng.random() < 0.78 for _ in range(10_000)]
    base_n = [rng.gauss(0.7, 0.1) for _ in range(10_000)]
    other_n = [x + rng.gauss(-0.005, 0.05) for x in base_n]
    paired_gate(base_b[:20], other_b[:20])  # scipy's import is not the gate's cost
    paired_gate(base_n[:20], other_n[:20])
    timings: dict[str, float] = {}
    for name, (b, o) in {"pass/fail": (base_b, other_b), "numeric": (base_n, other_n)}.items():
        t = []
        for _ in range(3):
            t0 = time.perf_counter()
            paired_gate(b, o)
            t.append(time.perf_counter() - t0)
        timings[name] = statistics.median(t)
    return timings


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.repeats", description=__doc__)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    executions = args.cases * args.repeat * 3
    with tempfile.TemporaryDirectory(prefix="wtb-bench-repeats-") as tmp:
        projects = write_projects(Path(tmp), args.cases, args.repeat)
        for p in projects.values():  # warm-up, discarded
            run(p, executions)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in projects}
        for _ in range(args.reps):
            for name, p in projects.items():
                runs[name].append(run(p, executions))
    med = {name: {k: statistics.median(r[k] for r in rs) for k in ("wall", "batch")} for name, rs in runs.items()}
    rep, ind = med["repeated"], med["independent"]
    gate = gate_timing()
    print(f"pytest-wtb benchmarks: repeats, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, medians of "
          f"{args.reps} interleaved runs")
    print("| measurement | plugin | baseline | ratio | goal | met? |")
    print("|---|---|---|---|---|---|")
    for what in ("batch", "wall"):
        ratio = rep[what] / ind[what]
        print(f"| {args.cases} cases x repeat({args.repeat}) x 3 variants vs {executions} independent executions, "
              f"{what} | {rep[what]:.2f} s | {ind[what]:.2f} s | {ratio:.2f} | <= 1 (noise) | "
              f"{'yes' if ratio <= 1.05 else 'NO'} |")
    for name, seconds in gate.items():
        print(f"| paired_gate on 10,000 {name} pairs | {seconds * 1000:.0f} ms | - | - | < 1 s | "
              f"{'yes' if seconds < 1 else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
