"""Generated files of the Ray, PostgreSQL and prefix families: their graphs (xgraphs.py), tests, InMemorySaver loop."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common.project import timing_conftest, write_project

GRAPHS_MODULE = '''\
"""Graphs for the Ray, PostgreSQL and prefix benchmarks (generated)."""
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

CONFTEST = timing_conftest(ray=True)


def ext_project(root: Path, tests: dict[str, str], cpu_iters: int = 0, sleep_s: float = 0.05) -> Path:
    """xgraphs.py (build_cpu's loop runs ``cpu_iters`` iterations, build_prefix's nodes sleep ``sleep_s``),
    memloop.py and ``tests`` (name -> text)."""
    graphs = GRAPHS_MODULE.format(cpu_iters=cpu_iters, sleep_s=sleep_s)
    return write_project(root, {"xgraphs.py": graphs, "memloop.py": MEMORY_LOOP, **tests}, CONFTEST)
