"""One LangGraph store state per execution, so executions never see each other's writes.

A factory that compiles its graph with ``store=`` may hand every call the same store object (a module
global) or a fresh one; either way each execution runs on a private InMemoryStore holding what the
factory's store held when the factory returned (its seed), or, for a forked execution, exactly what
its shared prefix left. Items travel as plain data (namespace, key, value), so a fork on another
process or Ray actor starts from the same store state.
"""

from __future__ import annotations

from typing import Any

StoreItems = tuple[tuple[tuple[str, ...], str, Any], ...]

_ALL = 10**9  # BaseStore.search pages; a test store is never this large


def store_items(store: Any) -> StoreItems:
    """Every item of ``store``, sorted, as (namespace, key, value)."""
    items = store.search((), limit=_ALL)
    return tuple(sorted(((tuple(i.namespace), str(i.key), i.value) for i in items), key=lambda t: (t[0], t[1])))


def private_store(original: Any, seed: StoreItems | None) -> Any:
    """A fresh in-memory store with ``original``'s index settings, holding ``seed`` (default: what
    ``original`` holds now)."""
    from langgraph.store.memory import InMemoryStore

    fresh = InMemoryStore(index=getattr(original, "index_config", None))
    for namespace, key, value in store_items(original) if seed is None else seed:
        fresh.put(tuple(namespace), key, value)
    return fresh
