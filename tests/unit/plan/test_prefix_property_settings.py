"""Forking never changes a result, also for graphs compiled with a seeded store and a cache, whose nodes
read the runtime context, the config and what earlier nodes wrote to the store.

Forks are released the way the batch releases them (ForkGate), so each starts from the store items its
shared prefix left. Graphs are chains and one-way branches: parallel siblings racing on one store item
would make a graph nondeterministic by itself.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from langchain_core.runnables import RunnableConfig
from langgraph.cache.memory import InMemoryCache
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.memory import InMemoryStore
from langgraph.types import CachePolicy

import pytest_wtb as wtb
from pytest_wtb.declare.variants import Case
from pytest_wtb.execute.fork_gate import ForkGate
from pytest_wtb.execute.worker import execute
from pytest_wtb.model import ExecutionResult, ExecutionSpec
from pytest_wtb.plan.executions import ExecutionRequest, make_plan


class S(TypedDict, total=False):
    x: Annotated[int, operator.add]
    log: Annotated[list[str], operator.add]


@dataclass
class Ctx:
    mult: int = 1


SHARED_STORE = InMemoryStore()  # one object for every factory call, as a module-level store would be
SHARED_STORE.put(("seed",), "base", {"k": 3})
_FNS: dict[tuple[int, int], Callable[..., dict[str, Any]]] = {}


def node_fn(index: int, flavour: int) -> Callable[..., dict[str, Any]]:
    if (index, flavour) not in _FNS:

        def fn(state: S, runtime: Runtime[Ctx], config: RunnableConfig) -> dict[str, Any]:
            store, written, seed = runtime.store, 0, None
            if store is not None:  # compiled factories only
                written = len(store.search(("log",), limit=100))  # what earlier nodes of this execution wrote
                store.put(("log",), f"n{index}", {"x": state.get("x", 0), "f": flavour})
                seed = store.get(("seed",), "base")
            offset = config["configurable"].get("offset", 0)
            x = (state.get("x", 0) % 7 * (flavour + 1) + index) * runtime.context.mult + offset + written
            return {"x": x + (seed.value["k"] if seed else 100), "log": [f"n{index}f{flavour}w{written}"]}

        _FNS[(index, flavour)] = fn
    return _FNS[(index, flavour)]


def route(state: S) -> str:
    return "odd" if state.get("x", 0) % 2 else "even"


def build(n: int, branch_at: int, cached: int, compiled: bool) -> Any:
    g = StateGraph(S, context_schema=Ctx)
    for i in range(n):
        policy = CachePolicy() if i == cached else None
        g.add_node(f"n{i}", node_fn(i, 0), cache_policy=policy)
    g.add_edge(START, "n0")
    i = 0
    while i < n - 1:
        if i == branch_at and i + 2 < n:
            g.add_conditional_edges(f"n{i}", route, {"odd": f"n{i + 1}", "even": f"n{i + 2}"})
            g.add_edge(f"n{i + 1}", f"n{i + 2}")
            i += 2
        else:
            g.add_edge(f"n{i}", f"n{i + 1}")
            i += 1
    g.add_edge(f"n{n - 1}", END)
    return g.compile(store=SHARED_STORE, cache=InMemoryCache()) if compiled else g


def run_shared(plan_specs: tuple[ExecutionSpec, ...]) -> dict[str, ExecutionResult]:
    """Run the plan as the batch would: forks start when their prefix has a result."""
    saver = InMemorySaver()
    gate = ForkGate(plan_specs, capacity=1, share_prefix_min_s=0)
    ready, results = list(gate.ready), {}
    while ready:
        spec = ready.pop(0)
        result = execute(spec, saver, backend="t")
        results[spec.variant_name] = result
        if spec.is_prefix:
            ready += gate.release(spec, result)
    return results


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 6),
    branch_at=st.integers(0, 4),
    cached=st.integers(-1, 5),
    compiled=st.booleans(),
    replaced=st.lists(st.sets(st.integers(1, 5), min_size=1, max_size=2), min_size=1, max_size=3),
    x=st.integers(-5, 5),
    mult=st.integers(1, 3),
    offset=st.integers(0, 2),
    limit=st.sampled_from([None, 2, 3, 4, 5, 6, 7]),  # forks near the limit get what the prefix left
)
# found by this test: a fork whose budget ran out ran from scratch, but on the store its prefix left
@example(n=2, branch_at=0, cached=-1, compiled=True, replaced=[{1}], x=0, mult=1, offset=0, limit=3)
def test_forks_with_stores_caches_context_and_config_equal_runs_from_scratch(
    n: int, branch_at: int, cached: int, compiled: bool, replaced: list[set[int]], x: int, mult: int, offset: int,
    limit: int | None,
) -> None:
    base = wtb.variant(name="base", baseline=True)(lambda: build(n, branch_at, cached, compiled))
    variants = [base]
    for k, nodes in enumerate(replaced):
        swaps = {f"n{i}": node_fn(i, k + 1) for i in nodes if i < n}
        if swaps:
            variants.append(base.with_nodes(swaps, name=f"v{k}"))
    config: dict[str, Any] = {"configurable": {"offset": offset}}
    if limit is not None:
        config["recursion_limit"] = limit
    case = Case("c", {"x": x}, context={"mult": mult}, config=config)
    requests = [ExecutionRequest("m", v, case) for v in variants]

    def outcome(result: ExecutionResult) -> tuple[str, str | None, Any]:
        return result.status, result.error.type if result.error else None, result.state if result.ok else None

    scratch_saver = InMemorySaver()
    scratch = {s.variant_name: outcome(execute(s, scratch_saver, backend="t"))
               for s in make_plan("scratch", requests).specs}
    shared_plan = make_plan("shared", requests, shapes={})
    shared = {name: outcome(r) for name, r in run_shared(shared_plan.specs).items() if name != "(shared-prefix)"}
    assert shared == scratch
    if limit is None:
        assert all(status == "succeeded" for status, _, _ in scratch.values())
    uncached = not 0 <= cached < n  # a node with a CachePolicy makes a graph unshareable (prefix.py)
    if uncached and len(variants) > 1 and not any("n0" in v.node_overrides for v in variants[1:]):
        assert any(s.is_prefix for s in shared_plan.specs), "variants that keep the entry node share a prefix"


def test_the_shared_module_store_is_never_written_by_executions() -> None:
    before = sorted((tuple(i.namespace), i.key) for i in SHARED_STORE.search((), limit=100))
    base = wtb.variant(name="base")(lambda: build(3, 9, -1, True))
    spec = make_plan("r", [ExecutionRequest("m", base, Case("c", {"x": 1}, context=Ctx()))]).specs[0]
    result = execute(spec, InMemorySaver(), backend="t")
    assert result.ok and result.state is not None
    assert result.state["log"] == ["n0f0w0", "n1f0w1", "n2f0w2"]  # each node saw the earlier nodes' writes
    assert sorted((tuple(i.namespace), i.key) for i in SHARED_STORE.search((), limit=100)) == before


def test_context_and_config_separate_prefixes() -> None:
    base = wtb.variant(name="base", baseline=True)(lambda: build(3, 9, -1, False))
    late = base.with_nodes({"n2": node_fn(2, 1)}, name="late")
    cases = [Case("a", {"x": 1}, context={"mult": 1}), Case("a2", {"x": 1}, context={"mult": 2})]
    plan = make_plan("r", [ExecutionRequest("m", v, c) for c in cases for v in (base, late)], shapes={})
    prefixes = [s for s in plan.specs if s.is_prefix]
    assert len(prefixes) == 2 and {p.context["mult"] for p in prefixes} == {1, 2}
