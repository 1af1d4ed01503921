"""Property-based cases: ``@wtb.cases(strategy=...)`` makes one item per variant that runs a Hypothesis
search over graph inputs, and ``wtb_bench`` tests written with ``@hypothesis.given``.

For each drawn input the item runs its variant (and, under ``@wtb.parity``, the baseline) at once,
fails on a broken execution or a parity mismatch, then runs the test body with that example's
``wtb_run``. Hypothesis shrinks a failure to a minimal input; the failure names it and the
thread_ids of its executions. Hypothesis is imported only when such a test runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.declare.variants import CaseSet, Variant

if TYPE_CHECKING:
    from pytest_wtb.pytest.bench import BenchRunner
    from pytest_wtb.store.urls import StoreURL

FIXTURE: Final = "wtb_run"
BENCH_FIXTURE: Final = "wtb_bench"
CASE_ID: Final = "hypothesis"


@dataclass(frozen=True)
class PropertyParam:
    """The ``wtb_run`` parameter of a property item: one variant, inputs from a strategy."""

    scope: str
    variant: Variant
    baseline: Variant | None
    parity: ParitySpec | None
    strategy: Any
    max_examples: int | None

    @property
    def compared_with(self) -> Variant | None:
        if self.parity is None or self.baseline is None or self.baseline is self.variant:
            return None
        return self.baseline


def property_params(
    scope: str, variants: list[Variant], case_set: CaseSet, baseline: Variant | None, parity: ParitySpec | None
) -> list[Any]:
    params: list[Any] = []
    for v in variants:
        param = PropertyParam(scope, v, baseline, parity, case_set.strategy, case_set.max_examples)
        marks = [pytest.mark.wtb(variant=v.name, case=CASE_ID), *v.marks]
        params.append(pytest.param(param, id=f"{v.name}-{CASE_ID}", marks=marks))
    return params


def property_param(item: pytest.Item) -> PropertyParam | None:
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get(FIXTURE) if callspec is not None else None
    return value if isinstance(value, PropertyParam) else None


def examples_dir(store: StoreURL | None, rootpath: Path) -> Path:
    """Hypothesis's example database lives beside the store: <store dir>/hypothesis."""
    if store is not None and store.kind == "sqlite" and store.sqlite_path is not None:
        return Path(store.sqlite_path).parent / "hypothesis"
    return rootpath / ".wtb" / "hypothesis"


def hypothesis_settings(parent: Any, db_dir: Path, max_examples: int | None = None) -> Any:
    """No deadline (workflows are slow and uneven), no too_slow health check, and the example
    database beside the store unless the test chose one."""
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.database import DirectoryBasedExampleDatabase

    parent = parent or settings()
    extra: dict[str, Any] = {}
    # Hypothesis's own default (.hypothesis/examples in the cwd), not one a profile or test chose
    if type(parent.database).__name__ == "_StorageDirectoryDatabase" and not parent.derandomize:
        extra["database"] = DirectoryBasedExampleDatabase(str(db_dir))
    if max_examples is not None:
        extra["max_examples"] = max_examples
    suppressed = {*parent.suppress_health_check, HealthCheck.too_slow}
    # the explain phase reruns examples to name lines "only run by failing cases": here those are
    # pytest-wtb's own lines, which says nothing about the workflow
    phases = [p for p in parent.phases if p is not Phase.explain]
    return settings(parent, deadline=None, suppress_health_check=suppressed, phases=phases, **extra)


def tune_given_test(item: pytest.Item, db_dir: Path) -> None:
    """A ``@given`` test that uses ``wtb_bench``: the same settings as property items, unless the
    test set a deadline of its own."""
    if BENCH_FIXTURE not in getattr(item, "fixturenames", ()):
        return
    fn = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
    if not getattr(fn, "is_hypothesis_test", False):
        return
    from hypothesis import settings

    current: Any = getattr(fn, "_hypothesis_internal_use_settings", None) or settings()
    tuned = hypothesis_settings(current, db_dir)
    if current.deadline != settings.get_profile("default").deadline:
        tuned = settings(tuned, deadline=current.deadline)  # chosen by the test: keep it
    fn._hypothesis_internal_use_settings = tuned  # type: ignore[union-attr]


class PropertySearch:
    """What ``wtb_run`` holds on a property item until the call phase runs the search."""

    def __init__(self, param: PropertyParam, runner: BenchRunner, db_dir: Path) -> None:
        self.param = param
        self.runner = runner
        self.db_dir = db_dir

    def run(self, item: pytest.Function) -> None:
        __tracebackhide__ = True
        try:
            from hypothesis import given
        except ImportError:
            pytest.fail("pytest-wtb: @wtb.cases(strategy=...) needs Hypothesis: pip install hypothesis", pytrace=False)

        from pytest_wtb.pytest.outcomes import complete_text

        param, runner = self.param, self.runner
        test = item.obj
        kwargs = {name: item.funcargs[name] for name in item._fixtureinfo.argnames if name != FIXTURE}

        def example(input: Any) -> None:
            __tracebackhide__ = True
            check_example(param, runner, input, test, kwargs)

        example.__name__ = example.__qualname__ = item.originalname
        example._hypothesis_internal_add_digest = item.nodeid.encode()  # type: ignore[attr-defined]
        search = given(input=param.strategy)(example)
        hypothesis_settings(None, self.db_dir, param.max_examples)(search)
        try:
            search()
        except Exception as exc:
            if complete_text(exc):  # our texts say it all: no pytest-wtb frames
                raise exc.with_traceback(None) from None
            raise


def check_example(param: PropertyParam, runner: BenchRunner, value: Any, test: Any, kwargs: dict[str, Any]) -> None:
    """One example: run the executions, fail on errors and parity, then run the test body."""
    __tracebackhide__ = True
    from pytest_wtb.errors import ExecutionFailed
    from pytest_wtb.pytest.bench import failed_execution_text, input_line, parity_error
    from pytest_wtb.pytest.run_view import as_run
    from pytest_wtb.report.failures import baseline_keys_text, parity_failures

    base_variant = param.compared_with
    variants = [param.variant] if base_variant is None else [base_variant, param.variant]
    results = runner.run_many(param.scope, variants, value)
    own, base = results[-1], (results[0] if base_variant is not None else None)
    display = runner.store_display
    if not own.ok:
        raise ExecutionFailed(failed_execution_text(own, value, display))
    if base is not None and not base.ok:
        raise ExecutionFailed(
            "parity cannot be checked because the baseline's execution did not succeed:\n"
            + failed_execution_text(base, value, display, role="baseline ")
        )
    if base is not None and param.parity is not None:
        failures = parity_failures(base, [own], param.parity, display)
        if failures:
            runner.note_parity(base, [own], param.parity)
            raise parity_error(failures[0] + "\n" + input_line(value))
    elif param.parity is not None and param.variant is param.baseline:
        typo = baseline_keys_text(own, param.parity)
        if typo:
            raise parity_error(typo + "\n" + input_line(value))
    baseline_run = as_run(base, value) if base is not None else None
    test(**kwargs, wtb_run=as_run(own, value, baseline_run))
