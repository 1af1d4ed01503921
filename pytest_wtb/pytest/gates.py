"""Items of ``@wtb.repeat`` and ``@wtb.gate`` tests: how many repetitions, and one gate item per
non-baseline variant that holds every (case, repetition) of it and of the baseline."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pytest

from pytest_wtb.declare.cases import Case, CaseSet
from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.declare.repeats import GATE_ATTR, REPEAT_ATTR, GateSpec, RepeatSpec
from pytest_wtb.declare.variants import Variant
from pytest_wtb.plan.executions import ExecutionRequest


def repetitions(fn: Callable[..., Any], case_set: CaseSet, parity: ParitySpec | None, baseline: Variant | None,
                override: int | None) -> tuple[int, float, GateSpec | None, int] | str:
    """(k, min_pass_rate, gate, round) for a test, or why its declaration cannot be run; round > 0 for an
    adaptive gate (repeat(max=, until="decided")), which runs k repetitions at most, round by round."""
    rep: RepeatSpec | None = getattr(fn, REPEAT_ATTR, None)
    gate: GateSpec | None = getattr(fn, GATE_ATTR, None)
    for spec in (rep, gate):
        if spec is not None and spec.error:
            return spec.error
    if gate is not None:
        if baseline is None:
            return ("@wtb.gate compares every variant with the baseline, and none is declared: mark one "
                    "@wtb.variant(baseline=True)")
        if parity is not None:
            return "@wtb.gate and @wtb.parity judge a variant twice: keep one of them on this test"
        if case_set.strategy is not None:
            return "@wtb.gate needs fixed cases (@wtb.cases([...])), not strategy="
    if rep is None and gate is None:
        return 1, 1.0, None, 0
    if rep is not None and rep.round and gate is None:
        return ("@wtb.repeat(until='decided') stops on a gate's verdict: add @wtb.gate, or give a fixed k "
                "(a repeat judges its pass rate after all of them)")
    k = override or (rep.k if rep is not None else 1)
    adaptive_round = rep.round if rep is not None and not override else 0  # --wtb-repeat=K: K, all at once
    return k, rep.min_pass_rate if rep is not None else 1.0, gate, adaptive_round


@dataclass(frozen=True)
class GateParam:
    """The ``wtb_run`` parameter of a gate item: a variant and the baseline on every case and repetition."""

    scope: str
    variant: Variant
    baseline: Variant
    cases: tuple[Case, ...]
    repeats: int
    spec: GateSpec
    against_stored: bool = False  # --wtb-against: judged against the same variant in a stored run
    round: int = 0  # adaptive: repetitions per round; the ones after the first round are held back

    @cached_property
    def pairs(self) -> list[tuple[ExecutionRequest, ExecutionRequest]]:
        """(baseline, variant) requests, paired by (case, repetition)."""
        return [(ExecutionRequest(self.scope, self.baseline, c, r), ExecutionRequest(self.scope, self.variant, c, r))
                for c in self.cases for r in range(self.repeats)]

    def requests(self) -> list[ExecutionRequest]:
        if self.against_stored:
            return [own for _, own in self.pairs]
        return [req for pair in self.pairs for req in pair]

    def held(self) -> list[ExecutionRequest]:
        """The requests of later rounds: planned, run only when the gate asks for them."""
        return [r for r in self.requests() if r.repetition >= self.round] if self.round else []


def gate_params(scope: str, variants: Sequence[Variant], baseline: Variant, cases: tuple[Case, ...], k: int,
                spec: GateSpec, against_stored: bool = False, adaptive_round: int = 0) -> list[Any]:
    """One item per non-baseline variant; against a stored run (regression across commits), one per variant."""
    return [
        pytest.param(GateParam(scope, v, baseline, cases, k, spec, against_stored, adaptive_round), id=v.name,
                     marks=[pytest.mark.wtb(variant=v.name, case="*"), *v.marks])
        for v in variants if against_stored or v is not baseline
    ]


def gate_param(item: pytest.Item) -> GateParam | None:
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("wtb_run") if callspec is not None else None
    return value if isinstance(value, GateParam) else None


def held_keys(params: Iterable[Any]) -> frozenset[str]:
    """Executions only adaptive gates' later rounds need: held until a gate releases them."""
    held: set[str] = set()
    needed: set[str] = set()
    for param in params:
        later = {r.key for r in param.held()} if isinstance(param, GateParam) else set()
        held |= later
        needed |= {r.key for r in param.requests()} - later
    return frozenset(held - needed)
