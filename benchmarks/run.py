#!/usr/bin/env python
"""pytest-wtb benchmarks: the plugin against what people write by hand.

Run on demand, never collected by pytest (all test files are generated into a temp dir):

    .venv/bin/python benchmarks/run.py                 # everything, 3 repetitions, prints the table
    .venv/bin/python benchmarks/run.py --only 1,2      # a subset
    .venv/bin/python benchmarks/run.py --reps 5 --json /tmp/wtb-bench.json

Measurements (every one is a fresh subprocess with a fresh SQLite file; medians over --reps,
after one discarded warm-up run of each configuration):

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
import datetime as dt
import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PY = sys.executable
HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# --------------------------------------------------------------------------------------------
# generated files (written into a temp dir, never under the repository)
# --------------------------------------------------------------------------------------------

GRAPH_MODULE = '''\
"""A trivial 3-node graph: a -> b -> c. Node b optionally sleeps (a stand-in for an LLM call)."""
import time
from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    x: int
    y: int
    done: bool


def build(k, sleep_s=0.0):
    def a(s):
        return {"y": s["x"] + k}

    def b(s):
        if sleep_s:
            time.sleep(sleep_s)
        return {"y": s["y"] * 2}

    def c(s):
        return {"done": True}

    g = StateGraph(State)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_node("c", c)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    g.add_edge("c", END)
    return g
'''

WTB_TEST_MODULE = """\
import pytest_wtb as wtb

from benchgraph import build

N_VARIANTS = {n_variants}
N_CASES = {n_cases}
SLEEP_S = {sleep_s!r}


def _factory(k):
    def factory():
        return build(k, SLEEP_S)

    return factory


for _k in range(N_VARIANTS):
    globals()[f"v{{_k}}"] = wtb.variant(name=f"v{{_k}}", baseline=_k == 0)(_factory(_k))


@wtb.cases({{f"c{{i}}": {{"x": i}} for i in range(N_CASES)}})
def test_bench(wtb_run):
    assert wtb_run.state["done"] is True
    assert wtb_run.state["y"] == (wtb_run.input["x"] + int(wtb_run.variant[1:])) * 2
"""

PARAM_TEST_MODULE = '''\
"""The same tests without the plugin: plain parametrize, one graph.invoke per test."""
import os
import sqlite3

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver

from benchgraph import build

N_VARIANTS = {n_variants}
N_CASES = {n_cases}
SLEEP_S = {sleep_s!r}

# one saver per xdist worker process (a file per worker: two processes switching one new file to
# WAL at the same moment can report "database is locked")
_DB = os.environ["WTB_BENCH_PARAM_DB"] + "." + os.environ.get("PYTEST_XDIST_WORKER", "main")
_saver = SqliteSaver(sqlite3.connect(_DB, check_same_thread=False, timeout=30))
_graphs = {{}}


def _graph(k):
    if k not in _graphs:
        _graphs[k] = build(k, SLEEP_S).compile(checkpointer=_saver)
    return _graphs[k]


@pytest.mark.parametrize(
    "k,i",
    [(k, i) for k in range(N_VARIANTS) for i in range(N_CASES)],
    ids=[f"v{{k}}-c{{i}}" for k in range(N_VARIANTS) for i in range(N_CASES)],
)
def test_param(k, i):
    out = _graph(k).invoke({{"x": i}}, {{"configurable": {{"thread_id": f"p-{{k}}-{{i}}"}}}}, durability="sync")
    assert out["done"] is True
'''

NOOP_PARAM_MODULE = '''\
"""pytest alone: the same number of items, parametrized, doing nothing (no graph, no plugin items)."""
import pytest


@pytest.mark.parametrize("i", range({n_cases}))
@pytest.mark.parametrize("k", range({n_variants}))
def test_noop(k, i):
    assert k >= 0 and i >= 0
'''

HANDWRITTEN_SCRIPT = '''\
"""The typical hand-written version: one shared SqliteSaver, a ThreadPoolExecutor, graph.invoke.

