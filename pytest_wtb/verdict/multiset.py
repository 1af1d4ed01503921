"""Multiset matching under the parity verdict: which elements of two lists have no partner.

For ``wtb.unordered()``: exactly equal elements pair up through a hashable canonical form in linear
time; only what is left (float noise within tolerance, the real differences) is paired pairwise by
the parity verdict itself, so "equal" means what it means everywhere else in a parity check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.verdict import messages
from pytest_wtb.verdict.compare import compare, short


def same(a: Any, b: Any) -> bool:
    """Equal under the default verdict: messages by meaning, tuples like lists, float noise ignored."""
    return not compare({"": a}, {"": b}, ParitySpec())


def _is_seq(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def multiset_difference(a: list[Any], b: list[Any]) -> tuple[list[Any], list[Any]]:
    """(elements of a not matched in b, elements of b not matched in a), matching each element once."""
    exact: dict[Any, list[int]] = {}
    for j, y in enumerate(b):
        if (key := _canonical(y, exact=True)) is not None:
            exact.setdefault(key, []).append(j)
    unmatched = set(range(len(b)))
    rest = []
    for x in a:
        slots = exact.get(_canonical(x, exact=True))
        if slots:
            unmatched.discard(slots.pop())
        else:
            rest.append(x)
    # what is left is paired by the verdict, but only within elements of the same shape
    shapes: dict[Any, list[int]] = {}
    for j in sorted(unmatched):
        shapes.setdefault(_canonical(b[j], exact=False), []).append(j)
    missing = []
    for x in rest:
        pool = shapes.get(_canonical(x, exact=False), [])
        i = next((i for i, j in enumerate(pool) if same(x, b[j])), None)
        if i is None:
            missing.append(x)
        else:
            unmatched.discard(pool.pop(i))
    return missing, [b[j] for j in sorted(unmatched)]


def _canonical(value: Any, *, exact: bool) -> Any:
    """A hashable form of ``value``.

    exact: equal only for values the verdict calls equal, None when there is no such form (floats
    within tolerance, unknown objects). Not exact, a shape: equal for any two values the verdict may
    call equal (numbers all alike, other objects by type), never None.
    Numbers share one tag (1 == 1.0 for the verdict too); other scalars are tagged with their exact
    type (the verdict tells str from a str subclass); lists and tuples alike; dicts by their items.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ("n", value) if exact else ("n",)
    if value is None or isinstance(value, str | bytes | bool):
        return (type(value), value)
    if messages.is_message(value):  # by what the verdict sees of it: no ids, no provider metadata
        view = _canonical(messages.view(value), exact=exact)
        return None if view is None else ("m", view)
    if _is_seq(value):
        items = tuple(_canonical(v, exact=exact) for v in value)
        return None if None in items else ("l", items)
    if isinstance(value, Mapping):
        pairs = frozenset((k, _canonical(v, exact=exact)) for k, v in value.items())
        return None if any(c is None for _, c in pairs) else ("d", pairs)
    return None if exact else ("o", type(value))


def describe(values: list[Any], limit: int = 3) -> str:
    """A few elements as a failure shows them (messages as what they say and call)."""
    shown = ", ".join(short(v, 60) for v in values[:limit])
    return f"[{shown}{f', ... {len(values) - limit} more' if len(values) > limit else ''}]"
