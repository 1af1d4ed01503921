#!/usr/bin/env python
"""pytest-wtb extended benchmarks: the Ray backend, the PostgreSQL store and prefix sharing.

Run on demand, never collected by pytest (every test file is generated into a temp dir):

    .venv/bin/python benchmarks/extended.py            # everything, 3 repetitions, medians
    .venv/bin/python benchmarks/extended.py --quick    # small sizes, 1 repetition (a smoke run)
    .venv/bin/python benchmarks/extended.py --only 1,3 --reps 5 --json /tmp/ext.json

Every plugin measurement is a fresh ``python -m pytest`` subprocess on a fresh store, as a user
runs it; phase times come from a generated conftest (hook timestamps, ray.init time, the driver's
own peak RSS) and from the store's execution rows (first start, last end, nodes_json).

1. Ray (issue 3). (a) CPU-bound: a 3-node graph whose middle node burns ~20 ms of pure-Python
   CPU (calibrated here with time.process_time), 80 executions, ``--wtb-backend=threads`` (16
   threads) vs ``--wtb-backend=ray --wtb-workers=2``; "once started" is the execution span
   (first execution start -> last execution end, from the store). Ray start-up is reported on its
   own: ray.init (including ``import ray``) and the extra time to the first execution start.
   (b) 400 trivial executions: overhead per execution = (ray wall - ray fixed cost - threads
   wall) / N, fixed cost = extra time to first execution start + ray shutdown. (c) 10,000
   trivial executions on ray: peak RSS of the pytest process (its own getrusage(RUSAGE_SELF),
   and wait4's rusage, which also covers reaped Ray daemons) and of its whole process tree.
2. PostgreSQL (issue 4): 1,000 executions of a 3-node graph, threads at 16 workers, into a
   throwaway PostgreSQL database vs a SQLite file; per-execution overhead over a hand-written
   ThreadPoolExecutor loop with InMemorySaver on the same graph; the peak number of connections
   (pg_stat_activity for that database, polled every 20 ms from a side thread).
3. Prefix sharing (issue 5): a 4-node graph whose first three nodes sleep 50 ms, 5 variants
   (a baseline and 4 ``with_nodes`` replacing only the last node), 40 cases, ``--wtb-workers=16``,
   with and without ``--wtb-no-share-prefix``; node executions counted by the nodes themselves
   (an O_APPEND file) and from the store's nodes_json.

``main(argv)`` returns 0 when every measurement ran (goals met or not); run.py may call it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PY = sys.executable
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))  # run.py beside this file, whatever the working directory
from run import cpu_ticks  # noqa: E402  (the steal reading both scripts report)

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_BASE = "postgresql://postgres@127.0.0.1:5432/"
RUN_TIMEOUT_S = 1800

# --------------------------------------------------------------------------------------------
# generated files
# --------------------------------------------------------------------------------------------

GRAPHS_MODULE = '''\
"""Graphs for benchmarks/extended.py (generated)."""
import os
import time
from typing import TypedDict

from langgraph.graph import END, START, StateGraph

CPU_ITERS = {cpu_iters}
SLEEP_S = {sleep_s!r}


class State(TypedDict, total=False):
    x: int
    y: int
    z: str
    done: bool


def _chain(g, names):
    g.add_edge(START, names[0])
    for a, b in zip(names, names[1:]):
        g.add_edge(a, b)
    g.add_edge(names[-1], END)
    return g


def burn(n):
    """Pure-Python CPU work, holding the GIL the whole time."""
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) & 0xFFFFFFFF
    return acc


def build_cpu():
    """prep -> crunch (~20 ms of CPU) -> finish."""
    def prep(s):
        return {{"y": s["x"]}}

    def crunch(s):
        return {{"y": s["y"] + burn(CPU_ITERS) % 7}}

    def finish(s):
        return {{"done": True}}

    g = StateGraph(State)
    for name, fn in (("prep", prep), ("crunch", crunch), ("finish", finish)):
        g.add_node(name, fn)
    return _chain(g, ["prep", "crunch", "finish"])


def build_triv(k):
    """A trivial 3-node graph a -> b -> c (k makes each variant's graph its own)."""
    def a(s):
        return {{"y": s["x"] + k}}

    def b(s):
        return {{"y": s["y"] * 2}}

    def c(s):
        return {{"done": True}}

    g = StateGraph(State)
    for name, fn in (("a", a), ("b", b), ("c", c)):
        g.add_node(name, fn)
    return _chain(g, ["a", "b", "c"])


def _count(node):
    """One line per node call, appended atomically (O_APPEND, one write) by any thread or process."""
    path = os.environ.get("WTB_BENCH_COUNTER")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (node + "\\n").encode())
        finally:
            os.close(fd)


def build_prefix():
    """n1 -> n2 -> n3 (SLEEP_S each, a stand-in for LLM calls) -> n4 (cheap, the node variants replace)."""
    def n1(s):
        _count("n1")
        time.sleep(SLEEP_S)
        return {{"y": s["x"] + 1}}

    def n2(s):
        _count("n2")
        time.sleep(SLEEP_S)
        return {{"y": s["y"] + 1}}

    def n3(s):
        _count("n3")
        time.sleep(SLEEP_S)
        return {{"y": s["y"] + 1}}

    def n4(s):
        _count("n4")
        return {{"z": "v0", "done": True}}

    g = StateGraph(State)
    for name, fn in (("n1", n1), ("n2", n2), ("n3", n3), ("n4", n4)):
        g.add_node(name, fn)
    return _chain(g, ["n1", "n2", "n3", "n4"])


def n4_v1(s):
    _count("n4")
    return {{"z": "v1", "done": True}}


def n4_v2(s):
    _count("n4")
    return {{"z": "v2", "done": True}}


def n4_v3(s):
    _count("n4")
    return {{"z": "v3", "done": True}}


def n4_v4(s):
    _count("n4")
    return {{"z": "v4", "done": True}}
