"""The threads family's generated files: a 3-node graph, plugin tests, plain parametrize, the hand-written loop."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common.project import timing_conftest, write_project

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

PLAIN_TEST = "def test_plain():\n    assert True\n"

CONFTEST = timing_conftest(session_end=True)


def threads_project(root: Path, test_module: str, name: str) -> Path:
    """benchgraph.py, handwritten.py and one test module ``name``."""
    return write_project(root, {"benchgraph.py": GRAPH_MODULE, "handwritten.py": HANDWRITTEN_SCRIPT,
                                name: test_module}, CONFTEST)
