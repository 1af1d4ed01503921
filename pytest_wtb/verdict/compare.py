"""Compare two final states: nested dicts and lists, floats within tolerance, messages by type+content.

Pure functions. Tuples and lists compare alike because the checkpoint serializer turns tuples into
lists: a state read back from the store must equal the one produced in memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_wtb.declare.parity import ParitySpec


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Difference:
    path: str
    baseline: Any
    other: Any


def _message_view(value: Any) -> tuple[str, Any] | None:
    """(type, content) for a LangChain message, else None."""
    msg_type = getattr(value, "type", None)
    if isinstance(msg_type, str) and hasattr(value, "content") and hasattr(value, "additional_kwargs"):
        return (msg_type, value.content)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _diff(path: str, a: Any, b: Any, rel_tol: float, abs_tol: float, out: list[Difference]) -> None:
    ma, mb = _message_view(a), _message_view(b)
    if ma is not None or mb is not None:
        if ma != mb:
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


def _is_seq(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def compare(baseline: Mapping[str, Any], other: Mapping[str, Any], spec: ParitySpec) -> list[Difference]:
    """Every key path where ``other`` differs from ``baseline`` under the spec's keys and tolerances."""
    out: list[Difference] = []
    keys = list(spec.keys) if spec.keys is not None else list(baseline) + [k for k in other if k not in baseline]
    for key in keys:
        _diff(key, baseline.get(key, MISSING), other.get(key, MISSING), spec.rel_tol, spec.abs_tol, out)
    return out


def unknown_keys(baseline: Mapping[str, Any], other: Mapping[str, Any], spec: ParitySpec) -> list[str]:
    """Parity keys in neither state: almost always a typo that would make the check vacuous."""
    if spec.keys is None:
        return []
    return [k for k in spec.keys if k not in baseline and k not in other]


def short(value: Any, width: int = 100) -> str:
    view = _message_view(value)
    text = f"{view[0]}: {view[1]!r}" if view is not None else repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