saver modes: shared (the typical one, default), perthread (what pytest-wtb does: a connection and
saver per worker thread, WAL + synchronous=NORMAL), memory (InMemorySaver: LangGraph's own cost).
"""
import json
import sqlite3
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from benchgraph import build


def _conn(db):
    conn = sqlite3.connect(db, check_same_thread=False, timeout=30)
    for pragma in ("journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def main(db, n_variants, n_cases, sleep_s, workers, mode="shared"):
    t0 = time.perf_counter()
    c0 = time.process_time()
    jobs = [(k, i) for k in range(n_variants) for i in range(n_cases)]
    if mode == "perthread":
        SqliteSaver(_conn(db)).setup()
        local = threading.local()

        def graph(k):
            if not hasattr(local, "graphs"):
                saver = SqliteSaver(_conn(db))
                local.graphs = [build(j, sleep_s).compile(checkpointer=saver) for j in range(n_variants)]
            return local.graphs[k]
    else:
        saver = InMemorySaver() if mode == "memory" else SqliteSaver(sqlite3.connect(db, check_same_thread=False))
        graphs = [build(k, sleep_s).compile(checkpointer=saver) for k in range(n_variants)]

        def graph(k):
            return graphs[k]

    def run(job):
        k, i = job
        cfg = {"configurable": {"thread_id": f"hw-{k}-{i}"}}
        out = graph(k).invoke({"x": i}, cfg, durability="sync")
        assert out["done"] is True
        return out

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(run, jobs))
    loop_s = time.perf_counter() - t0
    loop_cpu_s = time.process_time() - c0
    assert len(results) == len(jobs)
    print(json.dumps({"loop_s": loop_s, "loop_cpu_s": loop_cpu_s, "n": len(results)}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), *sys.argv[6:])
'''

# Timestamps of pytest's phases, written to $WTB_BENCH_TIMES. tryfirst hookwrappers are outermost,
# so loop_start is taken before pytest-wtb's own runtestloop wrapper submits the batch.
TIMING_CONFTEST = """\
import json
import os
import time

import pytest

_T = {"conftest_import": time.time()}


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_collection(session):
    _T["collect_start"] = time.time()
    yield
    _T["collect_end"] = time.time()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtestloop(session):
    _T["loop_start"] = time.time()
    _T["loop_cpu_start"] = time.process_time()
    yield
    _T["loop_end"] = time.time()
    _T["loop_cpu_end"] = time.process_time()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    _T["sessionfinish_start"] = time.time()


@pytest.hookimpl(tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    _T["summary_start"] = time.time()


# --wtb-backend=bench-noop: executions "finish" at once with the state the real graph would give,
# so a run measures pytest + pytest-wtb (planning, store writes, items, reporting) without LangGraph.
try:
    from pytest_wtb import Backend, ExecutionResult
except ImportError:  # the plugin's API moved: the no-op measurement is skipped
    Backend = None

if Backend is not None:

    class NoopBackend(Backend):
        name = "bench-noop"

        @property
        def capacity(self):
            return 16

        def start(self, context):
            pass

        def submit(self, spec, done):
            x = spec.input["x"]
            if spec.variant_name.startswith("v"):
                state = {"x": x, "y": (x + int(spec.variant_name[1:])) * 2, "done": True}
            else:  # a shared-prefix execution stops before the first differing node
                state = {"x": x}
            done(ExecutionResult(key=spec.key, thread_id=spec.thread_id, variant=spec.variant_name,
                                 case_id=spec.case_id, status="succeeded", state=state, backend=self.name,
                                 started_at=time.time()))

        def close(self):
            pass

    @pytest.hookimpl(optionalhook=True)  # optional: plain runs use -p no:wtb
    def pytest_wtb_make_backend(config, name):
        return NoopBackend() if name == "bench-noop" else None


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    _T["unconfigure"] = time.time()
    path = os.environ.get("WTB_BENCH_TIMES")
    if path:
        with open(path, "w") as fh:
            json.dump(_T, fh)
"""

INI = "[pytest]\n# generated by benchmarks/run.py; pins rootdir to this temp dir\n"


def write_project(root: Path, test_module: str | None, name: str, *, conftest: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text(INI)
    (root / "benchgraph.py").write_text(GRAPH_MODULE)
    (root / "handwritten.py").write_text(HANDWRITTEN_SCRIPT)
    if conftest:
        (root / "conftest.py").write_text(TIMING_CONFTEST)
    if test_module is not None:
        (root / name).write_text(test_module)
    return root


# --------------------------------------------------------------------------------------------
# running things
# --------------------------------------------------------------------------------------------


@dataclass
class Proc:
    wall_s: float
    rc: int
    out: str
    maxrss_mb: float
    cpu_s: float  # user + system CPU of the process (and the children it reaped)
    times: dict[str, float] = field(default_factory=dict)
    t0: float = 0.0


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "WTB_"))}
    env.update(extra)
    return env


STEAL: list[float] = []  # % of CPU time the hypervisor took from this VM during each measured command


def cpu_ticks() -> tuple[int, int]:
    """(steal, total) jiffies from /proc/stat: a VM whose host is busy loses CPU time it cannot see."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def run_proc(cmd: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> Proc:
    """Wall time and peak RSS (wait4's rusage: this child and the children it reaped) of one command."""
    times_path = cwd / f".times-{time.monotonic_ns()}.json"
    env = clean_env({"WTB_BENCH_TIMES": str(times_path), **(extra_env or {})})
    steal0, total0 = cpu_ticks()
    with tempfile.TemporaryFile() as out:
        t0_epoch = time.time()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    times: dict[str, float] = {}
    if times_path.exists():
        times = json.loads(times_path.read_text())
        times_path.unlink()
    steal1, total1 = cpu_ticks()
    if total1 > total0:
        STEAL.append(100.0 * (steal1 - steal0) / (total1 - total0))
    cpu = usage.ru_utime + usage.ru_stime
    return Proc(wall, p.returncode, text, usage.ru_maxrss / 1024, cpu, times, t0_epoch)


def require_ok(proc: Proc, what: str, expect: str | None = None) -> None:
    if proc.rc != 0 or (expect is not None and expect not in proc.out):
        tail = "\n".join(proc.out.strip().splitlines()[-25:])
        raise SystemExit(f"benchmark step failed: {what} (exit {proc.rc}, expected {expect!r})\n{tail}")


def store_span(db: Path) -> dict[str, float]:
    """First start, last end and counts of the executions the plugin recorded in a fresh store.

    ``extra``: rows that are not a (variant, case) execution, e.g. shared-prefix executions
    (variant "(shared-prefix)") that pytest-wtb may add when variants share a graph prefix.
    """
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            "SELECT min(started_at), max(ended_at), count(*),"
            " sum(status = 'succeeded' AND variant NOT LIKE '(%')"
            " FROM wtb_executions"
        ).fetchone()
    finally:
        conn.close()
    return {"first_start": row[0], "last_end": row[1], "count": row[2], "succeeded": row[3] or 0}


def pytest_cmd(target: str, *extra: str) -> list[str]:
    return [PY, "-m", "pytest", target, "-q", "-p", "no:cacheprovider", *extra]


def run_wtb(project: Path, n_items: int, workers: int, extra: tuple[str, ...] = ()) -> dict[str, float]:
    """One plugin run on a fresh store; phase times from the conftest and the store."""
    store_dir = Path(tempfile.mkdtemp(prefix="store-", dir=project))
    db = store_dir / "wtb.db"
    cmd = pytest_cmd(".", f"--wtb-store=sqlite:///{db}", f"--wtb-workers={workers}", *extra)
    proc = run_proc(cmd, project)
    require_ok(proc, " ".join(cmd), f"{n_items} passed")
    span = store_span(db)
    if span["succeeded"] != n_items:
        print(f"  WARNING: expected {n_items} succeeded executions in the store, found {span}", flush=True)
    t = proc.times
    res = {
        "wall": proc.wall_s,
        "cpu": proc.cpu_s,
        "maxrss_mb": proc.maxrss_mb,
        "startup": t["collect_start"] - proc.t0,
        "collect": t["collect_end"] - t["collect_start"],
        "batch": span["last_end"] - t["loop_start"],  # submit (incl. store open) -> last result
        "exec_span": span["last_end"] - span["first_start"],  # first execution start -> last end
        "to_first_exec": span["first_start"] - t["loop_start"],  # store open, schema, claims before the 1st
        "loop": t["loop_end"] - t["loop_start"],
        "loop_cpu": t["loop_cpu_end"] - t["loop_cpu_start"],  # CPU of the whole process during the loop
        "tail": t["loop_end"] - span["last_end"],  # items still reported after the last result
        "finish": proc.t0 + proc.wall_s - t["loop_end"],  # everything after the test loop
        "sessionfinish": t["summary_start"] - t["sessionfinish_start"],  # incl. pytest-wtb's finish()
        "exit": proc.t0 + proc.wall_s - t["unconfigure"],  # interpreter shutdown
        "extra_execs": span["count"] - span["succeeded"],  # e.g. shared-prefix executions
    }
    shutil.rmtree(store_dir, ignore_errors=True)
    return res


def run_collect_only(project: Path, n_items: int) -> dict[str, float]:
    proc = run_proc(pytest_cmd(".", "--collect-only"), project)
    require_ok(proc, f"--collect-only in {project}", f"{n_items} test")
    return {
        "wall": proc.wall_s,
        "cpu": proc.cpu_s,
        "maxrss_mb": proc.maxrss_mb,
        "collect": proc.times["collect_end"] - proc.times["collect_start"],
    }


def run_handwritten(
    project: Path, n_variants: int, n_cases: int, sleep_s: float, workers: int, mode: str = "shared"
) -> dict[str, float]:
    store_dir = Path(tempfile.mkdtemp(prefix="hw-", dir=project))
    cmd = [
        PY,
        "handwritten.py",
        str(store_dir / "hw.db"),
        str(n_variants),
        str(n_cases),
        str(sleep_s),
        str(workers),
        mode,
    ]
    proc = run_proc(cmd, project)
    require_ok(proc, " ".join(cmd), '"loop_s"')
    data = json.loads(proc.out.strip().splitlines()[-1])
    shutil.rmtree(store_dir, ignore_errors=True)
    return {
        "wall": proc.wall_s,
        "cpu": proc.cpu_s,
        "loop": data["loop_s"],
        "loop_cpu": data["loop_cpu_s"],
        "maxrss_mb": proc.maxrss_mb,
    }


def run_pytest_floor(project: Path, n_items: int) -> dict[str, float]:
    """pytest with every installed plugin on no-op items: what any pytest run of this size costs."""
    proc = run_proc(pytest_cmd("."), project)
    require_ok(proc, f"pytest in {project}", f"{n_items} passed")
    return {"wall": proc.wall_s, "cpu": proc.cpu_s, "loop": proc.times["loop_end"] - proc.times["loop_start"]}


def run_param(project: Path, n_items: int, xdist: int) -> dict[str, float]:
    store_dir = Path(tempfile.mkdtemp(prefix="param-", dir=project))
    cmd = pytest_cmd(".", "-n", str(xdist))
    proc = run_proc(cmd, project, {"WTB_BENCH_PARAM_DB": str(store_dir / "param.db")})
    require_ok(proc, " ".join(cmd), f"{n_items} passed")
    shutil.rmtree(store_dir, ignore_errors=True)
    return {"wall": proc.wall_s, "cpu": proc.cpu_s, "maxrss_mb": proc.maxrss_mb}


def repeat(fns: dict[str, Any], reps: int, warmup: bool = True) -> dict[str, dict[str, float]]:
    """Median of each field over ``reps`` runs of each configuration, after one discarded warm-up run.

    The configurations are interleaved (A B A B ...) so drifting load from other processes on the
    shared machine hits all of them alike.
    """
    if warmup:
        for fn in fns.values():
            fn()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in fns}
    for i in range(reps):
        for name, fn in fns.items():
            runs[name].append(fn())
            print(f"  {name} #{i + 1}: " + ", ".join(f"{k}={v:.3f}" for k, v in runs[name][-1].items()), flush=True)
    out = {}
    for name, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        med["wall_min"] = min(r["wall"] for r in rs)
        med["wall_max"] = max(r["wall"] for r in rs)
        out[name] = med
    return out


