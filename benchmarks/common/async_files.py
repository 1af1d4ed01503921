"""The async family's generated files: an LLM-like graph (async and sync), plugin tests, the asyncio floor script."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common.project import timing_conftest, write_project

# Every node of the async graph is ``async def``: a sync node under ainvoke runs in asyncio's default
# thread pool, which would add OS threads the measurement is meant to see only from the plugin.
GRAPH_MODULE = '''\
"""prep -> llm -> finish; llm waits ``sleep_s`` (a stand-in for an LLM call), async or sync (generated)."""
import asyncio
import time
from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    x: int
    answer: str
    done: bool


def _chain(g):
    g.add_edge(START, "prep")
    g.add_edge("prep", "llm")
    g.add_edge("llm", "finish")
    g.add_edge("finish", END)
    return g


def build_async(sleep_s):
    async def prep(s):
        return {"answer": f"q{s['x']}"}

    async def llm(s):
        if sleep_s:
            await asyncio.sleep(sleep_s)
        return {"answer": s["answer"] + "!"}

    async def finish(s):
        return {"done": True}

    g = StateGraph(State)
    for name, fn in (("prep", prep), ("llm", llm), ("finish", finish)):
        g.add_node(name, fn)
    return _chain(g)


def build_sync(sleep_s):
    def prep(s):
        return {"answer": f"q{s['x']}"}

    def llm(s):
        if sleep_s:
            time.sleep(sleep_s)
        return {"answer": s["answer"] + "!"}

    def finish(s):
        return {"done": True}

    g = StateGraph(State)
    for name, fn in (("prep", prep), ("llm", llm), ("finish", finish)):
        g.add_node(name, fn)
    return _chain(g)
'''

TEST_MODULE = '''\
import pytest_wtb as wtb

from llmgraph import {builder}

N_CASES = {n_cases}
SLEEP_S = {sleep_s!r}


@wtb.variant(name="llm", baseline=True)
def llm():
    return {builder}(SLEEP_S)


@wtb.cases({{f"c{{i}}": {{"x": i}} for i in range(N_CASES)}})
def test_llm(wtb_run):
    assert wtb_run.error is None, wtb_run.error
    assert wtb_run.state["done"] is True
    assert wtb_run.state["answer"] == f"q{{wtb_run.input['x']}}!"
'''

# durability="sync" as the plugin's worker streams with it, so the floor does the same checkpoint work
FLOOR_SCRIPT = '''\
"""The floor: the same graph, InMemorySaver, N ainvoke calls under asyncio.gather and a Semaphore (generated).

usage: python floor.py N CONCURRENCY SLEEP_S; prints one JSON line.
"""
import asyncio
import json
import sys
import time

from langgraph.checkpoint.memory import InMemorySaver

from llmgraph import build_async


async def main(n, concurrency, sleep_s):
    t0 = time.perf_counter()
    c0 = time.process_time()
    graph = build_async(sleep_s).compile(checkpointer=InMemorySaver())
    sem = asyncio.Semaphore(concurrency)

    async def one(i):
        async with sem:
            out = await graph.ainvoke({"x": i}, {"configurable": {"thread_id": f"floor-{i}"}}, durability="sync")
        assert out["done"] is True and out["answer"] == f"q{i}!", out

    await asyncio.gather(*(one(i) for i in range(n)))
    print(json.dumps({"loop_s": time.perf_counter() - t0, "loop_cpu_s": time.process_time() - c0, "n": n}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
'''

CONFTEST = timing_conftest()


def async_project(root: Path, n_cases: int, sleep_s: float) -> Path:
    """llmgraph.py, floor.py and two test modules (each run on its own): test_async_llm.py, test_sync_llm.py."""
    files = {"llmgraph.py": GRAPH_MODULE, "floor.py": FLOOR_SCRIPT}
    for kind in ("async", "sync"):
        files[f"test_{kind}_llm.py"] = TEST_MODULE.format(builder=f"build_{kind}", n_cases=n_cases, sleep_s=sleep_s)
    return write_project(root, files, CONFTEST)
