"""The async path below the plugin: which graphs need LangGraph's async API, the bounded loop, an
async execution's outcome and timeout, and what compile_variant keeps of a factory's compile settings."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, TypedDict

import pytest
from langchain_core.tools import tool
from langgraph.cache.memory import InMemoryCache
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.store.memory import InMemoryStore

import pytest_wtb as wtb
from pytest_wtb.declare.variants import Case
from pytest_wtb.execute.aio import LoopRunner
from pytest_wtb.execute.graphs import compile_variant, needs_async
from pytest_wtb.execute.stores import private_store, store_items
from pytest_wtb.execute.worker import execute
from pytest_wtb.model import ExecutionSpec
from pytest_wtb.plan.executions import ExecutionRequest, make_plan


class S(TypedDict, total=False):
    q: str
    out: str


def upper(s: S) -> dict[str, Any]:
    return {"out": s["q"].upper()}


async def aupper(s: S) -> dict[str, Any]:
    await asyncio.sleep(0.01)
    return {"out": s["q"].upper()}


async def forever(s: S) -> dict[str, Any]:
    await asyncio.Event().wait()
    return {}


@tool
async def async_only(topic: str) -> str:
    """An async-only tool."""
    return topic


@tool
def sync_tool(topic: str) -> str:
    """A sync tool."""
    return topic


def graph_of(node: Any, compiled: bool = True, **compile_kwargs: Any) -> Any:
    g = StateGraph(S)
    g.add_node("work", node)
    g.add_edge(START, "work")
    g.add_edge("work", END)
    return g.compile(**compile_kwargs) if compiled else g


def spec_for(variant: wtb.Variant, q: str = "ab", timeout: float | None = None) -> ExecutionSpec:
    return make_plan("r", [ExecutionRequest("m", variant, Case(q, {"q": q}))], timeout).specs[0]


@pytest.mark.parametrize(
    ("node", "expected"),
    [(upper, False), (aupper, True), (ToolNode([async_only]), True), (ToolNode([sync_tool]), False),
     (graph_of(aupper), True), (graph_of(upper), False)],
    ids=["sync", "async-def", "toolnode-async-tool", "toolnode-sync-tool", "async-subgraph", "sync-subgraph"],
)
def test_needs_async_finds_async_only_nodes_at_any_depth(node: Any, expected: bool) -> None:
    assert needs_async(graph_of(node)) is expected


def test_needs_async_sees_a_with_nodes_replacement() -> None:
    base = wtb.variant(name="base")(lambda: graph_of(upper, compiled=False))
    assert not needs_async(compile_variant(base, None))
    assert needs_async(compile_variant(base.with_nodes({"work": aupper}, name="aio"), None))


def test_an_async_execution_succeeds_with_its_state_and_nodes() -> None:
    variant = wtb.variant(name="aio")(lambda: graph_of(aupper, compiled=False))
    result = execute(spec_for(variant), InMemorySaver(), backend="t")
    assert result.status == "succeeded", result.error
    assert result.state == {"q": "ab", "out": "AB"} and result.checkpoint_id
    assert [n.node for n in result.nodes] == ["work"]


def test_an_async_timeout_is_a_real_cancel_naming_the_node() -> None:
    variant = wtb.variant(name="stuck")(lambda: graph_of(forever, compiled=False))
    result = execute(spec_for(variant, timeout=0.2), InMemorySaver(), backend="t")
    assert result.status == "timed_out"
    assert result.error is not None and result.error.node == "work"
    assert "--wtb-timeout=0.2" in result.error.message and "'work'" in result.error.message
    assert result.duration_s < 5


def test_loop_runner_keeps_at_most_concurrency_in_flight() -> None:
    runner = LoopRunner(concurrency=2, name="wtb-test-loop")
    lock, now, peak = threading.Lock(), [0], [0]

    async def job(i: int) -> int:
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        await asyncio.sleep(0.02)
        with lock:
            now[0] -= 1
        return i

    try:
        futures = [runner.submit(lambda i=i: job(i)) for i in range(6)]
        assert [f.result(timeout=10) for f in futures] == list(range(6))
    finally:
        runner.close()
    assert peak[0] == 2


def test_loop_runner_close_cancels_what_is_still_running() -> None:
    runner = LoopRunner(concurrency=4, name="wtb-test-loop")
    started, held, gate, cancelled = threading.Event(), threading.Event(), threading.Event(), threading.Event()

    async def hang() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def hold() -> None:
        held.set()
        gate.wait(10)  # keeps the loop thread busy so close() queues all its callbacks at once

    future = runner.submit(hang)
    assert started.wait(10)
    runner.submit(hold)
    assert held.wait(10)
    runner.close()
    gate.set()
    assert cancelled.wait(5), "close() must deliver the cancel: a node's finally/cleanup must run"
    with pytest.raises(BaseException) as caught:  # CancelledError is a BaseException
        future.result(timeout=5)
    assert type(caught.value).__name__ == "CancelledError"


def test_private_store_copies_the_seed_and_never_writes_back() -> None:
    original = InMemoryStore()
    original.put(("profile",), "u", {"notes": ["seed"]})
    copy = private_store(original, None)
    assert copy is not original
    copy.put(("profile",), "u", {"notes": ["seed", "mine"]})
    assert store_items(original) == ((("profile",), "u", {"notes": ["seed"]}),)
    assert store_items(copy) == ((("profile",), "u", {"notes": ["seed", "mine"]}),)
    forked = private_store(original, store_items(copy))  # a fork: the prefix's items, not the seed
    assert forked.get(("profile",), "u").value == {"notes": ["seed", "mine"]}


def test_compile_variant_keeps_compile_settings_for_the_variant_and_its_with_nodes_twin() -> None:
    store, cache = InMemoryStore(), InMemoryCache()
    store.put(("ns",), "k", {"v": 1})

    def factory() -> Any:
        compiled = graph_of(upper, store=store, cache=cache, interrupt_before=["work"], name="my_agent")
        return compiled.with_config(recursion_limit=7, tags=["mine"])

    base = wtb.variant(name="base")(factory)
    for variant in (base, base.with_nodes({"work": aupper}, name="twin")):
        graph = compile_variant(variant, InMemorySaver())
        assert graph.name == "my_agent", variant.name
        assert graph.cache is cache, variant.name
        assert graph.interrupt_before_nodes == ["work"], variant.name
        assert graph.config is not None and graph.config.get("recursion_limit") == 7, variant.name
        assert graph.config.get("tags") == ["mine"], variant.name
        # a private copy holding the factory's seed
        assert graph.store is not None and graph.store is not store, variant.name
        assert store_items(graph.store) == ((("ns",), "k", {"v": 1}),), variant.name


def test_compile_variant_keeps_interrupt_after_and_step_timeout_for_a_with_nodes_twin() -> None:
    def factory() -> Any:
        compiled = graph_of(upper, interrupt_after=["work"])
        compiled.step_timeout = 5.0
        return compiled

    twin = wtb.variant(name="base")(factory).with_nodes({"work": aupper}, name="twin")
    graph = compile_variant(twin, None)
    assert graph.interrupt_after_nodes == ["work"]
    assert graph.step_timeout == 5.0


def test_an_uncompiled_factory_with_a_cache_policy_gets_its_own_cache_per_compile() -> None:
    from langgraph.types import CachePolicy

    def factory() -> Any:
        g = StateGraph(S)
        g.add_node("work", upper, cache_policy=CachePolicy())
        g.add_edge(START, "work")
        g.add_edge("work", END)
        return g

    variant = wtb.variant(name="cached")(factory)
    first, second = compile_variant(variant, None), compile_variant(variant, None)
    assert first.cache is not None and second.cache is not None
    assert first.cache is not second.cache
    plain = wtb.variant(name="plain")(lambda: graph_of(upper, compiled=False))
    assert compile_variant(plain, None).cache is None


async def aroute(s: S) -> str:
    return "finish"


def test_needs_async_sees_an_async_conditional_edge() -> None:
    g = StateGraph(S)
    g.add_node("work", upper)
    g.add_node("finish", upper)
    g.add_edge(START, "work")
    g.add_conditional_edges("work", aroute, ["finish"])
    g.add_edge("finish", END)
    # LangGraph's sync API refuses this graph ("No synchronous function provided to aroute")
    assert needs_async(g.compile())

