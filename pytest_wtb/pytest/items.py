"""Items from declarations: one item per (variant x case) for every test that takes ``wtb_run``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pytest

from pytest_wtb.declare.parity import PARITY_ATTR, ParitySpec
from pytest_wtb.declare.run_settings import build_context
from pytest_wtb.declare.variants import CASES_ATTR, Case, CaseSet, Variant, check_variant_set, variants_in
from pytest_wtb.errors import GraphBuildError, WtbError
from pytest_wtb.execute.graphs import needs_async, validate_variant
from pytest_wtb.model import FAILED, ErrorInfo, ExecutionResult
from pytest_wtb.plan.canonical import ADVICE, InputError, canonical_input
from pytest_wtb.plan.executions import ExecutionRequest
from pytest_wtb.pytest.gates import gate_params, repetitions
from pytest_wtb.pytest.run_view import WtbRun, as_run
from pytest_wtb.pytest.variant_hints import variants_hint

FIXTURE = "wtb_run"


@dataclass(frozen=True)
class ItemParam:
    """The ``wtb_run`` parameter of one item: what it runs and what it compares against."""

    scope: str
    variant: Variant
    case: Case
    baseline: Variant | None
    parity: ParitySpec | None
    input_error: str | None = None  # the case input has no stable identity: nothing runs, the item fails
    repetition: int = 0  # which repetition this view of the item is (see at())
    repeats: int = 1  # @wtb.repeat(k): the body runs once per repetition
    min_pass_rate: float = 1.0

    @cached_property  # its key hashes the case input: once per item, not per use
    def own(self) -> ExecutionRequest:
        return ExecutionRequest(self.scope, self.variant, self.case, self.repetition)

    @cached_property
    def baseline_request(self) -> ExecutionRequest | None:
        if self.parity is None or self.baseline is None or self.baseline is self.variant:
            return None
        return ExecutionRequest(self.scope, self.baseline, self.case, self.repetition)

    @cached_property
    def baseline_key(self) -> str | None:
        """The baseline's execution key, for an item that is not the baseline (with parity or not)."""
        if self.baseline is None or self.baseline is self.variant or self.input_error is not None:
            return None
        return ExecutionRequest(self.scope, self.baseline, self.case, self.repetition).key

    def at(self, repetition: int) -> ItemParam:
        """This item as its ``repetition``-th execution sees it."""
        return self if repetition == self.repetition else dataclasses.replace(self, repetition=repetition)

    def requests(self) -> list[ExecutionRequest]:
        if self.input_error is not None:
            return []
        if self.repeats > 1 and self.repetition == 0:
            return [r for n in range(self.repeats) for r in self.at(n).requests_of_one()]
        return self.requests_of_one()

    def requests_of_one(self) -> list[ExecutionRequest]:
        base = self.baseline_request
        return [self.own] if base is None else [base, self.own]

    def unrun(self) -> WtbRun:
        """What ``wtb_run`` shows for an item whose input has no identity; check() fails it with why."""
        error = ErrorInfo(InputError.__name__, self.input_error or "")
        result = ExecutionResult("", "", self.variant.name, self.case.id, FAILED, error=error)
        return as_run(result, self.case.input)

    def fail_unrunnable(self) -> None:
        """Raise the item's failure when its case input cannot name an execution (see canonical)."""
        __tracebackhide__ = True
        if self.input_error is not None:
            error = InputError(self.input_error)
            error.wtb_complete = True  # type: ignore[attr-defined]  # the text says it all: no traceback
            raise error


class VariantCheck:
    """Caches, per variant object, whether its factory builds a graph (calls each factory once)."""

    def __init__(self) -> None:
        self._errors: dict[int, str | None] = {}
        self._keep: list[Variant] = []  # keep ids stable while cached
        self._async: dict[int, bool] = {}
        self._context_schema: dict[int, Any] = {}

    def is_async(self, variant: Variant) -> bool:
        """Whether the variant's graph runs through LangGraph's async API (known once checked)."""
        return self._async.get(id(variant), False)

    def built_context(self, variant: Variant, context: Any) -> Any:
        """``context`` as the execution received it: an instance of the graph's context_schema."""
        try:
            return build_context(self._context_schema.get(id(variant)), context)
        except ValueError:
            return context

    def context_problem(self, variant: Variant, context: Any) -> str | None:
        """Why ``context`` does not fit the variant's graph's context_schema, or None."""
        try:
            build_context(self._context_schema.get(id(variant)), context)
        except ValueError as exc:
            return str(exc)
        return None

    @property
    def names(self) -> set[str]:
        """Every variant name a collected test declared."""
        return {v.name for v in self._keep}

    def error(self, variant: Variant) -> str | None:
        if id(variant) not in self._errors:
            try:
                graph = validate_variant(variant)
                self._errors[id(variant)] = None
                self._async[id(variant)] = needs_async(graph)
                self._context_schema[id(variant)] = getattr(graph, "context_schema", None)
            except GraphBuildError as exc:
                self._errors[id(variant)] = str(exc)
            self._keep.append(variant)
        return self._errors[id(variant)]