# --------------------------------------------------------------------------------------------
# the three measurements
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    measurement: str
    plugin: str
    baseline: str
    ratio: float | None
    goal: str
    met: bool | None


def fmt_s(x: float) -> str:
    return f"{x:.3f} s"


NO_HYPOTHESIS = ("-p", "no:hypothesispytest")
SCALE = 1.0  # --scale: case counts are multiplied by it


def scaled(n_cases: int) -> int:
    return max(2, round(n_cases * SCALE))


NO_SHARE_PREFIX = "--wtb-no-share-prefix"
NOOP = ("--wtb-backend=bench-noop",)  # the generated conftest's backend: see TIMING_CONFTEST


def plugin_options(cwd: Path) -> str:
    """``pytest --help`` text, to use options only when the plugin under test has them."""
    proc = run_proc([PY, "-m", "pytest", "--help"], cwd)
    return proc.out


def bench_throughput(tmp: Path, reps: int, workers: int) -> tuple[list[Row], dict[str, Any]]:
    nv, nc = 5, scaled(100)
    n = nv * nc
    project = write_project(
        tmp / "b1", WTB_TEST_MODULE.format(n_variants=nv, n_cases=nc, sleep_s=0.0), "test_wtb_bench.py"
    )
    floor = write_project(
        tmp / "b1floor", NOOP_PARAM_MODULE.format(n_variants=nv, n_cases=nc), "test_noop.py"
    )
    print(f"[1] {n} trivial executions, {workers} workers", flush=True)
    configs: dict[str, Any] = {
        "pytest alone, no-op items": lambda: run_pytest_floor(floor, n),
        "plugin": lambda: run_wtb(project, n, workers),
        "plugin, -p no:hypothesispytest": lambda: run_wtb(project, n, workers, NO_HYPOTHESIS),
    }
    if NO_SHARE_PREFIX in plugin_options(project):
        configs[f"plugin, {NO_SHARE_PREFIX}"] = lambda: run_wtb(project, n, workers, (NO_SHARE_PREFIX,))
    r = repeat(
        {
            **configs,
            "hand-written": lambda: run_handwritten(project, nv, nc, 0.0, workers),
            "hand-written, saver per thread": lambda: run_handwritten(project, nv, nc, 0.0, workers, "perthread"),
        },
        reps,
    )
    wtb, wtb_nh, hw = r["plugin"], r["plugin, -p no:hypothesispytest"], r["hand-written"]
    hwp = r["hand-written, saver per thread"]
    rows = [
        Row(
            f"1a. {n} trivial execs, end to end (pytest vs script subprocess)",
            fmt_s(wtb["wall"]),
            fmt_s(hw["wall"]),
            wtb["wall"] / hw["wall"],
            "<= 1.3",
            wtb["wall"] / hw["wall"] <= 1.3,
        ),
        Row(
            "1b. same, pytest -p no:hypothesispytest (info: venv plugin)",
            fmt_s(wtb_nh["wall"]),
            fmt_s(hw["wall"]),
            wtb_nh["wall"] / hw["wall"],
            "info",
            None,
        ),
        Row(
            f"1c. {n} trivial execs, batch vs in-process loop",
            fmt_s(wtb["batch"]),
            fmt_s(hw["loop"]),
            wtb["batch"] / hw["loop"],
            "<= 1.3",
            wtb["batch"] / hw["loop"] <= 1.3,
        ),
        Row(
            "1d. same, CPU s during batch / loop (process_time)",
            fmt_s(wtb["loop_cpu"]),
            fmt_s(hw["loop_cpu"]),
            wtb["loop_cpu"] / hw["loop_cpu"],
            "info",
            None,
        ),
        Row(
            "1e. batch vs loop with a saver per thread, WAL+sync=NORMAL (info)",
            fmt_s(wtb["batch"]),
            fmt_s(hwp["loop"]),
            wtb["batch"] / hwp["loop"],
            "info",
            None,
        ),
        Row(
            "1f. same, CPU s during batch / loop",
            fmt_s(wtb["loop_cpu"]),
            fmt_s(hwp["loop_cpu"]),
            wtb["loop_cpu"] / hwp["loop_cpu"],
            "info",
            None,
        ),
    ]
    fl = r["pytest alone, no-op items"]
    rows += [
        Row(
            f"1g. pytest alone: {n} no-op parametrized items, end to end (same plugins installed)",
            fmt_s(fl["wall"]),
            fmt_s(hw["wall"]),
            fl["wall"] / hw["wall"],
            "info",
            None,
        ),
        Row(
            "1h. plugin minus that pytest floor, vs the script (what pytest-wtb adds)",
            fmt_s(wtb["wall"] - fl["wall"]),
            fmt_s(hw["wall"]),
            (wtb["wall"] - fl["wall"]) / hw["wall"],
            "info",
            None,
        ),
    ]
    nsp = r.get(f"plugin, {NO_SHARE_PREFIX}")
    if nsp is not None:
        rows.insert(
            4,
            Row(
                f"1c'. batch with {NO_SHARE_PREFIX} vs in-process loop",
                fmt_s(nsp["batch"]),
                fmt_s(hw["loop"]),
                nsp["batch"] / hw["loop"],
                "info",
                None,
            ),
        )
    return rows, r


