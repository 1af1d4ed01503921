"""When a factory's new graph may reuse the graph compiled before (graph_reuse.py): both sides of each
rule, since a wrong "same" would share a model or a list between executions."""

from __future__ import annotations

import functools
from typing import Any, TypedDict

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import CachePolicy, RetryPolicy

import pytest_wtb as wtb
from pytest_wtb.execute.graph_reuse import CompiledGraphs, interchangeable
from pytest_wtb.execute.graphs import compile_variant


class S(TypedDict, total=False):
    q: str
    out: str


class Other(TypedDict, total=False):
    q: str
    out: str


def upper(s: S) -> dict[str, Any]:
    return {"out": s["q"].upper()}


def lower(s: S) -> dict[str, Any]:
    return {"out": s["q"].lower()}


def route(s: S) -> str:
    return END


def chain(node: Any = upper, schema: Any = S, **node_kwargs: Any) -> StateGraph[Any]:
    g = StateGraph(schema)
    g.add_node("a", node, **node_kwargs)
    g.add_edge(START, "a")
    g.add_edge("a", END)
    return g


def closure_over(value: Any) -> StateGraph[Any]:
    def node(s: S) -> dict[str, Any]:
        return {"out": f"{s['q']}{value}"}

    return chain(node)


@tool
def lookup(topic: str) -> str:
    """Look a topic up."""
    return topic


class Holder:
    def node(self, s: S) -> dict[str, Any]:
        return {"out": s["q"]}


SHARED = Holder()


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda: chain(), "module-level node functions"),
        (lambda: closure_over(3), "a closure over an equal number"),
        (lambda: closure_over(("x", 1)), "a closure over an equal tuple of immutables"),
        (lambda: chain(SHARED.node), "a method of the same object"),
        (lambda: chain(retry_policy=RetryPolicy(max_attempts=2)), "equal retry policies"),
        (lambda: chain(cache_policy=CachePolicy(ttl=5)), "equal cache policies"),
        (lambda: chain(metadata={"team": "x"}), "equal node metadata"),
    ],
)
def test_interchangeable_builders(make: Any, why: str) -> None:
    assert interchangeable(make(), make()), why


def _with_branch(path: Any) -> StateGraph[Any]:
    g = chain()
    g.add_conditional_edges("a", path)
    return g


def _two_nodes(order: tuple[str, str]) -> StateGraph[Any]:
    g = StateGraph(S)
    for name in order:
        g.add_node(name, upper)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", END)
    return g


@pytest.mark.parametrize(
    ("left", "right", "why"),
    [
        (lambda: chain(upper), lambda: chain(lower), "another node function"),
        (lambda: closure_over(3), lambda: closure_over(4), "a closure over another number"),
        (lambda: closure_over([]), lambda: closure_over([]), "a closure over a fresh list each time"),
        (lambda: closure_over({}), lambda: closure_over({}), "a closure over a fresh dict each time"),
        (lambda: closure_over(FakeListChatModel(responses=["a"])), lambda: closure_over(FakeListChatModel(responses=["a"])),
         "a closure over a fresh model each time (its response index would be shared)"),
        (lambda: chain(Holder().node), lambda: chain(Holder().node), "methods of two objects"),
        (lambda: chain(ToolNode([lookup])), lambda: chain(ToolNode([lookup])), "a fresh ToolNode each time"),
        (lambda: chain(schema=S), lambda: chain(schema=Other), "another state schema"),
        (lambda: chain(retry_policy=RetryPolicy(max_attempts=2)), lambda: chain(retry_policy=RetryPolicy(max_attempts=3)),
         "another retry policy"),
        (lambda: chain(cache_policy=CachePolicy(ttl=5)), lambda: chain(), "a cache policy on one only"),
        (lambda: chain(metadata={"team": "x"}), lambda: chain(metadata={"team": "y"}), "other node metadata"),
        (lambda: _with_branch(route), lambda: chain(), "a branch on one only"),
        (lambda: _with_branch(route), lambda: _with_branch(lambda s: END), "another branch path"),
        (lambda: _two_nodes(("a", "b")), lambda: _two_nodes(("b", "a")), "nodes added in another order"),
    ],
)
def test_builders_that_are_not_interchangeable(left: Any, right: Any, why: str) -> None:
    assert not interchangeable(left(), right()), why


