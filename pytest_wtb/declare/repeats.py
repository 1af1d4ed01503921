"""``@wtb.repeat`` and ``@wtb.gate``: verdicts on repeated runs of non-deterministic workflows.

Mistakes are recorded on the spec, not raised, so collection reports them naming the test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

REPEAT_ATTR: Final = "_wtb_repeat"
GATE_ATTR: Final = "_wtb_gate"
MAX_REPEATS: Final = 10_000


@dataclass(frozen=True)
class RepeatSpec:
    k: int
    min_pass_rate: float = 1.0
    error: str | None = None


@dataclass(frozen=True)
class GateSpec:
    margin: float = 0.0
    alpha: float = 0.05
    error: str | None = None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def repeat_problem(k: object) -> str | None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_REPEATS:
        return f"takes a whole number of repetitions from 1 to {MAX_REPEATS}, got {k!r}"
    return None


def repeat(k: int, *, min_pass_rate: float = 1.0) -> Callable[[F], F]:
    """Execute each (variant, case) ``k`` times under distinct thread_ids; the item runs its body once per
    repetition and passes when at least ``min_pass_rate`` of them pass (1.0 is pass^k; pass@k is
    ``min_pass_rate=1/k``)."""
    problem = repeat_problem(k)
    rate = _number(min_pass_rate)
    if problem is None and (rate is None or not 0.0 <= rate <= 1.0):
        problem = f"min_pass_rate= takes a number from 0 to 1, got {min_pass_rate!r}"
    spec = RepeatSpec(k if problem is None else 1, rate if rate is not None else 1.0,
                      f"@wtb.repeat {problem}" if problem else None)

    def mark(test: F) -> F:
        setattr(test, REPEAT_ATTR, spec)
        return test

    return mark


def gate(*, margin: float = 0.0, alpha: float = 0.05) -> Callable[[F], F]:
    """One item per non-baseline variant: it fails when the variant scores worse than the baseline by more
    than ``margin``, by a paired test at level ``alpha`` over the same cases and repetitions. The test
    returns a score per execution (a bool or a number, higher is better)."""
    m, a = _number(margin), _number(alpha)
    error = None
    if m is None or not 0.0 <= m < 1e12:
        error = f"@wtb.gate(margin=...) takes a number >= 0 (how much worse is still fine), got {margin!r}"
    elif a is None or not 0.0 < a < 0.5:
        error = f"@wtb.gate(alpha=...) takes a significance level between 0 and 0.5 (e.g. 0.05), got {alpha!r}"
    spec = GateSpec(m or 0.0, a if a is not None else 0.05, error)

    def mark(test: F) -> F:
        setattr(test, GATE_ATTR, spec)
        return test

    return mark
