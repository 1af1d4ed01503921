"""Items of ``@wtb.repeat`` and ``@wtb.gate`` tests: how many repetitions, and one gate item per
non-baseline variant that holds every (case, repetition) of it and of the baseline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
                override: int | None) -> tuple[int, float, GateSpec | None] | str:
    """(k, min_pass_rate, gate) for a test, or why its declaration cannot be run."""
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
        return 1, 1.0, None
    k = override or (rep.k if rep is not None else 1)
    return k, rep.min_pass_rate if rep is not None else 1.0, gate


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

    @cached_property
    def pairs(self) -> list[tuple[ExecutionRequest, ExecutionRequest]]:
        """(baseline, variant) requests, paired by (case, repetition)."""
        return [(ExecutionRequest(self.scope, self.baseline, c, r), ExecutionRequest(self.scope, self.variant, c, r))
                for c in self.cases for r in range(self.repeats)]

    def requests(self) -> list[ExecutionRequest]:
        if self.against_stored:
            return [own for _, own in self.pairs]
        return [req for pair in self.pairs for req in pair]


def gate_params(scope: str, variants: Sequence[Variant], baseline: Variant, cases: tuple[Case, ...], k: int,
                spec: GateSpec, against_stored: bool = False) -> list[Any]:
    """One item per non-baseline variant; against a stored run (regression across commits), one per variant."""
    return [
        pytest.param(GateParam(scope, v, baseline, cases, k, spec, against_stored), id=v.name,
                     marks=[pytest.mark.wtb(variant=v.name, case="*"), *v.marks])
        for v in variants if against_stored or v is not baseline
    ]


def gate_param(item: pytest.Item) -> GateParam | None:
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("wtb_run") if callspec is not None else None
    return value if isinstance(value, GateParam) else None