def test_defaults_keyword_defaults_and_wrappers_count() -> None:
    def make(default: Any, kw: Any) -> StateGraph[Any]:
        def node(s: S, extra: Any = default, *, more: Any = kw) -> dict[str, Any]:
            return {"out": s["q"]}

        return chain(node)

    assert interchangeable(make(1, "k"), make(1, "k"))
    assert not interchangeable(make(1, "k"), make(2, "k"))
    assert not interchangeable(make(1, "k"), make(1, "other"))
    assert not interchangeable(make([], "k"), make([], "k"))

    def wrapped(inner: Any) -> Any:
        @functools.wraps(inner)
        def node(s: S) -> dict[str, Any]:
            return dict(inner(s))

        return node

    assert interchangeable(chain(wrapped(upper)), chain(wrapped(upper)))
    assert not interchangeable(chain(wrapped(upper)), chain(wrapped(lower)))


def test_a_node_edited_after_the_factory_returned_is_compared() -> None:
    a, b = chain(), chain()
    b.add_node("extra", lower)
    b.add_edge("a", "extra")
    assert not interchangeable(a, b)


def test_same_code_in_another_module_is_not_the_same_function() -> None:
    namespace: dict[str, Any] = {}
    exec(compile("def upper(s):\n    return {'out': s['q'].upper()}\n", "elsewhere.py", "exec"), namespace)
    assert not interchangeable(chain(upper), chain(namespace["upper"]))


def test_compiled_once_while_interchangeable_and_the_builder_stays_untouched() -> None:
    graphs = CompiledGraphs()
    compiled: list[Any] = []

    def compile_fn(builder: Any) -> Any:
        compiled.append(builder)
        return builder.compile()

    first, second = chain(), chain()
    g1 = graphs.get(("m", "v", ()), first, {}, compile_fn)
    g2 = graphs.get(("m", "v", ()), second, {}, compile_fn)
    assert g1 is g2 and len(compiled) == 1
    assert compiled[0] is not first and first.compiled is False  # the factory's own builder was not compiled
    g3 = graphs.get(("m", "v", ()), chain(lower), {}, compile_fn)
    assert g3 is not g1 and len(compiled) == 2
    assert graphs.get(("m", "other", ()), chain(), {}, compile_fn) is not g1  # another variant, its own


def test_overrides_are_part_of_what_is_compared() -> None:
    graphs = CompiledGraphs()
    g1 = graphs.get(("m", "v", ()), chain(), {"a": lower}, lambda b: b.compile())
    assert graphs.get(("m", "v", ()), chain(), {"a": lower}, lambda b: b.compile()) is g1
    assert graphs.get(("m", "v", ()), chain(), {"a": upper}, lambda b: b.compile()) is not g1


def _counting_factory() -> StateGraph[Any]:
    seen: list[str] = []  # fresh per factory call: each execution must count from zero

    def node(s: S) -> dict[str, Any]:
        seen.append(s["q"])
        return {"out": str(len(seen))}

    return chain(node)


def _model_factory() -> StateGraph[Any]:
    model = FakeListChatModel(responses=["first", "second", "third"])

    def node(s: S) -> dict[str, Any]:
        return {"out": str(model.invoke([HumanMessage(s["q"])]).content)}

    return chain(node)


@pytest.mark.parametrize("factory", [_counting_factory, _model_factory])
def test_what_a_factory_creates_stays_each_executions_own(factory: Any) -> None:
    variant = wtb.variant(name=f"own-{factory.__name__}")(factory)
    outs = []
    for i in range(3):
        graph = compile_variant(variant, InMemorySaver())
        outs.append(graph.invoke({"q": "x"}, {"configurable": {"thread_id": f"t{i}"}})["out"])
    assert len(set(outs)) == 1, outs


def test_a_reused_graph_runs_each_execution_on_its_own_checkpointer() -> None:
    variant = wtb.variant(name="reused-chain")(chain)
    savers = [InMemorySaver(), InMemorySaver()]
    graphs = [compile_variant(variant, saver) for saver in savers]
    assert graphs[0] is not graphs[1]
    assert graphs[0].nodes["a"] is graphs[1].nodes["a"]  # the compiled nodes are shared: it was reused
    for i, graph in enumerate(graphs):
        assert graph.checkpointer is savers[i]
        assert graph.invoke({"q": "ab"}, {"configurable": {"thread_id": "t"}})["out"] == "AB"
    assert all(len(list(saver.list(None))) == 3 for saver in savers)
