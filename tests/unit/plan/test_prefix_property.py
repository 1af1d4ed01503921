"""Forking from a shared prefix never changes a variant's result (deterministic nodes, generated graphs)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb
from pytest_wtb.declare.variants import Case
from pytest_wtb.execute.worker import execute
from pytest_wtb.plan.executions import ExecutionRequest, make_plan


class S(TypedDict, total=False):
    x: Annotated[int, operator.add]  # a reducer, so parallel branches may both write it
    log: Annotated[list[str], operator.add]


_NODE_FNS: dict[tuple[int, int], Callable[[S], dict[str, Any]]] = {}


def node_fn(index: int, flavour: int) -> Callable[[S], dict[str, Any]]:
    """One shared function object per (index, flavour), so identical nodes are provably identical."""
    if (index, flavour) not in _NODE_FNS:

        def fn(state: S) -> dict[str, Any]:
            return {"x": state.get("x", 0) % 7 * (flavour + 1) + index, "log": [f"n{index}f{flavour}"]}

        _NODE_FNS[(index, flavour)] = fn
    return _NODE_FNS[(index, flavour)]


def route(state: S) -> str:
    return "odd" if state.get("x", 0) % 2 else "even"


def build(n: int, kind: str, at: int) -> StateGraph[Any]:
    g = StateGraph(S)
    for i in range(n):
        g.add_node(f"n{i}", node_fn(i, 0))
    g.add_edge(START, "n0")
    i = 0
    while i < n - 1:
        if i == at and kind == "conditional" and i + 2 < n:
            g.add_conditional_edges(f"n{i}", route, {"odd": f"n{i + 1}", "even": f"n{i + 2}"})
            g.add_edge(f"n{i + 1}", f"n{i + 2}")
            i += 2
        elif i == at and kind == "parallel" and i + 3 < n:
            g.add_edge(f"n{i}", f"n{i + 1}")
            g.add_edge(f"n{i}", f"n{i + 2}")
            g.add_edge([f"n{i + 1}", f"n{i + 2}"], f"n{i + 3}")
            i += 3
        else:
            g.add_edge(f"n{i}", f"n{i + 1}")
            i += 1
    g.add_edge(f"n{n - 1}", END)
    return g


graphs = st.tuples(st.integers(2, 7), st.sampled_from(["chain", "conditional", "parallel"]), st.integers(0, 4))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=graphs,
    replaced=st.lists(st.sets(st.integers(0, 6), min_size=1, max_size=3), min_size=1, max_size=3),
    x=st.integers(-5, 5),
)
def test_forked_variants_equal_their_runs_from_scratch(shape: tuple[int, str, int], replaced: list[set[int]],
                                                        x: int) -> None:
    n, kind, at = shape
    base = wtb.variant(name="base", baseline=True)(lambda: build(n, kind, at))
    variants = [base]
    for k, nodes in enumerate(replaced):
        swaps = {f"n{i}": node_fn(i, k + 1) for i in nodes if i < n}
        if swaps:
            variants.append(base.with_nodes(swaps, name=f"v{k}"))
    case = Case("c", {"x": x})
    requests = [ExecutionRequest("m", v, case) for v in variants]

    def outcome(result: Any) -> tuple[str, str | None, Any]:
        return (result.status, result.error.type if result.error else None, result.state)

    scratch_saver = InMemorySaver()
    scratch = {
        s.variant_name: outcome(execute(s, scratch_saver, backend="t")) for s in make_plan("scratch", requests).specs
    }

    shared_saver = InMemorySaver()
    plan = make_plan("shared", requests, shapes={})
    forked: dict[str, Any] = {}
    for spec in plan.specs:  # the plan orders each shared prefix before its forks
        result = execute(spec, shared_saver, backend="t")
        assert result.ok or not spec.is_prefix, "generated graphs only fail after a fork"
        if not spec.is_prefix:
            forked[spec.variant_name] = outcome(result)
            if spec.fork_thread_id is not None:
                assert result.extra["forked_from"] == spec.fork_thread_id
    assert forked == scratch
    late = [v for v in variants[1:] if "n0" not in v.node_overrides]
    if late:
        assert any(s.is_prefix for s in plan.specs), "variants that keep the entry node share a prefix"


def test_node_executions_are_saved_when_variants_differ_only_late() -> None:
    base = wtb.variant(name="base", baseline=True)(lambda: build(4, "chain", 0))
    late = [base.with_nodes({"n3": node_fn(3, k)}, name=f"late{k}") for k in (1, 2, 3)]
    requests = [ExecutionRequest("m", v, Case("c", {"x": 1})) for v in [base, *late]]
    plan = make_plan("r", requests, shapes={})
    saver = InMemorySaver()
    executed = {spec.variant_name: execute(spec, saver, backend="t") for spec in plan.specs}
    prefix = executed["(shared-prefix)"]
    assert [n.node for n in prefix.nodes] == ["n0", "n1", "n2"]
    assert all([n.node for n in executed[v.name].nodes] == ["n3"] for v in [base, *late])


def test_variants_with_different_topologies_do_not_share() -> None:
    a = wtb.variant(name="a")(lambda: build(3, "chain", 0))
    b = wtb.variant(name="b")(lambda: build(4, "chain", 0))
    plan = make_plan("r", [ExecutionRequest("m", v, Case("c", {"x": 1})) for v in (a, b)], shapes={})
    assert not any(s.is_prefix or s.fork_from for s in plan.specs)