def bench_io(tmp: Path, reps: int, workers: int) -> tuple[list[Row], dict[str, Any]]:
    nv, nc, sleep_s = 2, scaled(100), 0.05
    n = nv * nc
    ideal = math.ceil(n / workers) * sleep_s
    mod = dict(n_variants=nv, n_cases=nc, sleep_s=sleep_s)
    project = write_project(tmp / "b2", WTB_TEST_MODULE.format(**mod), "test_wtb_io.py")
    param_project = write_project(tmp / "b2p", PARAM_TEST_MODULE.format(**mod), "test_param_io.py")
    print(f"[2] {n} executions sleeping {sleep_s * 1000:.0f} ms, {workers} workers, ideal {ideal:.3f} s", flush=True)
    r = repeat(
        {
            "plugin": lambda: run_wtb(project, n, workers),
            "hand-written": lambda: run_handwritten(project, nv, nc, sleep_s, workers),
            "hand-written, InMemorySaver": lambda: run_handwritten(project, nv, nc, sleep_s, workers, "memory"),
            "parametrize -n 2": lambda: run_param(param_project, n, 2),
        },
        reps,
    )
    wtb, hw, hwm, param = r["plugin"], r["hand-written"], r["hand-written, InMemorySaver"], r["parametrize -n 2"]
    rows = [
        Row(
            f"2a. {n} x 50 ms sleep, batch vs ideal ceil({n}/{workers})x50ms",
            fmt_s(wtb["batch"]),
            fmt_s(ideal),
            wtb["batch"] / ideal,
            "<= 1.5",
            wtb["batch"] / ideal <= 1.5,
        ),
        Row(
            "2b. same, hand-written in-process loop vs ideal (info)",
            fmt_s(hw["loop"]),
            fmt_s(ideal),
            hw["loop"] / ideal,
            "info",
            None,
        ),
        Row(
            "2c. same, plugin batch vs hand-written in-process loop",
            fmt_s(wtb["batch"]),
            fmt_s(hw["loop"]),
            wtb["batch"] / hw["loop"],
            "info",
            None,
        ),
        Row(
            "2d. LangGraph floor: hand-written loop with InMemorySaver",
            fmt_s(hwm["loop"]),
            fmt_s(ideal),
            hwm["loop"] / ideal,
            "info",
            None,
        ),
        Row(
            "2e. CPU s during batch / hand-written loop",
            fmt_s(wtb["loop_cpu"]),
            fmt_s(hw["loop_cpu"]),
            wtb["loop_cpu"] / hw["loop_cpu"],
            "info",
            None,
        ),
        Row(
            "2f. end to end: plugin vs parametrize + invoke, pytest -n 2",
            fmt_s(wtb["wall"]),
            fmt_s(param["wall"]),
            wtb["wall"] / param["wall"],
            "<= 0.2 (5x faster)",
            wtb["wall"] / param["wall"] <= 0.2,
        ),
    ]
    return rows, {"ideal": ideal, **r}