def _fail(test: str, message: str) -> pytest.Collector.CollectError:
    return pytest.Collector.CollectError(f"pytest-wtb: {test}: {message}")


def parametrize(metafunc: pytest.Metafunc, checks: VariantCheck, repeat_override: int | None = None,
                gate_against: bool = False) -> None:
    if FIXTURE not in metafunc.fixturenames:
        return
    test = metafunc.function.__name__
    case_set: CaseSet | None = getattr(metafunc.function, CASES_ATTR, None)
    if case_set is None:
        raise _fail(
            test,
            f"takes {FIXTURE} but has no cases: decorate it with @wtb.cases([...], ids=[...]) "
            "or @wtb.cases({case_id: input, ...})",
        )
    if case_set.error:
        raise _fail(test, case_set.error)
    parity_spec: ParitySpec | None = getattr(metafunc.function, PARITY_ATTR, None)
    module = metafunc.module
    variants = variants_in(vars(module))
    if not variants:
        raise _fail(test, f"takes {FIXTURE} but {module.__name__} declares no @wtb.variant"
                    + variants_hint(metafunc.config, module))
    try:
        baseline = check_variant_set(variants)
    except WtbError as exc:
        raise _fail(test, str(exc)) from None
    if parity_spec is not None and baseline is None:
        names = ", ".join(v.name for v in variants)
        raise _fail(
            test,
            f"@wtb.parity needs a baseline variant to compare against, and none of {names} is one: "
            "declare one with @wtb.variant(baseline=True)" + variants_hint(metafunc.config, module, always=False),
        )
    for v in variants:
        problem = checks.error(v)
        if problem:
            raise _fail(test, problem)
    problems = {case.id: _input_problem(case) for case in case_set.cases}
    repeated = repetitions(metafunc.function, case_set, parity_spec, baseline, repeat_override)
    if isinstance(repeated, str):
        raise _fail(test, repeated)
    k, min_pass_rate, gate, adaptive_round = repeated
    params: list[Any] = []
    if case_set.strategy is not None:  # one Hypothesis search per variant
        from pytest_wtb.pytest.properties import property_params

        params = property_params(module.__name__, variants, case_set, baseline, parity_spec)
    for v in variants:
        for case in case_set.cases:
            request = ExecutionRequest(module.__name__, v, case)
            bad_context = checks.context_problem(v, request.context)
            if bad_context:
                raise _fail(test, f"case '{case.id}' with variant '{v.name}': {bad_context}")
            problem = problems[case.id]
            why = None if problem is None else (
                f"case '{case.id}' of {test} (variant '{v.name}') did not run: pytest-wtb names each execution "
                f"by its input, and this input has no form that is the same in every process\n  {problem}\n"
                f"  to fix: {ADVICE}"
            )
            item = ItemParam(module.__name__, v, case, baseline, parity_spec, why, repeats=k,
                             min_pass_rate=min_pass_rate)
            marks = [pytest.mark.wtb(variant=v.name, case=case.id), *v.marks]
            if gate is None:
                params.append(pytest.param(item, id=f"{v.name}-{case.id}", marks=marks))
    if gate is not None:
        assert baseline is not None
        unstable = [why for why in problems.values() if why]
        if unstable:
            raise _fail(test, f"@wtb.gate needs every case to have a stable identity: {unstable[0]}")
        params = gate_params(module.__name__, variants, baseline, case_set.cases, k, gate, gate_against,
                             adaptive_round)
    metafunc.parametrize(FIXTURE, params, indirect=True)


def _input_problem(case: Case) -> str | None:
    """Why the case's input cannot be canonicalised (its items then fail alone), or None."""
    try:
        canonical_input(case.input)
        canonical_input({"context": case.context, "config": dict(case.config), "resume": list(case.resume)})
    except InputError as exc:
        return str(exc)
    return None


def select_variants(
    items: list[pytest.Item], names: tuple[str, ...], declared: set[str]
) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """``--wtb-variants``: (kept, deselected). Items of other variants go; non-wtb items stay.
    The baseline's executions still run for parity items: their params request them."""
    unknown = [n for n in names if n not in declared]
    if unknown and declared:
        raise pytest.UsageError(
            f"pytest-wtb: --wtb-variants names {', '.join(map(repr, unknown))}, which no collected test "
            f"declares; declared variants: {', '.join(sorted(declared))}"
        )
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        param = item_param(item)
        (drop if param is not None and param.variant.name not in names else keep).append(item)
    return keep, drop


def item_param(item: pytest.Item) -> ItemParam | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    value = callspec.params.get(FIXTURE)
    return value if isinstance(value, ItemParam) else None
