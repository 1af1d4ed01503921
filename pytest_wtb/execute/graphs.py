"""Turn a Variant into a compiled graph with a given checkpointer.

Each execution calls the factory anew and compiles its own graph, so nothing mutable is shared
between executions. Node replacement swaps the ``runnable`` of the node's spec on a shallow copy of
the builder; LangGraph has no public API for this, hence the pinned minor version.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, Any

from pytest_wtb.declare.variants import Variant
from pytest_wtb.errors import GraphBuildError
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


def compile_variant(
    variant: Variant, checkpointer: Any, graph: Any = None, interrupt_before: tuple[str, ...] = ()
) -> Pregel[Any, Any, Any, Any]:
    """A freshly compiled graph of ``variant`` that checkpoints into ``checkpointer``.

    ``interrupt_before`` is for shared-prefix runs only: it replaces any interrupts of the graph.
    """
    from langgraph.graph import StateGraph

    graph = call_factory(variant) if graph is None else graph
    # what its schemas declare, this graph's checkpoints may hold: let store reads revive those types
    allow_graph_types(graph)
    try:
        if isinstance(graph, StateGraph):
            builder = _replace_nodes(graph, variant) if variant.node_overrides else graph
            return builder.compile(checkpointer=checkpointer, interrupt_before=list(interrupt_before) or None)
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
        return _replace_nodes(compiled_builder, variant).compile(
            checkpointer=checkpointer,
            interrupt_before=list(interrupt_before) or graph.interrupt_before_nodes or None,
            interrupt_after=graph.interrupt_after_nodes or None,
            name=graph.name,
        )
    except GraphBuildError:
        raise
    except Exception as exc:
        raise GraphBuildError(
            f"variant '{variant.name}': compiling its graph failed with {type(exc).__name__}: {exc}"
        ) from exc


def validate_variant(variant: Variant) -> None:
    """Collection-time check: the factory runs, returns a graph, and replaced nodes exist."""
    compile_variant(variant, checkpointer=None)
