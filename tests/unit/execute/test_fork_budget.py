"""A fork gets the recursion budget its shared prefix left, read cheaply from SQLite (no deserializing)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import StateGraph

import pytest_wtb as wtb
from pytest_wtb.declare.variants import Case
from pytest_wtb.execute.fork import last_step
from pytest_wtb.execute.fork_gate import ForkGate
from pytest_wtb.execute.worker import execute
from pytest_wtb.plan.executions import ExecutionRequest, make_plan


class S(TypedDict, total=False):
    n: int


def step(state: S) -> S:
    return {"n": state.get("n", 0) + 1}


def other(state: S) -> S:
    return {"n": state.get("n", 0) + 1}


def chain() -> StateGraph[Any]:
    g = StateGraph(S)
    for name in "abcde":
        g.add_node(name, step)
    for a, b in zip(["__start__", "a", "b", "c", "d"], "abcde", strict=True):
        g.add_edge(a, b)
    return g


def savers(tmp_path: Path) -> list[Any]:
    sqlite = SqliteSaver(sqlite3.connect(tmp_path / "c.db", check_same_thread=False))
    return [sqlite, InMemorySaver()]


def test_last_step_reads_the_same_step_from_sqlite_as_from_the_saver_api(tmp_path: Path) -> None:
    for saver in savers(tmp_path):
        graph = chain().compile(checkpointer=saver, interrupt_before=["c"])
        graph.invoke({"n": 0}, {"configurable": {"thread_id": "t"}})
        assert last_step(saver, "t") == saver.get_tuple({"configurable": {"thread_id": "t"}}).metadata["step"]
        assert last_step(saver, "nothing-here") is None


@pytest.mark.parametrize("fork_at", ["c", "e"])
@pytest.mark.parametrize("limit", range(2, 9))
def test_forks_near_the_recursion_limit_end_as_their_runs_from_scratch(tmp_path: Path, limit: int,
                                                                       fork_at: str) -> None:
    base = wtb.variant(name="base", baseline=True)(chain)
    late = base.with_nodes({fork_at: other}, name="late")
    case = Case("c", {"n": 0}, config={"recursion_limit": limit})
    requests = [ExecutionRequest("m", v, case) for v in (base, late)]
    saver = savers(tmp_path)[0]
    scratch = {s.variant_name: execute(s, saver, backend="t") for s in make_plan("scratch", requests).specs}
    plan = make_plan("shared", requests, shapes={})
    gate = ForkGate(plan.specs, capacity=1, share_prefix_min_s=0)
    ready, shared = list(gate.ready), {}
    while ready:
        spec = ready.pop(0)
        result = execute(spec, saver, backend="t")
        shared[spec.variant_name] = result
        if spec.is_prefix:
            ready += gate.release(spec, result)
    for name, result in scratch.items():
        assert (shared[name].status, shared[name].state) == (result.status, result.state), (name, limit)
    assert any(s.is_prefix for s in plan.specs)