'''

CPU_TEST = """\
import pytest_wtb as wtb

from xgraphs import build_cpu

N_CASES = {n_cases}


@wtb.variant(name="cpu")
def cpu():
    return build_cpu()


@wtb.cases({{f"c{{i}}": {{"x": i}} for i in range(N_CASES)}})
def test_cpu(wtb_run):
    assert wtb_run.state["done"] is True
"""

TRIV_TEST = """\
import pytest_wtb as wtb

from xgraphs import build_triv

N_VARIANTS = {n_variants}
N_CASES = {n_cases}


def _factory(k):
    def factory():
        return build_triv(k)

    return factory


for _k in range(N_VARIANTS):
    globals()[f"v{{_k}}"] = wtb.variant(name=f"v{{_k}}")(_factory(_k))


@wtb.cases({{f"c{{i}}": {{"x": i}} for i in range(N_CASES)}})
def test_triv(wtb_run):
    assert wtb_run.state["done"] is True
    assert wtb_run.state["y"] == (wtb_run.input["x"] + int(wtb_run.variant[1:])) * 2
"""

PREFIX_TEST = """\
import pytest_wtb as wtb

from xgraphs import build_prefix, n4_v1, n4_v2, n4_v3, n4_v4

N_CASES = {n_cases}

v0 = wtb.variant(name="v0", baseline=True)(build_prefix)
v1 = v0.with_nodes({{"n4": n4_v1}}, name="v1")
v2 = v0.with_nodes({{"n4": n4_v2}}, name="v2")
v3 = v0.with_nodes({{"n4": n4_v3}}, name="v3")
v4 = v0.with_nodes({{"n4": n4_v4}}, name="v4")


@wtb.cases({{f"c{{i}}": {{"x": i}} for i in range(N_CASES)}})
def test_prefix(wtb_run):
    assert wtb_run.state["done"] is True
    assert wtb_run.state["y"] == wtb_run.input["x"] + 3
    assert wtb_run.state["z"] == wtb_run.variant
"""

MEMORY_LOOP = '''\
"""The in-memory baseline: a ThreadPoolExecutor over graph.invoke with LangGraph's InMemorySaver."""
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from langgraph.checkpoint.memory import InMemorySaver

from xgraphs import build_triv


