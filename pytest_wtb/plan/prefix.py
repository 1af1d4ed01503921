"""Which variants provably share a checkpoint prefix, and up to which nodes.

Variants qualify together when their graphs have the same topology (nodes, edges, branches with
the same routing callables, the same state schema) and differ only in some node callables. The
nodes whose callables differ are the fork points: a shared run interrupted before any of them has
executed only identical code on identical input, so forking its checkpoint into each variant's own
thread cannot change any variant's result. Anything we cannot prove equal (compiled graphs with
interrupts, unknown callables) is left to run from scratch.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_wtb.declare.variants import Variant
from pytest_wtb.errors import GraphBuildError
from pytest_wtb.execute.graphs import call_factory


class _Same:
    """Equal only to a _Same of the very same object. It holds that object, so the object (and with
    it its address) stays alive while the key exists: a freed object's id can be handed to a new
    object built by another factory, and an id() alone would then call two different objects equal."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __repr__(self) -> str:
        return f"_Same({type(self.obj).__name__})"


_VALUES = (int, float, str, bytes, bool, type(None))  # immutable: equal values behave the same


def _value_key(value: Any) -> Any:
    return ("value", type(value), value) if type(value) in _VALUES else _Same(value)


def _cell_key(cell: Any) -> Any:
    try:
        return _value_key(cell.cell_contents)
    except ValueError:  # a cell not yet filled
        return ("empty",)


def _callable_key(fn: Any) -> Any:
    """Equal keys mean provably the same behaviour: same code with identical captured objects."""
    if isinstance(fn, functools.partial):
        args = tuple(_value_key(a) for a in fn.args)
        keywords = tuple(sorted((k, _value_key(v)) for k, v in fn.keywords.items()))
        return ("partial", _callable_key(fn.func), args, keywords)
    code = getattr(fn, "__code__", None)
    if code is not None:
        cells = tuple(_cell_key(c) for c in (getattr(fn, "__closure__", None) or ()))
        defaults = tuple(_value_key(d) for d in (getattr(fn, "__defaults__", None) or ()))
        kwdefaults = tuple(sorted((k, _value_key(v)) for k, v in (getattr(fn, "__kwdefaults__", None) or {}).items()))
        # the same code in another module reads other globals
        context = (_Same(getattr(fn, "__globals__", None)), _Same(getattr(fn, "__self__", None)))
        return ("function", code, context, cells, defaults, kwdefaults)
    params: Any = vars(type(fn)).get("__dataclass_params__")
    if params is not None and params.frozen:
        return ("frozen", type(fn), fn)
    return ("object", _Same(fn))


def _runnable_target(runnable: Any) -> Any:
    return getattr(runnable, "func", None) or getattr(runnable, "afunc", None) or runnable


@dataclass(frozen=True)
class Shape:
    """A builder's topology, comparable across variants; node callables are kept apart."""

    topology: tuple[Any, ...]
    nodes: dict[str, Any]
    entry: frozenset[str]  # nodes START leads to; None-like (all nodes) when START branches
    # the probed graph, kept for the run: node metadata is compared by repr, which may name addresses
    probed: Any = field(default=None, compare=False, repr=False)


def shape_of(variant: Variant) -> Shape | None:
    """The variant's graph shape, or None when it cannot be proven comparable."""
    try:
        return _shape_of(variant)
    except Exception:  # anything we cannot read is simply not shared: it runs from scratch
        return None


def _shape_of(variant: Variant) -> Shape | None:
    from langgraph.graph import StateGraph

    try:
        graph = call_factory(variant)
    except GraphBuildError:
        return None
    if not isinstance(graph, StateGraph):
        builder = getattr(graph, "builder", None)
        if not isinstance(builder, StateGraph) or graph.interrupt_before_nodes or graph.interrupt_after_nodes:
            return None
        graph = builder
    if any(spec.cache_policy is not None for spec in graph.nodes.values()):
        return None  # a node cached in the shared prefix would miss in a fork's own cache, and run again
    nodes: dict[str, Any] = {}
    node_meta = []
    for name, spec in sorted(graph.nodes.items()):
        target = variant.node_overrides.get(name, _runnable_target(spec.runnable))
        nodes[name] = _callable_key(target)
        other = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name != "runnable"}
        node_meta.append((name, repr(sorted(other.items(), key=lambda kv: kv[0]))))
    branches = tuple(
        sorted(
            (src, name, _callable_key(_runnable_target(b.path)), repr(b.ends))
            for src, by_name in graph.branches.items()
            for name, b in by_name.items()
        )
    )
    topology = (
        _Same(graph.state_schema),
        tuple(sorted(graph.edges)),
        tuple(sorted((tuple(sorted(k)), v) for k, v in graph.waiting_edges)),
        branches,
        tuple(node_meta),
    )
    entry = frozenset(nodes) if "__start__" in graph.branches else frozenset(
        end for start, end in graph.edges if start == "__start__"
    )
    return Shape(topology, nodes, entry, graph)


def _all_equal(keys: list[Any]) -> bool:
    try:
        return len(set(keys)) == 1
    except TypeError:  # an unhashable frozen object: fall back to pairwise equality
        return all(k == keys[0] for k in keys)


@dataclass(frozen=True)
class PrefixGroup:
    members: tuple[Variant, ...]
    fork_nodes: tuple[str, ...]  # interrupt the shared run before any of these


def prefix_groups(variants: Sequence[Variant], shapes: dict[int, Shape | None]) -> list[PrefixGroup]:
    """Groups of >= 2 variants sharing topology; ``shapes`` caches shape_of per variant id."""
    by_topology: dict[Any, list[Variant]] = {}
    for v in variants:
        if id(v) not in shapes:
            shapes[id(v)] = shape_of(v)
        shape = shapes[id(v)]
        if shape is not None:
            by_topology.setdefault(shape.topology, []).append(v)
    groups = []
    for candidates in by_topology.values():
        members = _agreeing_at_entry(candidates, shapes)
        if len(members) < 2:
            continue
        node_shapes = [shapes[id(m)].nodes for m in members]  # type: ignore[union-attr]
        differing = tuple(sorted(n for n in node_shapes[0] if not _all_equal([s[n] for s in node_shapes])))
        if differing:
            groups.append(PrefixGroup(tuple(members), differing))
    return groups


def _agreeing_at_entry(members: list[Variant], shapes: dict[int, Shape | None]) -> list[Variant]:
    """The members with the most common callable at every entry node.

    A fork at an entry node shares nothing (the shared run would stop before any node), so a
    variant that replaces an entry node runs from scratch and the others still share.
    """
    if not members:
        return members
    for node in sorted(shapes[id(members[0])].entry):  # type: ignore[union-attr]
        keys = [shapes[id(m)].nodes[node] for m in members]  # type: ignore[union-attr]
        common = max(keys, key=lambda k: sum(1 for other in keys if other == k))
        members = [m for m, k in zip(members, keys, strict=True) if k == common]
    return members
