"""Hypothesis strategies for graph inputs: ``wtb.strategies.inputs(variant, keys=[...], field=strategy)``.

Imported on first use of ``wtb.strategies`` (it imports Hypothesis); the plugin never imports it.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from pytest_wtb.declare.variants import Variant
from pytest_wtb.errors import DeclarationError
from pytest_wtb.execute.graphs import call_factory

__all__ = ["input_schema", "inputs"]


def input_schema(variant: Variant) -> Any:
    """The input schema of the variant's graph (``StateGraph(State, input_schema=...)``, else its state)."""
    from langgraph.graph import StateGraph

    graph = call_factory(variant)
    builder = graph if isinstance(graph, StateGraph) else getattr(graph, "builder", None)
    if not isinstance(builder, StateGraph):
        raise DeclarationError(
            f"variant '{variant.name}': its compiled graph does not expose its StateGraph, so its input "
            "schema is unknown; pass a strategy to @wtb.cases(strategy=...) instead"
        )
    return builder.input_schema


def inputs(
    variant: Variant, /, *, keys: Sequence[str] | None = None, **fields: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Graph inputs for ``variant`` drawn from its graph's input schema.

    A TypedDict schema gives dicts: each key from ``st.from_type`` of its annotation, or from the
    strategy passed for it in ``fields``. Required keys are always present, ``total=False`` keys
    sometimes; ``keys=`` draws exactly those keys instead. Other schemas (pydantic models,
    dataclasses) use ``st.builds(schema, **fields)``. The graph factory runs when the first input
    is drawn, not at import.
    """
    if isinstance(keys, str):
        raise DeclarationError(f"inputs(keys=...) takes a list of state keys, got the string {keys!r}")
    chosen = tuple(keys) if keys is not None else None
    return st.deferred(lambda: _from_schema(variant, chosen, fields))


def _from_schema(
    variant: Variant, keys: tuple[str, ...] | None, fields: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[Any]:
    schema = input_schema(variant)
    if not typing.is_typeddict(schema):
        if keys is not None:
            raise DeclarationError(f"inputs(keys=...) needs a TypedDict input schema; {schema!r} is not one")
        if dataclasses.is_dataclass(schema) or hasattr(schema, "model_fields"):
            return st.builds(schema, **fields)
        return st.from_type(schema)
    hints = typing.get_type_hints(schema)
    unknown = sorted((set(keys or ()) | set(fields)) - set(hints))
    if unknown:
        raise DeclarationError(
            f"variant '{variant.name}': {', '.join(map(repr, unknown))} not in the input schema "
            f"{schema.__name__}; its keys: {', '.join(hints) or '(none)'}"
        )

    def strategy(key: str) -> st.SearchStrategy[Any]:
        if key in fields:
            return fields[key]
        if hints[key] is int:  # the checkpoint serializer (msgpack) stores 64-bit integers only
            return st.integers(-(2**63), 2**63 - 1)
        return st.from_type(hints[key])

    if keys is not None:
        return st.fixed_dictionaries({k: strategy(k) for k in keys})
    required = getattr(schema, "__required_keys__", frozenset(hints))
    return st.fixed_dictionaries(
        {k: strategy(k) for k in hints if k in required},
        optional={k: strategy(k) for k in hints if k not in required},
    )