def main(n_variants, n_cases, workers):
    t0 = time.perf_counter()
    saver = InMemorySaver()
    graphs = [build_triv(k).compile(checkpointer=saver) for k in range(n_variants)]

    def run(job):
        k, i = job
        out = graphs[k].invoke({"x": i}, {"configurable": {"thread_id": f"m-{k}-{i}"}}, durability="sync")
        assert out["done"] is True and out["y"] == (i + k) * 2
        return out

    jobs = [(k, i) for k in range(n_variants) for i in range(n_cases)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        n = len(list(pool.map(run, jobs)))
    print(json.dumps({"loop_s": time.perf_counter() - t0, "n": n}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
'''

# Hook timestamps and process facts, written to $WTB_BENCH_TIMES at the very end.
TIMING_CONFTEST = """\
import json
import os
import resource
import time

import pytest

_T = {"conftest_import": time.time()}


def pytest_configure(config):
    try:
        from pytest_wtb.execute.backends import ray_cluster as rc
    except ImportError:
        return
    connect, disconnect = rc.connect, rc.disconnect

    def timed_connect(*args, **kwargs):
        _T["ray_connect_start"] = time.time()
        try:
            return connect(*args, **kwargs)  # includes `import ray`
        finally:
            _T["ray_connect_end"] = time.time()

    def timed_disconnect(*args, **kwargs):
        _T["ray_disconnect_start"] = time.time()
        try:
            return disconnect(*args, **kwargs)
        finally:
            _T["ray_disconnect_end"] = time.time()

    rc.connect, rc.disconnect = timed_connect, timed_disconnect


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


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    _T["unconfigure"] = time.time()
    _T["self_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    path = os.environ.get("WTB_BENCH_TIMES")
    if path:
        with open(path, "w") as fh:
            json.dump(_T, fh)
"""

INI = "[pytest]\n# generated by benchmarks/extended.py; pins rootdir to this temp dir\n"


def write_project(root: Path, cpu_iters: int, tests: dict[str, str], sleep_s: float = 0.05) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text(INI)
    (root / "conftest.py").write_text(TIMING_CONFTEST)
    (root / "xgraphs.py").write_text(GRAPHS_MODULE.format(cpu_iters=cpu_iters, sleep_s=sleep_s))
    (root / "memloop.py").write_text(MEMORY_LOOP)
    for name, text in tests.items():
        (root / name).write_text(text)
    return root


# --------------------------------------------------------------------------------------------
# running things
# --------------------------------------------------------------------------------------------


@dataclass
class Proc:
    wall_s: float
    rc: int
    out: str
    maxrss_mb: float  # wait4: the process and every descendant it reaped
    times: dict[str, Any] = field(default_factory=dict)
    t0: float = 0.0
    samples: list[Sample] = field(default_factory=list)  # the process tree, every 0.25 s

    @property
    def tree_peak_mb(self) -> float:
        return max((sum(p[2] for p in s.procs.values()) for s in self.samples), default=0) / 2**20


# --bytecode-cache: a private PYTHONPYCACHEPREFIX for the subprocesses (and PYTHONDONTWRITEBYTECODE
# dropped), so pytest's assertion-rewrite cache and .pyc files work as on a usual machine without
# writing anything into the shared venv
BYTECODE_CACHE: str | None = None


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    drop = ("PYTEST_", "WTB_", "RAY_ADDRESS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    if BYTECODE_CACHE:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = BYTECODE_CACHE
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.update(extra)
    return env


_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    t: float
    procs: dict[int, tuple[str, float, int]]  # pid -> (name, cpu seconds so far, rss bytes), the tree only
    machine_busy_s: float  # every CPU's non-idle time so far (/proc/stat)
    postgres: dict[int, float] = field(default_factory=dict)  # PostgreSQL server processes: pid -> CPU s


def _proc_table() -> dict[int, tuple[int, str, float, int]]:
    """pid -> (ppid, comm, user+system CPU seconds, rss bytes) for every process we can read."""
    out: dict[int, tuple[int, str, float, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        comm = stat[stat.find(b"(") + 1:stat.rfind(b")")].decode(errors="replace")
        rest = stat[stat.rfind(b")") + 2:].split()
        out[int(name)] = (int(rest[1]), comm, (int(rest[11]) + int(rest[12])) / _TICK, int(rest[21]) * _PAGE)
    return out


def _machine_busy_s() -> float:
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / _TICK


def _serves(pid: int, db: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return f" {db} ".encode() in fh.read()  # "postgres: USER DB HOST(PORT) STATE"
    except OSError:
        return False


def _sample(root: int, pg_db: str | None = None) -> Sample:
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, row in table.items():
        children.setdefault(row[0], []).append(pid)
    procs: dict[int, tuple[str, float, int]] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            _, comm, cpu, rss = table[pid]
            procs[pid] = ("pytest driver" if pid == root else comm, cpu, rss)
        todo.extend(children.get(pid, []))
    postgres = {} if pg_db is None else {
        pid: row[2] for pid, row in table.items() if row[1] == "postgres" and pid not in procs and _serves(pid, pg_db)
    }
    return Sample(time.time(), procs, _machine_busy_s(), postgres)


def cpu_breakdown(samples: list[Sample], t_from: float, t_to: float) -> dict[str, float]:
    """Cores used on average in [t_from, t_to] by each kind of process in the tree, and by the rest
    of the machine (other agents' work): CPU seconds / window seconds, from the nearest samples."""
    if len(samples) < 2:
        return {}
    before = [s for s in samples if s.t <= t_from] or samples[:1]
    after = [s for s in samples if s.t >= t_to] or samples[-1:]
    s0, s1 = before[-1], after[0]
    window = s1.t - s0.t
    if window <= 0:
        return {}
    inside = [s for s in samples if s0.t <= s.t <= s1.t]
    last: dict[int, tuple[str, float]] = {}  # a process may end inside the window (actors, pooled
    pg_last: dict[int, float] = {}  # connections): its last sample counts
    for s in inside:
        last.update({pid: (name, cpu) for pid, (name, cpu, _) in s.procs.items()})
        pg_last.update(s.postgres)
    out: dict[str, float] = {}
    for pid, (name, cpu) in last.items():
        old = s0.procs.get(pid)
        used = cpu - (old[1] if old else 0.0)
        key = "ray actor" if name.startswith("ray::Execution") else name
        out[key] = out.get(key, 0.0) + used / window
    ours = sum(out.values())
    pg = sum(cpu - s0.postgres.get(pid, 0.0) for pid, cpu in pg_last.items()) / window
    if pg > 0.005:
        out["(postgres server)"] = pg
        ours += pg
    out["(ours)"] = ours
    out["(whole machine)"] = (s1.machine_busy_s - s0.machine_busy_s) / window
    out["(other processes)"] = out["(whole machine)"] - ours
    out["(window s)"] = window
    return {k: round(v, 3) for k, v in out.items()}


def ray_leftovers(tmpdir: str) -> list[int]:
    """Processes of a Ray we started (their command line names our RAY_TMPDIR)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if tmpdir.encode() in cmd:
            pids.append(int(name))
    return pids


def run_proc(
    cmd: list[str],
    cwd: Path,
    extra_env: dict[str, str] | None = None,
    *,
    side: Callable[[threading.Event], None] | None = None,
    pg_db: str | None = None,
) -> Proc:
    """Wall time and rusage (wait4) of one command; optional RSS sampling and a side thread."""
    times_path = cwd / f".times-{time.monotonic_ns()}.json"
    ray_tmp = tempfile.mkdtemp(prefix="wxr", dir="/tmp")  # short: Ray's unix sockets live under it
    env = clean_env({"WTB_BENCH_TIMES": str(times_path), "RAY_TMPDIR": ray_tmp, **(extra_env or {})})
    stop = threading.Event()
    threads: list[threading.Thread] = []
    samples: list[Sample] = []
    try:
        with tempfile.TemporaryFile() as out:
            t0_epoch = time.time()
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)

            def sampler() -> None:
                while True:
                    try:
                        samples.append(_sample(p.pid, pg_db))
                    except Exception:
                        pass
                    if stop.wait(0.25):
                        return

            threads.append(threading.Thread(target=sampler, daemon=True))
            if side is not None:
                threads.append(threading.Thread(target=side, args=(stop,), daemon=True))
            for t in threads:
                t.start()
            timer = threading.Timer(RUN_TIMEOUT_S, lambda: os.killpg(p.pid, signal.SIGKILL))
            timer.start()
            try:
                _, status, usage = os.wait4(p.pid, 0)
            finally:
                timer.cancel()
            wall = time.perf_counter() - t0
            stop.set()
            for t in threads:
                t.join(timeout=5)
            p.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            text = out.read().decode(errors="replace")
    finally:
        stop.set()
        # never leave a Ray of ours behind (only processes that name our own temp dir)
        for pid in ray_leftovers(ray_tmp):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(ray_tmp, ignore_errors=True)
    times: dict[str, Any] = {}
    if times_path.exists():
        times = json.loads(times_path.read_text())
        times_path.unlink()
    return Proc(wall, p.returncode, text, usage.ru_maxrss / 1024, times, t0_epoch, samples)


def require_ok(proc: Proc, what: str, expect: str | None = None) -> None:
    if proc.rc != 0 or (expect is not None and expect not in proc.out):
        tail = "\n".join(proc.out.strip().splitlines()[-30:])
        raise SystemExit(f"benchmark step failed: {what} (exit {proc.rc}, expected {expect!r})\n{tail}")


def pytest_cmd(target: str, *extra: str) -> list[str]:
    return [PY, "-m", "pytest", target, "-q", "-p", "no:cacheprovider", *extra]


# -- reading the store -------------------------------------------------------------------------------

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


# -- PostgreSQL ------------------------------------------------------------------------------------


class PgDatabases:
    """Throwaway databases wtb_bench_<random>_<n>, each dropped when done (and all at exit)."""

    def __init__(self) -> None:
        self.prefix = f"wtb_bench_{uuid.uuid4().hex[:8]}"
        self.made: list[str] = []
        self._n = 0

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql)

    def create(self) -> str:
        self._n += 1
        name = f"{self.prefix}_{self._n}"
        self._admin(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return name

    def drop(self, name: str) -> None:
        if name in self.made:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.made.remove(name)

    def drop_all(self) -> None:
        for name in list(self.made):
            try:
                self.drop(name)
            except Exception as exc:  # report, never hide a leftover database
                print(f"  WARNING: could not drop database {name}: {exc}", flush=True)


def pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def pg_sessions(db: str) -> int:
    """Sessions ever opened to ``db`` (pg_stat_database.sessions, PostgreSQL 14+), -1 if unknown."""
    import psycopg

    time.sleep(1.0)  # session statistics are flushed when a backend exits
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (db,)).fetchone()
    except Exception:
        return -1
    return int(row[0]) if row and row[0] is not None else -1


def connection_poller(db: str, peak: dict[str, int]) -> Callable[[threading.Event], None]:
    """Polls pg_stat_activity for ``db`` every 20 ms from its own connection to another database."""

    def poll(stop: threading.Event) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            while not stop.wait(0.02):
                row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (db,)).fetchone()
                peak["max"] = max(peak["max"], int(row[0]) if row else 0)
                peak["samples"] += 1

    return poll


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def calibrate_cpu(target_s: float = 0.020) -> tuple[int, float]:
    """Iterations of the generated burn() loop that take ``target_s`` of CPU time (min of 5 tries)."""

    def burn(n: int) -> int:
        acc = 0
        for i in range(n):
            acc = (acc * 31 + i) & 0xFFFFFFFF
        return acc

    n = 20_000
    while True:
        c0 = time.process_time()
        burn(n)
        if time.process_time() - c0 > 0.05:
            break
        n *= 2
    best = min(_cpu_time(burn, n) for _ in range(5))
    iters = int(n * target_s / best)
    return iters, min(_cpu_time(burn, iters) for _ in range(5))


def _cpu_time(fn: Callable[[int], int], n: int) -> float:
    c0 = time.process_time()
    fn(n)
    return time.process_time() - c0


def git_commit() -> str:
    """HEAD, with '+dirty' when pytest_wtb/ has uncommitted changes (read-only git commands)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "pytest_wtb"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def code_state() -> str:
    """The tree hash of pytest_wtb/ at HEAD plus its uncommitted changes: what the runs executed."""
    try:
        tree = subprocess.run(["git", "rev-parse", "HEAD:pytest_wtb"], cwd=REPO, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "diff", "HEAD", "--", "pytest_wtb"], cwd=REPO, capture_output=True,
                               text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{tree}+{hash(dirty) & 0xFFFFFFFF:08x}" if dirty else tree


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def loadavg() -> float:
    return os.getloadavg()[0]


def log(msg: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", flush=True)


@dataclass
class Row:
    measurement: str
    plugin: str
    baseline: str
    ratio: str
    goal: str
    met: str


@dataclass
class Ctx:
    reps: int
    quick: bool
    tmp: Path
    cpu_iters: int
    prefix_sleep_s: float = 0.05  # each upstream node's sleep in measurement 3
    raw: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run_plugin(project: Path, store: str, n_items: int, extra: tuple[str, ...], *,
               env: dict[str, str] | None = None,
               side: Callable[[threading.Event], None] | None = None, target: str = ".",
               pg_db: str | None = None, extra_rows: int = 0) -> dict[str, Any]:
    cmd = pytest_cmd(target, f"--wtb-store={store}", *extra)
    load0 = loadavg()
    steal0 = cpu_ticks()
    proc = run_proc(cmd, project, env, side=side, pg_db=pg_db)
    steal1 = cpu_ticks()
    require_ok(proc, " ".join(cmd), f"{n_items} passed")
    span = store_span(store)
    if span["count"] != n_items + extra_rows:
        log(f"WARNING: {span['count']} execution rows in the store, expected {n_items + extra_rows} "
            f"(shared-prefix executions where none were expected?)")
    t = proc.times
    res: dict[str, Any] = {
        "wall": proc.wall_s,
        "wait4_maxrss_mb": proc.maxrss_mb,
        "self_maxrss_mb": t.get("self_maxrss_kb", 0) / 1024,
        "tree_peak_mb": proc.tree_peak_mb,
        "startup": t["collect_start"] - proc.t0,
        "collect": t["collect_end"] - t["collect_start"],
        "to_first_exec": span["first_start"] - t["loop_start"],
        "to_first_result": span["first_end"] - t["loop_start"],
        "exec_span": span["last_end"] - span["first_start"],
        "batch": span["last_end"] - t["loop_start"],
        "loop": t["loop_end"] - t["loop_start"],
        "after_loop": proc.t0 + proc.wall_s - t["loop_end"],
        "loop_cpu": t["loop_cpu_end"] - t["loop_cpu_start"],  # CPU of the pytest process in the loop
        "rows": span["count"],
        **{f"tl_{k}": v for k, v in worker_timeline(store).items()},
        "succeeded": span["succeeded"],
        "load1": (load0 + loadavg()) / 2,
        # % of CPU time the hypervisor gave to other VMs: 0 on a machine of one's own
        "steal_pct": 100.0 * (steal1[0] - steal0[0]) / max(1, steal1[1] - steal0[1]),
        "cores_in_span": cpu_breakdown(proc.samples, span["first_start"], span["last_end"]),
    }
    if "ray_connect_start" in t:
        res["ray_connect"] = t["ray_connect_end"] - t["ray_connect_start"]
    if "ray_disconnect_start" in t:
        res["ray_disconnect"] = t["ray_disconnect_end"] - t["ray_disconnect_start"]
    return res


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = {k for r in runs for k, v in r.items() if isinstance(v, int | float)}
    return {k: med([r[k] for r in runs if k in r]) for k in sorted(keys)} | {"n_runs": len(runs)}


def cores(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median over runs of the cores each kind of process used during the execution span."""
    keys = {k for r in runs for k in r.get("cores_in_span", {})}
    out = {k: med([r["cores_in_span"].get(k, 0.0) for r in runs if r.get("cores_in_span")]) for k in keys}
    return dict(sorted(out.items(), key=lambda kv: (kv[0].startswith("("), -kv[1])))


def fmt_cores(c: dict[str, float], top: int = 4) -> str:
    named = [(k, v) for k, v in c.items() if not k.startswith("(")]
    shown = ", ".join(f"{k} {v:.2f}" for k, v in named[:top])
    rest = sum(v for _, v in named[top:])
    if rest:
        shown += f", rest of the tree {rest:.2f}"
    if "(postgres server)" in c:
        shown += f", postgres server {c['(postgres server)']:.2f}"
    return (f"{shown}; other processes on the machine {c.get('(other processes)', 0):.2f}; "
            f"whole machine {c.get('(whole machine)', 0):.2f} of 2")


def fmt_s(x: float) -> str:
    return f"{x:.2f} s"


def fmt_ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


# --------------------------------------------------------------------------------------------
# 1. Ray
# --------------------------------------------------------------------------------------------


def bench_ray(ctx: Ctx) -> None:
    n_cpu = 40 if ctx.quick else 80
    n_triv_cases = 100 if ctx.quick else 400
    n_big = (10, 100) if ctx.quick else (10, 1000)  # variants x cases
    root = ctx.tmp / "ray"
    write_project(root, ctx.cpu_iters, {
        "test_cpu.py": CPU_TEST.format(n_cases=n_cpu),
        "test_triv.py": TRIV_TEST.format(n_variants=1, n_cases=n_triv_cases),
    })
    big = write_project(ctx.tmp / "ray-big", ctx.cpu_iters,
                        {"test_big.py": TRIV_TEST.format(n_variants=n_big[0], n_cases=n_big[1])})
    warm = write_project(ctx.tmp / "ray-warm", ctx.cpu_iters,
                         {"test_w.py": TRIV_TEST.format(n_variants=1, n_cases=4)})
    threads = ("--wtb-backend=threads",)
    ray = ("--wtb-backend=ray", "--wtb-workers=2")

    def store() -> str:
        return f"sqlite:///{tempfile.mkdtemp(prefix='s-', dir=ctx.tmp)}/wtb.db"

    log("warm-up (discarded): 4 trivial executions on threads and on ray")
    run_plugin(warm, store(), 4, threads)
    run_plugin(warm, store(), 4, ray)

    cpu: dict[str, list[dict[str, Any]]] = {"threads": [], "ray": []}
    triv: dict[str, list[dict[str, Any]]] = {"threads": [], "ray": []}
    for rep in range(ctx.reps):
        for name, opts in (("threads", threads), ("ray", ray)):
            r = run_plugin(root, store(), n_cpu, opts, target="test_cpu.py")
            cpu[name].append(r)
            log(f"1a rep {rep + 1} {name:7s} CPU-bound x{n_cpu}: wall {r['wall']:.2f}s span {r['exec_span']:.2f}s "
                f"first exec {r['to_first_exec']:.2f}s ray.init {r.get('ray_connect', 0):.2f}s load {r['load1']:.1f} "
                f"steal {r['steal_pct']:.0f}%")
        for name, opts in (("threads", threads), ("ray", ray)):
            r = run_plugin(root, store(), n_triv_cases, opts, target="test_triv.py")
            triv[name].append(r)
            log(f"1b rep {rep + 1} {name:7s} trivial x{n_triv_cases}: wall {r['wall']:.2f}s span {r['exec_span']:.2f}s "
                f"first exec {r['to_first_exec']:.2f}s shutdown {r.get('ray_disconnect', 0):.2f}s")
    n_total = n_big[0] * n_big[1]
    bigruns: dict[str, list[dict[str, Any]]] = {"threads": [], "ray": []}
    for rep in range(ctx.reps):
        for name, opts in (("ray", ray), ("threads", threads)):
            r = run_plugin(big, store(), n_total, opts)
            bigruns[name].append(r)
            log(f"1c rep {rep + 1} {name:7s} trivial x{n_total}: wall {r['wall']:.1f}s self maxrss "
                f"{r['self_maxrss_mb']:.0f} MB wait4 {r['wait4_maxrss_mb']:.0f} MB tree {r['tree_peak_mb']:.0f} MB")

    c_t, c_r = summarize(cpu["threads"]), summarize(cpu["ray"])
    t_t, t_r = summarize(triv["threads"]), summarize(triv["ray"])
    b_t, b_r = summarize(bigruns["threads"]), summarize(bigruns["ray"])
    ctx.raw["ray"] = {"cpu": cpu, "triv": triv, "big": bigruns, "n_cpu": n_cpu, "n_triv": n_triv_cases,
                      "n_big": n_total, "cpu_iters": ctx.cpu_iters}

    speed_span = c_t["exec_span"] / c_r["exec_span"]
    ctx.rows.append(Row(f"1a Ray CPU-bound {n_cpu} x ~20 ms, once started (execution span)",
                        fmt_s(c_r["exec_span"]), fmt_s(c_t["exec_span"]), f"{speed_span:.2f}x faster",
                        ">= 1.7x", "yes" if speed_span >= 1.7 else "NO"))
    speed_wall = c_t["wall"] / c_r["wall"]
    ctx.rows.append(Row(f"1a Ray CPU-bound {n_cpu} x ~20 ms, pytest wall (incl. Ray start/stop)",
                        fmt_s(c_r["wall"]), fmt_s(c_t["wall"]), f"{speed_wall:.2f}x faster", "(report)", "-"))
    # CPU accounting: what the same executions would take with the machine to ourselves, if threads
    # stay on one core (the GIL) and Ray's processes (actors, driver, raylet) spread over both
    def cpu_per_exec(r: dict[str, Any]) -> float:
        c = r.get("cores_in_span") or {}
        busy = float(c.get("(ours)", 0.0))
        return busy * float(r["exec_span"]) / n_cpu

    t_cpu, r_cpu = med([cpu_per_exec(r) for r in cpu["threads"]]), med([cpu_per_exec(r) for r in cpu["ray"]])
    if t_cpu > 0 and r_cpu > 0:
        projected = t_cpu / (r_cpu / 2)
        ctx.rows.append(Row("1a   projection for an idle 2-core machine, from CPU seconds per execution",
                            f"{r_cpu * 1000:.1f} ms CPU/2 cores", f"{t_cpu * 1000:.1f} ms CPU/1 core",
                            f"{projected:.2f}x faster", ">= 1.7x",
                            "estimate: " + ("yes" if projected >= 1.7 else "NO")))
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

    # per-execution overhead on the trivial graph, fixed costs (start-up + shutdown) taken out
    per_run = []
    for rr, tr in zip(triv["ray"], triv["threads"], strict=True):
        fixed = (rr["to_first_exec"] - tr["to_first_exec"]) + rr.get("ray_disconnect", 0.0)
        per_run.append((rr["wall"] - fixed - tr["wall"]) / n_triv_cases)
    overhead = med(per_run)
    overhead_span = (t_r["exec_span"] - t_t["exec_span"]) / n_triv_cases
    ctx.rows.append(Row(f"1b Ray per-execution overhead vs threads, {n_triv_cases} trivial (wall)",
                        fmt_s(t_r["wall"]), fmt_s(t_t["wall"]), f"{overhead * 1000:+.2f} ms/exec",
                        "<= 3 ms/exec", "yes" if overhead <= 0.003 else "NO"))
    ctx.rows.append(Row("1b   same, execution span only", fmt_s(t_r["exec_span"]), fmt_s(t_t["exec_span"]),
                        f"{overhead_span * 1000:+.2f} ms/exec", "<= 3 ms/exec",
                        "yes" if overhead_span <= 0.003 else "NO"))
    ctx.rows.append(Row(f"1c Ray {n_total:,} trivial: pytest process peak RSS (RUSAGE_SELF)",
                        f"{b_r['self_maxrss_mb']:.0f} MB", f"{b_t['self_maxrss_mb']:.0f} MB (threads)",
                        f"{b_r['self_maxrss_mb'] / b_t['self_maxrss_mb']:.2f}x", "(report)", "-"))
    ctx.rows.append(Row(f"1c Ray {n_total:,} trivial: wait4 ru_maxrss of the pytest subprocess",
                        f"{b_r['wait4_maxrss_mb']:.0f} MB", f"{b_t['wait4_maxrss_mb']:.0f} MB (threads)",
                        f"{b_r['wait4_maxrss_mb'] / b_t['wait4_maxrss_mb']:.2f}x", "(report)", "-"))
    ctx.rows.append(Row(f"1c Ray {n_total:,} trivial: process tree peak RSS (sampled 4/s)",
                        f"{b_r['tree_peak_mb']:.0f} MB", f"{b_t['tree_peak_mb']:.0f} MB (threads)",
                        f"{b_r['tree_peak_mb'] / b_t['tree_peak_mb']:.2f}x", "(report)", "-"))
    ctx.rows.append(Row(f"1c Ray {n_total:,} trivial: pytest wall", fmt_s(b_r["wall"]),
                        fmt_s(b_t["wall"]) + " (threads)", f"{b_r['wall'] / b_t['wall']:.2f}x", "(report)", "-"))
    ctx.notes.append(
        f"1: CPU node = {ctx.cpu_iters:,} iterations of a pure-Python loop, calibrated to "
        f"{ctx.raw['cpu_node_s'] * 1000:.1f} ms of CPU in this process. Threads: the default 16 threads. "
        f"Median load average during 1a runs: threads {c_t['load1']:.1f}, ray {c_r['load1']:.1f} (2 cores). "
        f"CPU-bound span per execution: threads {c_t['exec_span'] / n_cpu * 1000:.1f} ms, "
        f"ray {c_r['exec_span'] / n_cpu * 1000:.1f} ms (ideal with 2 actors: "
        f"{ctx.raw['cpu_node_s'] / 2 * 1000:.1f} ms). 1b fixed cost taken out = Ray's extra time to the "
        f"first execution + ray.shutdown. 1c ray wall {b_r['wall']:.1f}s = "
        f"{b_r['wall'] / n_total * 1000:.2f} ms per item; threads {b_t['wall'] / n_total * 1000:.2f} ms per item."
    )
    cr, ct = cores(cpu["ray"]), cores(cpu["threads"])
    actor_cpu = cr.get("ray actor", 0.0) * c_r["exec_span"] / n_cpu
    ctx.notes.append(
        f"1a cores used during the execution span (CPU seconds / span, medians): ray: {fmt_cores(cr)}; "
        f"threads: {fmt_cores(ct)}. Ray actor CPU per execution: {actor_cpu * 1000:.1f} ms "
        f"(node work {ctx.raw['cpu_node_s'] * 1000:.1f} ms)."
    )
    tr_c, tt_c = cores(triv["ray"]), cores(triv["threads"])
    ctx.notes.append(
        f"1b ({n_triv_cases} trivial): ray actors' median execution {t_r.get('tl_median_duration', 0) * 1000:.1f} ms, "
        f"median idle gap on an actor between one execution's end and its next start "
        f"{t_r.get('tl_median_gap', 0) * 1000:.1f} ms (one execution in flight per actor); threads' median "
        f"execution {t_t.get('tl_median_duration', 0) * 1000:.1f} ms (16 threads sharing the GIL). Cores during "
        f"the span: ray: {fmt_cores(tr_c)}; threads: {fmt_cores(tt_c)}. CPU per execution: ray "
        f"{tr_c.get('(ours)', 0) * t_r['exec_span'] / n_triv_cases * 1000:.1f} ms (actors "
        f"{tr_c.get('ray actor', 0) * t_r['exec_span'] / n_triv_cases * 1000:.1f} ms, driver "
        f"{tr_c.get('pytest driver', 0) * t_r['exec_span'] / n_triv_cases * 1000:.1f} ms), threads "
        f"{tt_c.get('(ours)', 0) * t_t['exec_span'] / n_triv_cases * 1000:.1f} ms."
    )
    ctx.raw["ray"]["cores"] = {"cpu_ray": cr, "cpu_threads": ct, "triv_ray": cores(triv["ray"]),
                               "triv_threads": cores(triv["threads"])}


# --------------------------------------------------------------------------------------------
# 2. PostgreSQL
# --------------------------------------------------------------------------------------------


def bench_pg(ctx: Ctx) -> None:
    problem = pg_available()
    if problem:
        ctx.rows.append(Row("2 PostgreSQL", "-", "-", "-", "-", f"SKIPPED ({problem})"))
        return
    n_variants, n_cases = (10, 20) if ctx.quick else (10, 100)
    n = n_variants * n_cases
    root = write_project(ctx.tmp / "pg", ctx.cpu_iters,
                         {"test_triv.py": TRIV_TEST.format(n_variants=n_variants, n_cases=n_cases)})
    opts = ("--wtb-backend=threads", "--wtb-workers=16")
    dbs = PgDatabases()
    runs: dict[str, list[dict[str, Any]]] = {"postgresql": [], "sqlite": [], "memory": []}
    try:
        log("warm-up (discarded): one PostgreSQL run, one SQLite run")
        db = dbs.create()
        run_plugin(root, PG_BASE + db, n, opts)
        dbs.drop(db)
        run_plugin(root, f"sqlite:///{tempfile.mkdtemp(prefix='s-', dir=ctx.tmp)}/wtb.db", n, opts)
        for rep in range(ctx.reps):
            db = dbs.create()
            peak = {"max": 0, "samples": 0}
            r = run_plugin(root, PG_BASE + db, n, opts, side=connection_poller(db, peak), pg_db=db)
            r["peak_connections"], r["poll_samples"] = peak["max"], peak["samples"]
            r["sessions_opened"] = pg_sessions(db)
            dbs.drop(db)
            runs["postgresql"].append(r)
            log(f"2 rep {rep + 1} postgresql x{n}: wall {r['wall']:.2f}s batch {r['batch']:.2f}s "
                f"peak connections {peak['max']} ({peak['samples']} polls), sessions opened "
                f"{r['sessions_opened']} load {r['load1']:.1f}")
            r = run_plugin(root, f"sqlite:///{tempfile.mkdtemp(prefix='s-', dir=ctx.tmp)}/wtb.db", n, opts)
            runs["sqlite"].append(r)
            log(f"2 rep {rep + 1} sqlite     x{n}: wall {r['wall']:.2f}s batch {r['batch']:.2f}s "
                f"steal {r['steal_pct']:.0f}%")
            proc = run_proc([PY, "memloop.py", str(n_variants), str(n_cases), "16"], root)
            require_ok(proc, "memloop.py")
            loop = json.loads(proc.out.strip().splitlines()[-1])
            runs["memory"].append({"wall": proc.wall_s, "loop": loop["loop_s"]})
            log(f"2 rep {rep + 1} InMemorySaver loop x{n}: wall {proc.wall_s:.2f}s loop {loop['loop_s']:.2f}s")
    finally:
        dbs.drop_all()
    ctx.raw["pg"] = runs | {"n": n}
    p, s, m = summarize(runs["postgresql"]), summarize(runs["sqlite"]), summarize(runs["memory"])
    ratio = p["wall"] / s["wall"]
    ctx.rows.append(Row(f"2 PostgreSQL vs SQLite, {n:,} execs, 16 threads: pytest wall", fmt_s(p["wall"]),
                        fmt_s(s["wall"]), f"{ratio:.2f}x", "<= 2x", "yes" if ratio <= 2 else "NO"))
    ratio_b = p["batch"] / s["batch"]
    ctx.rows.append(Row("2   same, batch only (submit -> last result)", fmt_s(p["batch"]), fmt_s(s["batch"]),
                        f"{ratio_b:.2f}x", "<= 2x", "yes" if ratio_b <= 2 else "NO"))
    ctx.rows.append(Row("2 PostgreSQL per-exec overhead over InMemorySaver loop (whole process)",
                        fmt_s(p["wall"]), fmt_s(m["wall"]), f"{(p['wall'] - m['wall']) / n * 1000:+.2f} ms/exec",
                        "(report)", "-"))
    ctx.rows.append(Row("2   same, batch vs the loop alone", fmt_s(p["batch"]), fmt_s(m["loop"]),
                        f"{(p['batch'] - m['loop']) / n * 1000:+.2f} ms/exec", "(report)", "-"))
    ctx.rows.append(Row("2   SQLite per-exec overhead over InMemorySaver loop (whole process)",
                        fmt_s(s["wall"]), fmt_s(m["wall"]), f"{(s['wall'] - m['wall']) / n * 1000:+.2f} ms/exec",
                        "(report)", "-"))
    conns = max(r["peak_connections"] for r in runs["postgresql"])
    ctx.rows.append(Row("2 PostgreSQL connections at peak (pg_stat_activity, max of runs)", str(conns),
                        "13 (README: 8 checkpoint + 5 results)", "-", "<= 13", "yes" if conns <= 13 else "NO"))
    ctx.notes.append(
        f"2: {n_variants} variants x {n_cases} cases of the trivial 3-node graph (durability='sync'); a fresh "
        f"database per PostgreSQL run. Median peak connections "
        f"{med([r['peak_connections'] for r in runs['postgresql']]):.0f}; sessions opened to the database "
        f"during a run (pg_stat_database.sessions; the poller connects to 'test' and is not counted): "
        f"{med([r['sessions_opened'] for r in runs['postgresql']]):.0f}. "
        f"Median load during runs: postgresql {p['load1']:.1f}, sqlite {s['load1']:.1f}. "
        f"Driver CPU per execution in the loop: postgresql {p['loop_cpu'] / n * 1000:.1f} ms, "
        f"sqlite {s['loop_cpu'] / n * 1000:.1f} ms. Cores during the execution span: postgresql: "
        f"{fmt_cores(cores(runs['postgresql']))}; sqlite: {fmt_cores(cores(runs['sqlite']))}."
    )


# --------------------------------------------------------------------------------------------
# 3. Prefix sharing
# --------------------------------------------------------------------------------------------


def bench_prefix(ctx: Ctx) -> None:
    n_cases = 10 if ctx.quick else 40
    n_variants = 5
    root = write_project(ctx.tmp / "prefix", ctx.cpu_iters, {"test_prefix.py": PREFIX_TEST.format(n_cases=n_cases)},
                         sleep_s=ctx.prefix_sleep_s)
    base_opts = ("--wtb-backend=threads", "--wtb-workers=16")
    configs = {"shared": base_opts, "no-share": (*base_opts, "--wtb-no-share-prefix")}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in configs}
    n_items = n_variants * n_cases
    log("warm-up (discarded): one run with prefix sharing")
    run_plugin(root, f"sqlite:///{tempfile.mkdtemp(prefix='s-', dir=ctx.tmp)}/wtb.db", n_items, base_opts,
               extra_rows=n_cases)
    for rep in range(ctx.reps):
        for name, opts in configs.items():
            store = f"sqlite:///{tempfile.mkdtemp(prefix='s-', dir=ctx.tmp)}/wtb.db"
            counter = ctx.tmp / f"counter-{uuid.uuid4().hex[:6]}"
            r = run_plugin(root, store, n_items, opts, env={"WTB_BENCH_COUNTER": str(counter)},
                           extra_rows=n_cases if name == "shared" else 0)
            calls = Counter(counter.read_text().split()) if counter.exists() else Counter()
            rows = store_nodes(store)
            r["calls"] = dict(calls)
            r["store_nodes"] = {k: dict(v) for k, v in rows.items()}
            for node in ("n1", "n2", "n3", "n4"):
                r[f"calls_{node}"] = calls[node]
                r[f"store_{node}"] = rows["prefix"][node] + rows["variant"][node]
            runs[name].append(r)
            log(f"3 rep {rep + 1} {name:8s}: wall {r['wall']:.2f}s batch {r['batch']:.2f}s calls {dict(calls)} "
                f"rows {r['rows']} steal {r['steal_pct']:.0f}%")
    ctx.raw["prefix"] = runs | {"n_cases": n_cases}
    sh, ns = summarize(runs["shared"]), summarize(runs["no-share"])
    up_sh = max(sh["calls_n1"], sh["calls_n2"], sh["calls_n3"])
    up_ns = max(ns["calls_n1"], ns["calls_n2"], ns["calls_n3"])
    ctx.rows.append(Row(
        f"3 Prefix sharing: executions of each upstream node (n1/n2/n3), {n_variants} variants x {n_cases} cases",
        f"{sh['calls_n1']:.0f}/{sh['calls_n2']:.0f}/{sh['calls_n3']:.0f}",
        f"{ns['calls_n1']:.0f}/{ns['calls_n2']:.0f}/{ns['calls_n3']:.0f}",
        f"{up_ns / up_sh:.1f}x fewer" if up_sh else "-", f"= cases ({n_cases})",
        "yes" if up_sh == n_cases else "NO"))
    ctx.rows.append(Row("3   same, read from the store's nodes_json (n1/n2/n3/n4)",
                        "/".join(f"{sh[f'store_{x}']:.0f}" for x in ("n1", "n2", "n3", "n4")),
                        "/".join(f"{ns[f'store_{x}']:.0f}" for x in ("n1", "n2", "n3", "n4")),
                        "-", f"= {n_cases}/{n_cases}/{n_cases}/{n_items}",
                        "yes" if all(sh[f"store_{x}"] == n_cases for x in ("n1", "n2", "n3")) else "NO"))
    speed = ns["wall"] / sh["wall"]
    ctx.rows.append(Row("3 Prefix sharing: pytest wall", fmt_s(sh["wall"]), fmt_s(ns["wall"]),
                        f"{speed:.2f}x faster", ">= 3x", "yes" if speed >= 3 else "NO"))
    speed_b = ns["batch"] / sh["batch"]
    ctx.rows.append(Row("3   same, batch only (submit -> last result)", fmt_s(sh["batch"]), fmt_s(ns["batch"]),
                        f"{speed_b:.2f}x faster", ">= 3x", "yes" if speed_b >= 3 else "NO"))
    ideal_sh = -(-n_cases // 16) * 3 * ctx.prefix_sleep_s
    ideal_ns = -(-n_items // 16) * 3 * ctx.prefix_sleep_s
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


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    head = Row("measurement", "plugin", "baseline", "ratio", "goal", "met?")
    cells = [[r.measurement, r.plugin, r.baseline, r.ratio, r.goal, r.met] for r in [head, *rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(6)]
    lines = ["| " + " | ".join(c[i].ljust(widths[i]) for i in range(6)) + " |" for c in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and 1 repetition (a smoke run)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per configuration (default 3, quick 1)")
    ap.add_argument("--only", default="1,2,3", help="comma-separated measurements to run (1=ray, 2=pg, 3=prefix)")
    ap.add_argument("--json", type=Path, default=None, help="also write every raw figure here")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--prefix-sleep-ms", type=float, default=50.0,
                    help="measurement 3: how long each of the three upstream nodes sleeps (default 50, the issue's)")
    ap.add_argument("--bytecode-cache", action="store_true",
                    help="give the subprocesses a private bytecode cache (the environment may set "
                         "PYTHONDONTWRITEBYTECODE=1, which makes pytest re-rewrite plugin modules every run)")
    args = ap.parse_args(argv)
    global BYTECODE_CACHE
    reps = args.reps or (1 if args.quick else 3)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    tmp = Path(tempfile.mkdtemp(prefix="wtb-ext-"))
    BYTECODE_CACHE = str(tmp / "pycache") if args.bytecode_cache else None
    iters, cpu_s = calibrate_cpu()
    ctx = Ctx(reps=reps, quick=args.quick, tmp=tmp, cpu_iters=iters, prefix_sleep_s=args.prefix_sleep_ms / 1000)
    ctx.raw["cpu_node_s"] = cpu_s
    started = dt.datetime.now()
    ctx.raw["commit"] = git_commit()
    ctx.raw["code_state"] = code_state()
    print(f"pytest-wtb extended benchmarks: {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load {loadavg():.1f}, reps {reps}{' (quick)' if args.quick else ''}, commit {ctx.raw['commit']}, "
          f"tmp {tmp}, "
          f"bytecode cache {'private' if BYTECODE_CACHE else 'as the environment has it'}", flush=True)
    try:
        if "1" in only:
            bench_ray(ctx)
        if "2" in only:
            bench_pg(ctx)
        if "3" in only:
            bench_prefix(ctx)
    except SystemExit as exc:  # a failed step: say which, and let a caller (run.py) carry on
        print(exc, file=sys.stderr)
        return 1
    finally:
        BYTECODE_CACHE = None
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"pytest-wtb extended benchmarks, {started:%Y-%m-%d %H:%M}, {platform.node()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, commit {ctx.raw['commit']}, "
          f"medians of {reps} run(s)")
    print(table(ctx.rows))
    if code_state() != ctx.raw["code_state"]:
        ctx.notes.insert(0, f"WARNING: pytest_wtb/ changed during the run (commit {ctx.raw['commit']} at the "
                            f"start, {git_commit()} at the end; the package is installed editable)")
    for note in ctx.notes:
        print("- " + note)
    if args.json:
        args.json.write_text(json.dumps({"rows": [r.__dict__ for r in ctx.rows], "notes": ctx.notes,
                                         "raw": ctx.raw, "reps": reps, "date": started.isoformat()},
                                        indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
