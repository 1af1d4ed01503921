"""Which types a store read may revive: LangGraph's safe set, the types the graphs compiled in this
process declare, and the ones the user allows (``wtb_allowed_types`` / ``WTB_ALLOWED_TYPES``).

Light on purpose (no LangGraph import at module level): settings parse these names at plugin load.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from typing import Any, Final

from pytest_wtb.errors import ConfigError

ALLOWED_TYPES_ENV: Final = "WTB_ALLOWED_TYPES"
ALLOWED_TYPES_INI: Final = "wtb_allowed_types"
_ENTRY: Final = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")

TypeKey = tuple[str, str]  # (module, class name), as LangGraph's msgpack extensions name a type


def parse_type_names(text: str, source: str = f"--wtb-allowed-types / {ALLOWED_TYPES_INI}") -> frozenset[TypeKey]:
    """``module:Class`` entries separated by commas, spaces or newlines."""
    found: set[TypeKey] = set()
    for entry in re.split(r"[\s,]+", text.strip()):
        if not entry:
            continue
        if not _ENTRY.fullmatch(entry):
            raise ConfigError(f"{source}: {entry!r} is not a type name; write module:Class, e.g. myapp.models:Ticket")
        module, name = entry.split(":")
        found.add((module, name))
    return frozenset(found)


class _Registry:
    """The types this process revives beyond LangGraph's safe set; it only ever grows (like an
    import cache), so a serializer built before a graph was compiled still follows it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.types: frozenset[TypeKey] = frozenset()
        self.configured: frozenset[TypeKey] = frozenset()  # what the user allowed: worker processes get it
        self.seen_schemas: set[Any] = set()
        self._env: tuple[str, frozenset[TypeKey]] = ("", frozenset())
        self._allowed: tuple[tuple[frozenset[TypeKey], frozenset[TypeKey]], frozenset[TypeKey]] | None = None

    def add(self, types: Iterable[TypeKey], configured: bool = False) -> None:
        new = frozenset(types)
        with self.lock:
            if configured:
                self.configured |= new
            if not new <= self.types:
                self.types |= new

    def env_types(self) -> frozenset[TypeKey]:
        text = os.environ.get(ALLOWED_TYPES_ENV, "")
        cached_text, cached = self._env
        if text != cached_text:
            cached = parse_type_names(text, ALLOWED_TYPES_ENV)
            self._env = (text, cached)
        return cached

    def allowed(self) -> frozenset[TypeKey]:
        key = (self.types, self.env_types())
        cached = self._allowed
        if cached is None or cached[0] != key:
            from langgraph.checkpoint.serde._msgpack import SAFE_MSGPACK_TYPES

            safe = frozenset((t[0], t[1]) for t in SAFE_MSGPACK_TYPES if len(t) == 2)
            cached = self._allowed = (key, safe | key[0] | key[1])
        return cached[1]


_registry = _Registry()


def allowed_types() -> frozenset[TypeKey]:
    """Every type a store read in this process may revive right now (the same object until it grows)."""
    return _registry.allowed()


def allow_types(types: Iterable[TypeKey]) -> None:
    """Allow these user types in every store read of this process (``wtb_allowed_types``)."""
    _registry.add(types, configured=True)


def configured_types_env() -> dict[str, str]:
    """``WTB_ALLOWED_TYPES`` for worker processes (Ray actors), so they revive what the driver does."""
    names = _registry.env_types() | _registry.configured
    return {ALLOWED_TYPES_ENV: ",".join(f"{m}:{n}" for m, n in sorted(names))} if names else {}


def allow_graph_types(graph: Any) -> None:
    """Allow the types ``graph`` (a StateGraph, or a compiled graph with its builder) declares in its
    state, input, output, context, node and branch schemas: the set LangGraph's strict mode allows.
    The user's own code named them, so reviving them runs nothing the graph would not run anyway."""
    from langgraph.graph import StateGraph

    builder = graph if isinstance(graph, StateGraph) else getattr(graph, "builder", None)
    if not isinstance(builder, StateGraph):
        return
    schemas = [builder.state_schema, builder.input_schema, builder.output_schema, builder.context_schema]
    schemas += [node.input_schema for node in builder.nodes.values()]
    schemas += [b.input_schema for branches in builder.branches.values() for b in branches.values()]
    fresh: list[type[Any]] = []
    for schema in schemas:
        if schema is None or schema in fresh:
            continue
        try:
            if schema in _registry.seen_schemas:  # every execution compiles: walk each schema once
                continue
        except TypeError:  # unhashable: walked every time
            pass
        fresh.append(schema)
    if not fresh:
        return
    try:
        from langgraph._internal._serde import collect_allowlist_from_schemas

        found = collect_allowlist_from_schemas(schemas=fresh)
    except Exception:  # LangGraph moved it, or cannot walk a schema: such types need wtb_allowed_types
        return
    _registry.add((t[0], t[1]) for t in found if len(t) == 2)
    with _registry.lock:
        for schema in fresh:
            try:
                _registry.seen_schemas.add(schema)
            except TypeError:
                pass
