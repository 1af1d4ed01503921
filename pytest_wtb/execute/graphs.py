"""Turn a Variant into a compiled graph with a given checkpointer.

Each execution calls the factory anew, so nothing mutable is shared between executions; its output
is compiled anew unless it is interchangeable with what the factory returned before
(graph_reuse.py). Node replacement swaps the ``runnable`` of the node's spec on a shallow copy of
the builder; LangGraph has no public API for this, hence the pinned minor version.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, Any

from pytest_wtb.declare.variants import Variant
from pytest_wtb.errors import GraphBuildError
from pytest_wtb.execute.graph_reuse import compiled_graphs
from pytest_wtb.execute.stores import private_store
from pytest_wtb.store.allowlist import allow_graph_types

if TYPE_CHECKING:
    from langgraph.graph import StateGraph
    from langgraph.pregel import Pregel


def _coerce(fn: Any, name: str) -> Any:
    from langgraph._internal._runnable import coerce_to_runnable

    return coerce_to_runnable(fn, name=name, trace=False)


def call_factory(variant: Variant) -> Any:
    from langgraph.graph import StateGraph
    from langgraph.pregel import Pregel

    try:
        graph = variant.factory()
    except Exception as exc:
        raise GraphBuildError(
            f"variant '{variant.name}': its factory raised {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(graph, StateGraph | Pregel):
        raise GraphBuildError(
            f"variant '{variant.name}': its factory returned {type(graph).__name__}, "
            "expected a langgraph StateGraph (uncompiled) or a compiled graph"
        )
    return graph


def node_names(graph: StateGraph[Any] | Pregel[Any, Any, Any, Any]) -> list[str]:
    from langgraph.graph import StateGraph
    from langgraph.pregel import Pregel

    builder = graph if isinstance(graph, StateGraph) else getattr(graph, "builder", None)
    if isinstance(builder, StateGraph):
        return list(builder.nodes)
    return [n for n in graph.nodes if not n.startswith("__")] if isinstance(graph, Pregel) else []


def _replace_nodes(builder: StateGraph[Any], variant: Variant) -> StateGraph[Any]:
    unknown = [n for n in variant.node_overrides if n not in builder.nodes]
    if unknown:
        known = ", ".join(sorted(builder.nodes)) or "(none)"
        raise GraphBuildError(
            f"variant '{variant.name}': with_nodes() replaces {', '.join(map(repr, unknown))}, "
            f"which the graph of '{variant.base_name}' does not have; its nodes are: {known}"
        )
    patched = copy.copy(builder)
    patched.nodes = dict(builder.nodes)
    for name, fn in variant.node_overrides.items():
        patched.nodes[name] = dataclasses.replace(builder.nodes[name], runnable=_coerce(fn, name))
    return patched


# what a compiled factory chose beyond its nodes: a with_nodes variant is compiled with the same
SETTINGS = ("config", "retry_policy", "cache_policy", "step_timeout", "stream_mode", "stream_eager", "debug")


def compile_variant(
    variant: Variant,
    checkpointer: Any,
    graph: Any = None,
    interrupt_before: tuple[str, ...] = (),
) -> Pregel[Any, Any, Any, Any]:
    """A freshly compiled graph of ``variant`` that checkpoints into ``checkpointer``, with every
    compile-time setting its factory chose and a private store holding what the factory's store held
    (see stores.py; a fork re-seeds it with what its prefix left, worker.begin).

    ``interrupt_before`` is for shared-prefix runs only: it replaces any interrupts of the graph.
    """
    graph = call_factory(variant) if graph is None else graph
    # what its schemas declare, this graph's checkpoints may hold: let store reads revive those types
    allow_graph_types(graph)
    try:
        compiled = _compile(variant, graph, checkpointer, interrupt_before)
        if compiled.store is not None:
            compiled = rebound(compiled, store=private_store(compiled.store, None))
        return compiled
    except GraphBuildError:
        raise
    except Exception as exc:
        raise GraphBuildError(
            f"variant '{variant.name}': compiling its graph failed with {type(exc).__name__}: {exc}"
        ) from exc


def _compile(
    variant: Variant, graph: Any, checkpointer: Any, interrupt_before: tuple[str, ...]
) -> Pregel[Any, Any, Any, Any]:
    from langgraph.graph import StateGraph

    if isinstance(graph, StateGraph):
        def compile_builder(builder: StateGraph[Any]) -> Pregel[Any, Any, Any, Any]:
            builder = _replace_nodes(builder, variant) if variant.node_overrides else builder
            return builder.compile(interrupt_before=list(interrupt_before) or None)

        key = (variant.module, variant.name, interrupt_before)
        compiled = compiled_graphs.get(key, graph, variant.node_overrides, compile_builder)
        parts: dict[str, Any] = {"checkpointer": checkpointer}
        # a CachePolicy on a node means "cache me": give each execution its own cache to do it in
        if any(n.cache_policy is not None for n in compiled.builder.nodes.values()):
            parts["cache"] = _new_cache()
        return rebound(compiled, **parts)
    if not variant.node_overrides:
        update: dict[str, Any] = {"checkpointer": checkpointer}
        if interrupt_before:
            update["interrupt_before_nodes"] = list(interrupt_before)
        copied: Pregel[Any, Any, Any, Any] = graph.copy(update=update)
        return copied
    compiled_builder = getattr(graph, "builder", None)
    if not isinstance(compiled_builder, StateGraph):
        raise GraphBuildError(
            f"variant '{variant.name}': with_nodes() needs a StateGraph, and the compiled graph of "
            f"'{variant.base_name}' does not expose its builder"
        )
    rebuilt = _replace_nodes(compiled_builder, variant).compile(
        checkpointer=checkpointer,
        cache=graph.cache,
        store=graph.store,
        interrupt_before=list(interrupt_before) or graph.interrupt_before_nodes or None,
        interrupt_after=graph.interrupt_after_nodes or None,
        name=graph.name,
        transformers=getattr(graph, "stream_transformers", None),
    )
    kept: Pregel[Any, Any, Any, Any] = rebuilt.copy(
        update={k: getattr(graph, k) for k in SETTINGS if hasattr(graph, k)}
    )
    return kept


def rebound(graph: Pregel[Any, Any, Any, Any], **parts: Any) -> Pregel[Any, Any, Any, Any]:
    """``graph`` with another checkpointer, cache or store: a copy sharing its validated nodes and
    channels (validating again would check what has not changed, once per execution)."""
    assert set(parts) <= {"checkpointer", "cache", "store"}, parts
    copied: Pregel[Any, Any, Any, Any] = graph.copy(update={**parts, "auto_validate": False})
    return copied


def _new_cache() -> Any:
    from langgraph.cache.memory import InMemoryCache

    return InMemoryCache()


def needs_async(graph: Any) -> bool:
    """True when some node can only run through LangGraph's async API (an ``async def`` node, a
    ToolNode with an async-only tool, a subgraph holding one)."""
    if any(_async_only(node.bound, 0) for name, node in graph.nodes.items() if not name.startswith("__")):
        return True
    builder = getattr(graph, "builder", None)  # routers (conditional edges) are async too, sometimes
    branches = getattr(builder, "branches", None) or {}
    return any(_async_only(b.path, 0) for by_name in branches.values() for b in by_name.values())


def _async_only(runnable: Any, depth: int) -> bool:
    from langgraph.pregel import Pregel

    if depth > 8:
        return False
    if isinstance(runnable, Pregel):
        return needs_async(runnable)
    tools = getattr(runnable, "tools_by_name", None)
    if isinstance(tools, dict) and any(
        getattr(t, "func", 1) is None and getattr(t, "coroutine", None) is not None for t in tools.values()
    ):
        return True
    if hasattr(runnable, "afunc") and getattr(runnable, "func", None) is None:
        return True
    steps = getattr(runnable, "steps", None) or list(getattr(runnable, "steps__", {}).values())
    return any(_async_only(step, depth + 1) for step in steps)


def validate_variant(variant: Variant) -> Pregel[Any, Any, Any, Any]:
    """Collection-time check: the factory runs, returns a graph, and replaced nodes exist."""
    return compile_variant(variant, checkpointer=None)