PLAIN_TEST = "def test_plain():\n    assert True\n"


def run_plain_collect(project: Path, extra: tuple[str, ...]) -> dict[str, float]:
    proc = run_proc(pytest_cmd(".", "--collect-only", *extra), project)
    require_ok(proc, f"--collect-only {extra} in {project}", "1 test")
    return {"wall": proc.wall_s, "cpu": proc.cpu_s, "maxrss_mb": proc.maxrss_mb}


def bench_overhead(tmp: Path, reps: int, workers: int) -> tuple[list[Row], dict[str, Any]]:
    nv, nc = 10, scaled(1000)
    n = nv * nc
    project = write_project(
        tmp / "b3", WTB_TEST_MODULE.format(n_variants=nv, n_cases=nc, sleep_s=0.0), "test_wtb_many.py"
    )
    small = write_project(
        tmp / "b3s", WTB_TEST_MODULE.format(n_variants=nv, n_cases=1, sleep_s=0.0), "test_wtb_small.py"
    )
    plain = write_project(tmp / "b3p", PLAIN_TEST, "test_plain.py")
    print(f"[3] {n} items ({nv} variants x {nc} cases)", flush=True)
    r0 = repeat(
        {
            "plain test, plugin installed": lambda: run_plain_collect(plain, ()),
            "plain test, -p no:wtb": lambda: run_plain_collect(plain, ("-p", "no:wtb")),
        },
        reps,
    )
    r1 = repeat(
        {
            f"collect-only {nv} items": lambda: run_collect_only(small, nv),
            f"collect-only {n} items": lambda: run_collect_only(project, n),
        },
        reps,
    )
    col_small, col = r1[f"collect-only {nv} items"], r1[f"collect-only {n} items"]
    r2 = repeat(
        {
            f"plugin {n} items": lambda: run_wtb(project, n, workers),
            "hand-written": lambda: run_handwritten(project, nv, nc, 0.0, workers),
        },
        reps,
        warmup=False,
    )
    wtb, hw = r2[f"plugin {n} items"], r2["hand-written"]
    # the same items with executions that cost nothing: pytest + pytest-wtb alone
    noop_cfg = {f"plugin {n} items, no-op backend": lambda: run_wtb(project, n, workers, NOOP)}
    if NO_SHARE_PREFIX in plugin_options(project):
        noop_cfg[f"plugin {n} items, no-op backend, {NO_SHARE_PREFIX}"] = lambda: run_wtb(
            project, n, workers, (*NOOP, NO_SHARE_PREFIX)
        )
    r3 = repeat(noop_cfg, reps, warmup=False)
    with_p, without_p = r0["plain test, plugin installed"], r0["plain test, -p no:wtb"]
    collect_ms = (col["wall"] - col_small["wall"]) / (n - nv) * 1000
    nonexec_ms = (wtb["wall"] - wtb["exec_span"]) / n * 1000
    marginal_ms = (wtb["wall"] - wtb["exec_span"] - col_small["wall"]) / n * 1000
    over_hw_ms = (wtb["wall"] - hw["wall"]) / n * 1000
    rows = [
        Row(
            f"3a. collection per item ({n} vs {nv} items, --collect-only)",
            f"{collect_ms:.3f} ms",
            "-",
            None,
            "info",
            None,
        ),
        Row(
            f"3b. non-execution time per item, (wall - exec span)/{n}",
            f"{nonexec_ms:.3f} ms",
            "-",
            None,
            "<= 1 ms",
            nonexec_ms <= 1.0,
        ),
        Row(
            f"3c. same, minus fixed start-up ({nv}-item --collect-only wall)",
            f"{marginal_ms:.3f} ms",
            "-",
            None,
            "info",
            None,
        ),
        Row("3d. end to end minus hand-written script, per item", f"{over_hw_ms:.3f} ms", "-", None, "info", None),
        Row(
            f"3e. end to end wall, {n} items vs hand-written script",
            fmt_s(wtb["wall"]),
            fmt_s(hw["wall"]),
            wtb["wall"] / hw["wall"],
            "info",
            None,
        ),
        Row(
            f"3f. peak RSS of pytest, {n} items (baseline: hand-written)",
            f"{wtb['maxrss_mb']:.0f} MB",
            f"{hw['maxrss_mb']:.0f} MB",
            wtb["maxrss_mb"] / hw["maxrss_mb"],
            "info",
            None,
        ),
        Row(
            f"3g. peak RSS of pytest --collect-only, {n} items (baseline: {nv})",
            f"{col['maxrss_mb']:.0f} MB",
            f"{col_small['maxrss_mb']:.0f} MB",
            col["maxrss_mb"] / col_small["maxrss_mb"],
            "info",
            None,
        ),
        Row(
            "3h. start-up tax on a plain pytest run (plugin vs -p no:wtb)",
            fmt_s(with_p["wall"]),
            fmt_s(without_p["wall"]),
            with_p["wall"] / without_p["wall"],
            "info",
            None,
        ),
    ]
    for letter, (name, d) in zip("ij", r3.items(), strict=False):
        per_item = (d["wall"] - col_small["wall"]) / n * 1000
        label = name.removeprefix(f"plugin {n} items, ")
        rows.append(
            Row(
                f"3{letter}. {label}: (wall - {nv}-item collect-only)/{n}",
                f"{per_item:.3f} ms",
                "-",
                None,
                "info (vs 1 ms)",
                None,
            )
        )
    extra = {
        **r0,
        **r1,
        **r2,
        **r3,
        "collect_ms_per_item": collect_ms,
        "nonexec_ms_per_item": nonexec_ms,
        "marginal_ms_per_item": marginal_ms,
        "over_handwritten_ms_per_item": over_hw_ms,
    }
    return rows, extra


