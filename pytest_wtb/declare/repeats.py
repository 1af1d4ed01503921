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


UNTIL_DECIDED: Final = "decided"
DEFAULT_ROUND: Final = 5  # repetitions per round of an adaptive repeat without a k


@dataclass(frozen=True)
class RepeatSpec:
    k: int  # the repetitions; for an adaptive repeat the most it runs (max=)
    min_pass_rate: float = 1.0
    error: str | None = None
    round: int = 0  # adaptive (until="decided"): repetitions per round; 0: all k at once


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


def repeat(k: int | None = None, *, min_pass_rate: float = 1.0, max: int | None = None,
           until: str | None = None) -> Callable[[F], F]:
    """Execute each (variant, case) ``k`` times under distinct thread_ids; the item runs its body once per
    repetition and passes when at least ``min_pass_rate`` of them pass (1.0 is pass^k; pass@k is
    ``min_pass_rate=1/k``). With ``@wtb.gate``, ``max=K, until="decided"`` repeats in rounds of ``k``
    (default 5) and stops once the gate's verdict is clear of its margin, at most ``K`` repetitions."""
    problem = _adaptive_problem(k, max, until) if (max is not None or until is not None) else repeat_problem(k)
    rate = _number(min_pass_rate)
    if problem is None and (rate is None or not 0.0 <= rate <= 1.0):
        problem = f"min_pass_rate= takes a number from 0 to 1, got {min_pass_rate!r}"
    adaptive = problem is None and until is not None
    total = (max if adaptive else k) if problem is None else 1
    spec = RepeatSpec(int(total or 1), rate if rate is not None else 1.0,
                      f"@wtb.repeat {problem}" if problem else None,
                      round=min(k or DEFAULT_ROUND, int(total or 1)) if adaptive else 0)

    def mark(test: F) -> F:
        setattr(test, REPEAT_ATTR, spec)
        return test

    return mark


def _adaptive_problem(k: object, most: object, until: object) -> str | None:
    if until is None:
        return "max= is for adaptive repeats: add until='decided' (or give k for a fixed number of repetitions)"
    if until != UNTIL_DECIDED:
        return f"until= takes {UNTIL_DECIDED!r} (stop once the gate decides), got {until!r}"
    if most is None:
        return "until='decided' needs max= (the most repetitions it may run), e.g. repeat(max=20, until='decided')"
    problem = repeat_problem(most)
    if problem is not None:
        return "max= " + problem
    if k is not None:
        problem = repeat_problem(k)
        if problem is not None:
            return "(repetitions per round) " + problem
        if k > most:  # type: ignore[operator]
            return f"runs rounds of {k} repetitions, more than max={most}"
    return None


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
