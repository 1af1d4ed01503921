"""Compile a variant's graph once per process while its factory keeps returning the same graph.

Each execution still calls the factory, so a model, a counter or a store the factory creates is that
execution's own. But compiling costs more than a small graph's whole run (LangGraph inspects every
node's signature when it compiles, and again on a compiled graph's first step), so when the new
builder is interchangeable with the one compiled before, the compiled graph is reused, as LangGraph
means compiled graphs to be: one graph, many concurrent invocations.

Interchangeable is strict: the same node functions (code, globals, and defaults and closure values
that are the very same objects or equal immutable values), edges, branches, schemas and node
settings. Anything else is compared by identity, so a builder that holds a fresh mutable object (a
model, a list, a ToolNode) is compiled anew: reuse never shares what an execution could change.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Final

_SCALARS: Final = (type(None), bool, int, float, complex, str, bytes, range, type(Ellipsis))
_MAX_DEPTH: Final = 8
_KEEP: Final = 128  # compiled graphs remembered per process (one per variant and interrupt setting)


def interchangeable(a: Any, b: Any) -> bool:
    """True when ``b`` would compile to a graph that behaves exactly as ``a``'s compiled graph."""
    try:
        return _same(a, b, 0, internal=True)
    except Exception:  # a comparison we did not foresee (an odd __eq__): not provably the same
        return False


def _same(a: Any, b: Any, depth: int, internal: bool) -> bool:
    if a is b:
        return True
    if type(a) is not type(b) or depth > _MAX_DEPTH:
        return False
    if isinstance(a, _SCALARS):
        return bool(a == b)
    if isinstance(a, tuple):  # NamedTuples too (BranchSpec, RetryPolicy): immutable, compare inside
        return len(a) == len(b) and all(_same(x, y, depth + 1, internal) for x, y in zip(a, b, strict=True))
    if isinstance(a, types.FunctionType):
        return _same_function(a, b, depth)
    if isinstance(a, functools.partial):  # LangGraph runs a sync node's function in an executor through one
        return (_same(a.func, b.func, depth + 1, False) and _same(a.args, b.args, depth + 1, False)
                and _same_values(a.keywords, b.keywords, depth))
    if isinstance(a, types.MethodType):
        return a.__self__ is b.__self__ and _same(a.__func__, b.__func__, depth + 1, False)
    if _is_graph_part(type(a)):
        return _same_fields(a, b, depth)
    if not internal:  # a user's own container or object: the very same one or nothing
        return False
    if isinstance(a, Mapping):
        return list(a) == list(b) and all(_same(a[k], b[k], depth + 1, internal) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y, depth + 1, internal) for x, y in zip(a, b, strict=True))
    if isinstance(a, set | frozenset):
        return all(_plain(x) for x in a) and a == b
    return False


def _plain(value: Any) -> bool:
    return isinstance(value, _SCALARS) or (isinstance(value, tuple) and all(_plain(v) for v in value))


def _same_function(a: types.FunctionType, b: types.FunctionType, depth: int) -> bool:
    if a.__code__ is not b.__code__ or a.__globals__ is not b.__globals__:
        return False
    if not _same(a.__defaults__, b.__defaults__, depth + 1, False):
        return False
    if not _same_values(a.__kwdefaults__ or {}, b.__kwdefaults__ or {}, depth):
        return False
    if not _same_values(a.__dict__, b.__dict__, depth):  # functools.wraps' __wrapped__ and the like
        return False
    cells_a, cells_b = a.__closure__ or (), b.__closure__ or ()
    return len(cells_a) == len(cells_b) and all(
        _same(_contents(x), _contents(y), depth + 1, False) for x, y in zip(cells_a, cells_b, strict=True)
    )


def _same_values(a: dict[str, Any], b: dict[str, Any], depth: int) -> bool:
    return list(a) == list(b) and all(_same(a[k], b[k], depth + 1, False) for k in a)


_EMPTY_CELL: Final = object()


def _contents(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # a variable the closure has not bound yet
        return _EMPTY_CELL


def _graph_part_types() -> tuple[type, ...]:
    from langgraph._internal._runnable import RunnableCallable
    from langgraph.graph import StateGraph
    from langgraph.graph._branch import BranchSpec
    from langgraph.graph._node import StateNodeSpec
    from langgraph.graph.state import _NodeDefaults
    from langgraph.types import CachePolicy, RetryPolicy

    return (StateGraph, StateNodeSpec, RunnableCallable, BranchSpec, CachePolicy, RetryPolicy, _NodeDefaults)


_parts: dict[type, bool] = {}
_slots: dict[type, tuple[str, ...]] = {}


def _is_graph_part(cls: type) -> bool:
    """LangGraph's own building blocks, whose fields are compared one by one. Exact classes only
    (a ToolNode is a RunnableCallable subclass with tools inside: identity)."""
    known = _parts.get(cls)
    if known is None:
        from langgraph.channels.base import BaseChannel

        known = cls in _graph_part_types() or (
            issubclass(cls, BaseChannel) and cls.__module__.startswith("langgraph.channels.")
        )
        _parts[cls] = known
    return known


def _same_fields(a: Any, b: Any, depth: int) -> bool:
    cls = type(a)
    slots = _slots.get(cls)
    if slots is None:
        slots = _slots[cls] = tuple(
            s for c in cls.__mro__ for s in getattr(c, "__slots__", ()) if s not in ("__weakref__", "__dict__")
        )
    for name in slots:
        if not _same(getattr(a, name, _EMPTY_CELL), getattr(b, name, _EMPTY_CELL), depth + 1, True):
            return False
    fields_a, fields_b = getattr(a, "__dict__", None), getattr(b, "__dict__", None)
    if fields_a is None or fields_b is None:
        return fields_a is fields_b
    return list(fields_a) == list(fields_b) and all(_same(v, fields_b[k], depth + 1, True) for k, v in fields_a.items())


def same_overrides(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    try:
        return list(a) == list(b) and all(_same(a[k], b[k], 0, False) for k in a)
    except Exception:
        return False


def pristine_copy(builder: Any) -> Any:
    """A copy of ``builder`` to compile: compiling writes into the builder and its node specs (its
    ``compiled`` flag, default retry and cache policies), and the original must stay as the factory made it."""
    patched = copy.copy(builder)
    patched.nodes = {name: dataclasses.replace(spec) for name, spec in builder.nodes.items()}
    return patched


@dataclasses.dataclass
class _Entry:
    builder: Any
    overrides: Mapping[str, Any]
    compiled: Any


class CompiledGraphs:
    """The last compiled graph of each (variant, interrupt setting) in this process."""

    def __init__(self, keep: int = _KEEP) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()

    def get(self, key: tuple[Any, ...], builder: Any, overrides: Mapping[str, Any],
            compile_fn: Callable[[Any], Any]) -> Any:
        """The compiled graph for ``builder``: the remembered one when interchangeable, else
        ``compile_fn(pristine_copy(builder))``, remembered for the next execution."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and interchangeable(entry.builder, builder) and same_overrides(entry.overrides, overrides):
            return entry.compiled
        compiled = compile_fn(pristine_copy(builder))
        with self._lock:
            self._entries[key] = _Entry(builder, dict(overrides), compiled)
            self._entries.move_to_end(key)
            while len(self._entries) > self._keep:
                self._entries.popitem(last=False)
        return compiled


compiled_graphs = CompiledGraphs()