# --------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    head = ("measurement", "plugin", "baseline", "ratio", "goal", "met?")
    body = [
        (
            r.measurement,
            r.plugin,
            r.baseline,
            "-" if r.ratio is None else f"{r.ratio:.2f}",
            r.goal,
            "-" if r.met is None else ("yes" if r.met else "NO"),
        )
        for r in rows
    ]
    widths = [max(len(str(x[i])) for x in (head, *body)) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, *(line(b) for b in body)])


def phases(name: str, d: dict[str, float]) -> str:
    return f"{name}: " + ", ".join(f"{k}={v:.3f}" for k, v in d.items())


def machine() -> str:
    try:
        load = "load avg {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "load avg n/a"
    return f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, {load}"


def git_state() -> str:
    """Read-only: which plugin code was measured (HEAD, pytest_wtb/'s tree hash, uncommitted changes)."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "?"
    tree = git("rev-parse", "--short", "HEAD:pytest_wtb") or "?"
    dirty = git("status", "--porcelain", "--", "pytest_wtb")
    changes = f" + {len(dirty.splitlines())} uncommitted change(s)" if dirty else ""
    return f"git {head} (pytest_wtb tree {tree}{changes})"


def versions() -> str:
    from importlib.metadata import version

    names = ("pytest", "pytest-xdist", "langgraph", "langgraph-checkpoint-sqlite", "pytest-wtb")
    out = []
    for name in names:
        try:
            out.append(f"{name} {version(name)}")
        except Exception:
            out.append(f"{name} ?")
    return ", ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3, help="measured repetitions per configuration (median)")
    ap.add_argument("--workers", type=int, default=16, help="--wtb-workers and the hand-written pool size")
    ap.add_argument("--only", default="1,2,3", help="comma-separated subset of 1,2,3")
    ap.add_argument("--json", type=Path, help="also write all raw medians to this file")
    ap.add_argument("--keep", action="store_true", help="keep the generated temp dir")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply case counts (smoke tests: 0.05)")
    args = ap.parse_args()
    if args.reps < 1:
        ap.error("--reps must be >= 1")
    global SCALE
    SCALE = args.scale
    only = {s.strip() for s in args.only.split(",")}

    tmp = Path(tempfile.mkdtemp(prefix="wtb-bench-"))
    started = dt.datetime.now().astimezone()
    print(f"generated projects in {tmp}\n{machine()}\n{versions()}\n{git_state()}", flush=True)
    rows: list[Row] = []
    raw: dict[str, Any] = {
        "machine_start": machine(),
        "versions": versions(),
        "git": git_state(),
        "reps": args.reps,
        "workers": args.workers,
        "started": started.isoformat(timespec="seconds"),
    }
    try:
        for key, fn in (("1", bench_throughput), ("2", bench_io), ("3", bench_overhead)):
            if key in only:
                r, extra = fn(tmp, args.reps, args.workers)
                rows += r
                raw[key] = extra
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    raw["machine_end"] = machine()
    raw["git_end"] = git_state()
    if raw["git_end"].partition(" (")[2] != raw["git"].partition(" (")[2]:
        print(f"WARNING: pytest_wtb/ changed during the run: {raw['git']} -> {raw['git_end']}")

    print()
    print(
        f"pytest-wtb benchmarks, {started:%Y-%m-%d %H:%M %Z}, medians of {args.reps} runs, --wtb-workers={args.workers}"
    )
    print(table(rows))
    print()
    for key in ("1", "2", "3"):
        if key in raw:
            for name, d in raw[key].items():
                if isinstance(d, dict):
                    print(phases(f"[{key}] {name}", d))
    print(f"\n{raw['machine_end']}")
    if STEAL:
        raw["steal_pct"] = STEAL
        print(f"CPU steal (time the hypervisor gave to other VMs) during the measured commands: median "
              f"{statistics.median(STEAL):.0f}%, max {max(STEAL):.0f}% (0% on a machine of one's own)")
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2, default=str))


if __name__ == "__main__":
    main()
