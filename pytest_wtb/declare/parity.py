"""``@wtb.parity``: compare each variant's final state with the baseline's on the same case.

A plain frozen value attached to the test function; verdict/ applies it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from pytest_wtb.errors import DeclarationError

F = TypeVar("F", bound=Callable[..., Any])

PARITY_ATTR: Final = "_wtb_parity"
TRAJECTORY_MODES: Final = ("strict", "unordered", "subset", "superset")

# (baseline_value, value) -> True when they agree; False, or a string saying how, when they differ
Comparator = Callable[[Any, Any], "bool | str"]


@dataclass(frozen=True)
class ParitySpec:
    keys: tuple[str, ...] | None = None
    rel_tol: float = 1e-9
    abs_tol: float = 0.0
    # per top-level state key: how that key's two values are judged instead of exact comparison
    comparators: tuple[tuple[str, Comparator], ...] = ()
    trajectory: str | None = None  # one of TRAJECTORY_MODES: also compare nodes run and tool calls made

    def comparator(self, key: str) -> Comparator | None:
        return next((c for k, c in self.comparators if k == key), None)


def parity(
    *,
    keys: Sequence[str] | None = None,
    rel_tol: float = 1e-9,
    abs_tol: float = 0.0,
    compare: Mapping[str, Comparator] | None = None,
    trajectory: str | None = None,
) -> Callable[[F], F]:
    """Compare each variant's final state with the baseline's on the same case before the test runs."""
    if isinstance(keys, str):
        raise DeclarationError(f"@wtb.parity(keys=...) takes a list of state keys, got the string {keys!r}")
    if rel_tol < 0 or abs_tol < 0:
        raise DeclarationError("@wtb.parity tolerances must be >= 0")
    if compare is not None and not isinstance(compare, Mapping):
        raise DeclarationError(
            f"@wtb.parity(compare=...) takes a dict of state key -> comparator, got {type(compare).__name__}")
    for key, fn in (compare or {}).items():
        if not isinstance(key, str) or not callable(fn):
            raise DeclarationError(
                f"@wtb.parity(compare=...): {key!r} -> {fn!r} is not a state key and a comparator callable "
                "(baseline_value, value) -> bool | str")
    if trajectory is not None and trajectory not in TRAJECTORY_MODES:
        raise DeclarationError(
            f"@wtb.parity(trajectory={trajectory!r}): use one of {', '.join(TRAJECTORY_MODES)}")
    spec = ParitySpec(
        tuple(keys) if keys is not None else None, float(rel_tol), float(abs_tol),
        tuple((compare or {}).items()), trajectory,
    )

    def mark(test: F) -> F:
        setattr(test, PARITY_ATTR, spec)
        return test

    return mark
