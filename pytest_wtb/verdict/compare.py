"""Compare two final states: nested dicts and lists, floats within tolerance, LangChain messages by
what they say and do (see messages.py), and a comparator of the spec's where one is given for a key.

Pure functions. Tuples and lists compare alike because the checkpoint serializer turns tuples into
lists: a state read back from the store must equal the one produced in memory.

The comparator hook: for a top-level key with ``spec.comparator(key)``, ``comparator(baseline_value,
value)`` decides; True agrees, False or a string (the reason) differs and becomes one Difference at
that key carrying the reason. A key missing on one side differs without asking the comparator (it
cannot judge a value that is not there), unless the comparator has a true ``handles_missing``
attribute: then it is called with MISSING for the absent side (``wtb.ignore()`` uses this). A
comparator that raises is a ComparatorError naming the key and the comparator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_wtb.declare.parity import Comparator, ParitySpec
from pytest_wtb.errors import ComparatorError
from pytest_wtb.verdict import messages


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Difference:
    path: str
    baseline: Any
    other: Any
    reason: str | None = None  # a comparator's word on how the two differ


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _diff(path: str, a: Any, b: Any, rel_tol: float, abs_tol: float, out: list[Difference]) -> None:
    if messages.is_message(a) or messages.is_message(b):
        if messages.is_message(a) and messages.is_message(b) and messages.message_type(a) == messages.message_type(b):
            _diff(path, messages.view(a), messages.view(b), rel_tol, abs_tol, out)
        else:
            out.append(Difference(path, a, b))
        return
    if _is_number(a) and _is_number(b):
        if isinstance(a, float) or isinstance(b, float):
            if math.isnan(a) and math.isnan(b):
                return
            if not math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol):
                out.append(Difference(path, a, b))
        elif a != b:
            out.append(Difference(path, a, b))
        return
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in list(a) + [k for k in b if k not in a]:
            _diff(_join(path, key), a.get(key, MISSING), b.get(key, MISSING), rel_tol, abs_tol, out)
        return
    if _is_seq(a) and _is_seq(b):
        if any(map(messages.is_message, a)) or any(map(messages.is_message, b)):
            _diff_conversation(path, a, b, rel_tol, abs_tol, out)
            return
        for i in range(max(len(a), len(b))):
            _diff(
                _join(path, i),
                a[i] if i < len(a) else MISSING,
                b[i] if i < len(b) else MISSING,
                rel_tol,
                abs_tol,
                out,
            )
        return
    if type(a) is not type(b) or a != b:
        out.append(Difference(path, a, b))


def _diff_conversation(
    path: str, a: Sequence[Any], b: Sequence[Any], rel_tol: float, abs_tol: float, out: list[Difference]
) -> None:
    """Message lists position by position; a message against one of another type, a non-message or
    nothing is one Difference holding both whole messages, since their fields have nothing to pair with."""
    va, vb = messages.conversation_views(path, a), messages.conversation_views(path, b)
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else MISSING
        y = b[i] if i < len(b) else MISSING
        if messages.is_message(x) and messages.is_message(y) and va[i]["type"] == vb[i]["type"]:
            _diff(_join(path, i), va[i], vb[i], rel_tol, abs_tol, out)
        else:
            _diff(_join(path, i), x, y, rel_tol, abs_tol, out)  # types differ: one whole Difference


def _judge(key: str, comparator: Comparator, a: Any, b: Any) -> Difference | None:
    if (a is MISSING or b is MISSING) and not getattr(comparator, "handles_missing", False):
        return None if a is b else Difference(key, a, b, "missing on one side")
    try:
        verdict = comparator(a, b)
    except Exception as exc:
        raise ComparatorError(
            f"parity: comparator {_name(comparator)} for key {key!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(verdict, str):
        return Difference(key, a, b, verdict or f"{_name(comparator)} said they differ")
    if isinstance(verdict, bool) or type(verdict).__name__ == "bool_":  # numpy's bool is no bool
        return None if verdict else Difference(key, a, b, f"{_name(comparator)} said they differ")
    raise ComparatorError(
        f"parity: comparator {_name(comparator)} for key {key!r} returned {short(verdict)}; "
        "a comparator returns True (agree), False or a string saying how they differ"
    )


def _name(comparator: Comparator) -> str:
    """How a failure names a comparator: its repr when it has one of its own, else its qualified name."""
    if getattr(type(comparator), "__repr__", None) is not object.__repr__ and not hasattr(comparator, "__code__"):
        return repr(comparator)
    return getattr(comparator, "__qualname__", None) or type(comparator).__qualname__


def _is_seq(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def compare(baseline: Mapping[str, Any], other: Mapping[str, Any], spec: ParitySpec) -> list[Difference]:
    """Every key path where ``other`` differs from ``baseline`` under the spec's keys and tolerances."""
    out: list[Difference] = []
    keys = list(spec.keys) if spec.keys is not None else list(baseline) + [k for k in other if k not in baseline]
    for key in keys:
        a, b = baseline.get(key, MISSING), other.get(key, MISSING)
        comparator = spec.comparator(key)
        if comparator is None:
            _diff(key, a, b, spec.rel_tol, spec.abs_tol, out)
            continue
        judged = _judge(key, comparator, a, b)
        if judged is not None:
            out.append(judged)
    return out


def unknown_keys(baseline: Mapping[str, Any], other: Mapping[str, Any], spec: ParitySpec) -> list[str]:
    """Parity keys in neither state: almost always a typo that would make the check vacuous."""
    if spec.keys is None:
        return []
    return [k for k in spec.keys if k not in baseline and k not in other]


def short(value: Any, width: int = 100) -> str:
    if messages.is_message(value):
        text = messages.describe(value)
    elif isinstance(value, list | tuple) and any(map(messages.is_message, value)):  # a conversation
        text = "[" + ", ".join(messages.describe(v) if messages.is_message(v) else repr(v) for v in value) + "]"
    else:
        text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
