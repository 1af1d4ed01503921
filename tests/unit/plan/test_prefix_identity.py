"""Prefix sharing compares what node callables capture by identity of live objects, never by a
recycled id(): objects a factory builds are kept alive by the shapes for the whole run."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from typing import Any, TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb
from pytest_wtb.declare.variants import Case, Variant
from pytest_wtb.execute.worker import execute
from pytest_wtb.plan.executions import ExecutionRequest, make_plan
from pytest_wtb.plan.prefix import Shape, prefix_groups


class S(TypedDict, total=False):
    q: str
    docs: list[str]
    answer: str


class Index:
    """What a factory builds afresh each time; instances are all one size, so CPython readily puts
    a new one where a freed one was."""

    def __init__(self, docs: list[str]) -> None:
        self.docs = docs


BUILT: list[weakref.ref[Index]] = []


def retriever(index: Index) -> Callable[[S], dict[str, Any]]:
    def retrieve(state: S) -> dict[str, Any]:
        return {"docs": index.docs}

    return retrieve


def first(state: S) -> dict[str, Any]:
    return {"answer": state["docs"][0]}


def last(state: S) -> dict[str, Any]:
    return {"answer": state["docs"][-1]}


def build(docs: list[str], answer: Callable[[S], dict[str, Any]]) -> StateGraph[Any]:
    index = Index(docs)  # freed with the graph once a probe drops it
    BUILT.append(weakref.ref(index))
    g = StateGraph(S)
    g.add_node("retrieve", retriever(index))
    g.add_node("answer", answer)
    g.add_edge(START, "retrieve")
    g.add_edge("retrieve", "answer")
    g.add_edge("answer", END)
    return g


def two_variants() -> tuple[Variant, Variant]:
    # same code everywhere; only the Index each closure captures (and the answer node) differ
    base = wtb.variant(name="base", baseline=True)(lambda: build(["base-doc"], first))
    other = wtb.variant(name="other")(lambda: build(["other-doc", "other-doc-2"], last))
    return base, other


def test_closures_over_different_fresh_objects_are_never_grouped() -> None:
    for _ in range(20):  # each round probes afresh, so a recycled address would show up in one
        base, other = two_variants()
        assert prefix_groups([base, other], {}) == []


def test_the_variant_runs_its_own_upstream_node_not_the_baselines() -> None:
    case = Case("c", {"q": "x"})
    for round_ in range(10):
        base, other = two_variants()
        plan = make_plan(f"r{round_}", [ExecutionRequest("m", v, case) for v in (base, other)], shapes={})
        saver = InMemorySaver()
        states = {s.variant_name: execute(s, saver, backend="t").state for s in plan.specs}
        assert states["other"] == {"q": "x", "docs": ["other-doc", "other-doc-2"], "answer": "other-doc-2"}
        assert states["base"] == {"q": "x", "docs": ["base-doc"], "answer": "base-doc"}
        assert not any(s.is_prefix or s.fork_from for s in plan.specs)


def test_what_was_probed_stays_alive_as_long_as_its_shape() -> None:
    base, other = two_variants()
    BUILT.clear()
    shapes: dict[int, Shape | None] = {}
    prefix_groups([base, other], shapes)
    gc.collect()
    assert len(BUILT) == 2 and all(ref() is not None for ref in BUILT), "a probed Index was freed"
    assert BUILT[0]() is not BUILT[1]()
    shapes.clear()
    gc.collect()
    assert all(ref() is None for ref in BUILT), "shapes are the only holders: dropping them frees the probes"


SHARED_INDEX = Index(["shared"])


def test_closures_over_the_same_object_or_equal_plain_values_still_share() -> None:
    def late_answer(suffix: str) -> Callable[[S], dict[str, Any]]:
        def answer(state: S) -> dict[str, Any]:
            return {"answer": state["docs"][0] + suffix}

        return answer

    def graph(answer: Callable[[S], dict[str, Any]], k: str) -> StateGraph[Any]:
        g = StateGraph(S)
        g.add_node("retrieve", retriever(SHARED_INDEX))
        g.add_node("rerank", late_answer("".join(["-", k])))  # equal strings, built apart
        g.add_node("answer", answer)
        g.add_edge(START, "retrieve")
        g.add_edge("retrieve", "rerank")
        g.add_edge("rerank", "answer")
        g.add_edge("answer", END)
        return g

    base = wtb.variant(name="base", baseline=True)(lambda: graph(first, "k"))
    other = wtb.variant(name="other")(lambda: graph(last, "k"))
    groups = prefix_groups([base, other], {})
    assert [(g.members, g.fork_nodes) for g in groups] == [((base, other), ("answer",))]
