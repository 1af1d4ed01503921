"""Executions made one example at a time (Hypothesis), outside the up-front batch.

Examples are drawn adaptively inside a running test, so they cannot be planned with the batch. A
BenchRunner runs the executions of one example concurrently on a small threads backend of its own,
with savers from the run's store, records them as result rows of the run, and waits for them. Every
execution gets a fresh thread_id: shrinking replays inputs, and a reused thread_id would append to
the old history.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.declare.variants import Variant, check_variant_set, variants_in
from pytest_wtb.errors import ExecutionFailed, WtbError
from pytest_wtb.execute.backends.base import BackendContext
from pytest_wtb.execute.backends.threads import ThreadsBackend
from pytest_wtb.execute.batch import owner_label
from pytest_wtb.model import ExecutionResult, ExecutionSpec
from pytest_wtb.plan.canonical import ADVICE, InputError, canonical_input
from pytest_wtb.plan.executions import thread_id_for
from pytest_wtb.pytest.outcomes import mark_complete
from pytest_wtb.pytest.run_view import WtbRun, as_run
from pytest_wtb.pytest.trajectories import checked_mode, results_trajectory_failures
from pytest_wtb.report.failures import execution_failure_text, parity_failures
from pytest_wtb.report.records import diff_rows
from pytest_wtb.verdict.compare import compare, short, unknown_keys

if TYPE_CHECKING:
    from pytest_wtb.pytest.session import WtbSession
    from pytest_wtb.store import Store

MAX_BENCH_THREADS: Final = 8
WAIT_S: Final = 24 * 3600.0  # the backend reports timeouts itself (--wtb-timeout); this only bounds a hang


def parity_error(text: str) -> AssertionError:
    """An AssertionError whose text says everything (the property item drops its traceback)."""
    error = AssertionError(text)
    mark_complete(error)
    return error


def case_id_for(value: Any) -> str:
    """A stable, readable case id for a drawn input: the same input gets the same id in every run."""
    try:
        text = canonical_input(value)
    except InputError as exc:
        error = InputError(
            "a drawn input has no form that is the same in every process, and pytest-wtb names each "
            f"execution by its input\n  {exc}\n{input_line(value)}\n  to fix: {ADVICE}"
        )
        error.wtb_complete = True  # type: ignore[attr-defined]
        raise error from None
    return "hyp-" + hashlib.sha1(text.encode()).hexdigest()[:8]


def input_line(value: Any) -> str:
    return f"  input: {short(value, 500)}"


class BenchRunner:
    """Runs (variant, input) pairs concurrently for the session; one per pytest process."""

    def __init__(self, session: WtbSession, store: Store) -> None:
        self.session = session
        self.store = store
        self.backend = ThreadsBackend(max(2, min(session.settings.thread_workers, MAX_BENCH_THREADS)))
        assert session.settings.store is not None
        self.backend.start(
            BackendContext(
                run_id=session.run_id,
                store_url=session.settings.store,
                checkpointers=store.checkpoints,
                timeout_s=session.settings.timeout_s,
            )
        )
        self.owner = owner_label(session.worker_id)
        self.item: str | None = None  # the nodeid whose call phase runs now (set by the plugin)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def store_display(self) -> str:
        return self.store.url.display

    def _spec(self, scope: str, variant: Variant, value: Any) -> ExecutionSpec:
        with self._lock:
            n = next(self._counter)
        key = hashlib.sha1(f"{self.session.run_id}/{n}/{uuid.uuid4().hex}".encode()).hexdigest()[:16]
        case_id = case_id_for(value)
        return ExecutionSpec(
            key=key,
            run_id=self.session.run_id,
            thread_id=thread_id_for(self.session.run_id, variant.name, case_id, key),
            scope=scope,
            variant=variant,
            case_id=case_id,
            input=value,
            timeout_s=self.session.settings.timeout_s,
        )

    def run_many(self, scope: str, variants: Sequence[Variant], value: Any) -> list[ExecutionResult]:
        """Run each variant on ``value`` at once; results in the order of ``variants``."""
        specs = [self._spec(scope, v, value) for v in variants]
        futures: list[Future[ExecutionResult]] = []
        for spec in specs:
            future: Future[ExecutionResult] = Future()
            futures.append(future)
            try:
                self.store.results.claim(spec, self.owner, self.backend.name)
            except WtbError:
                pass  # the execution still runs; its row is missing (noted when recording fails too)
            self.backend.submit(spec, future.set_result)
        results = [self._record(f.result(timeout=WAIT_S)) for f in futures]
        self._note(scope, variants, results)
        return results

    def _note(self, scope: str, variants: Sequence[Variant], results: list[ExecutionResult]) -> None:
        """Into the run's records (summary table, reports): the executions, and the item that made them,
        counted with its first non-baseline variant (the one a property item or a parity check is about)."""
        records = self.session.records
        records.note_run_id(self.session.run_id)
        base_key = next((r.key for v, r in zip(variants, results, strict=True) if v.baseline), None)
        for v, r in zip(variants, results, strict=True):
            records.note_execution(r, scope, v.baseline, None if v.baseline else base_key)
        if self.item is not None and results:
            subject = next((r for v, r in zip(variants, results, strict=True) if not v.baseline), results[0])
            records.note_item(self.item, subject.key, None if subject.key == base_key else base_key)

    def note_parity(self, base: ExecutionResult, others: Sequence[ExecutionResult], spec: ParitySpec) -> None:
        """The current item's parity mismatches, for the summary's parity column and the reports."""
        if self.item is None:
            return
        rows: list[dict[str, str]] = []
        for other in others:
            base_state, own_state = base.state or {}, other.state or {}
            missing = unknown_keys(base_state, own_state, spec)
            rows += [{"path": k, "baseline": "<missing>", "other": "<missing>"} for k in missing]
            rows += diff_rows(compare(base_state, own_state, spec))
        if rows:
            self.session.records.note_parity(self.item, rows)

    def _record(self, result: ExecutionResult) -> ExecutionResult:
        try:
            self.store.results.record(self.session.run_id, result)
        except WtbError as exc:
            from dataclasses import replace

            result = replace(result, store_error=str(exc))
        if self.session.history is not None:
            self.session.history.note_results(result)
        return result

    def close(self) -> None:
        self.backend.close()


@dataclass(frozen=True)
class ModuleVariants:
    """The variants a test module declares, and its baseline."""

    scope: str
    variants: tuple[Variant, ...]
    baseline: Variant | None

    def named(self, name: str | Variant | None) -> Variant:
        if isinstance(name, Variant):
            return name
        if name is None:
            if self.baseline is not None:
                return self.baseline
            if len(self.variants) == 1:
                return self.variants[0]
            raise WtbError(
                f"{self.scope} declares {len(self.variants)} variants and no baseline: pass variant=NAME"
            )
        for v in self.variants:
            if v.name == name:
                return v
        known = ", ".join(v.name for v in self.variants) or "(none)"
        raise WtbError(f"{self.scope} declares no variant named {name!r}; its variants: {known}")


def module_variants(module: ModuleType, hint: str = "") -> ModuleVariants:
    """The variants declared in ``module`` (what wtb_bench runs); WtbError if it has none."""
    variants = variants_in(vars(module))
    if not variants:
        raise WtbError(
            f"{module.__name__} declares no @wtb.variant: wtb_bench runs the variants of the test's module{hint}"
        )
    return ModuleVariants(module.__name__, tuple(variants), check_variant_set(variants))


def parity_spec(keys: Sequence[str] | None, rel_tol: float, abs_tol: float) -> ParitySpec:
    if isinstance(keys, str):
        raise WtbError(f"keys= takes a list of state keys, got the string {keys!r}")
    return ParitySpec(tuple(keys) if keys is not None else None, float(rel_tol), float(abs_tol))


def failed_execution_text(result: ExecutionResult, value: Any, store_display: str | None, role: str = "") -> str:
    return execution_failure_text(result, store_display, role=role) + "\n" + input_line(value)


class WtbBench:
    """The ``wtb_bench`` fixture: run variants of the test's module on inputs drawn in the test
    (e.g. by ``@hypothesis.given``), one example at a time."""

    def __init__(self, runner: BenchRunner, module: ModuleVariants) -> None:
        self._runner = runner
        self._module = module

    def __repr__(self) -> str:
        names = ", ".join(v.name + (" (baseline)" if v.baseline else "") for v in self._module.variants)
        return f"<wtb_bench {self._module.scope}: {names}>"

    @property
    def variants(self) -> list[str]:
        return [v.name for v in self._module.variants]

    @property
    def baseline(self) -> str | None:
        return self._module.baseline.name if self._module.baseline else None

    def run(self, input: Any, variant: str | Variant | None = None, *, check: bool = True) -> WtbRun:
        """One execution of ``variant`` (default: the baseline) on ``input``; with ``check`` a failed
        execution raises ExecutionFailed naming the input and the thread_id."""
        __tracebackhide__ = True
        return self.run_all(input, [self._module.named(variant)], check=check)[0]

    def run_all(
        self, input: Any, variants: Sequence[str | Variant] | None = None, *, check: bool = True
    ) -> list[WtbRun]:
        """The variants (default: all of the module's) on ``input`` at once, in the order given."""
        __tracebackhide__ = True
        chosen = [self._module.named(v) for v in variants] if variants is not None else list(self._module.variants)
        results = self._runner.run_many(self._module.scope, chosen, input)
        if check:
            for result in results:
                if not result.ok:
                    raise ExecutionFailed(failed_execution_text(result, input, self._runner.store_display))
        return [as_run(r, input) for r in results]

    def assert_parity(
        self,
        input: Any,
        keys: Sequence[str] | None = None,
        *,
        rel_tol: float = 1e-9,
        abs_tol: float = 0.0,
        variants: Sequence[str | Variant] | None = None,
        trajectory: str | None = None,
    ) -> dict[str, WtbRun]:
        """Run the baseline and the other variants on ``input`` concurrently; AssertionError (naming
        the input and every thread_id) when a variant's final state differs from the baseline's, or with
        ``trajectory=`` (a @wtb.parity mode) its trajectory parts from the baseline's."""
        __tracebackhide__ = True
        spec = dataclasses.replace(parity_spec(keys, rel_tol, abs_tol), trajectory=checked_mode(trajectory))
        base = self._module.named(None)
        others = [self._module.named(v) for v in variants] if variants is not None else list(self._module.variants)
        others = [v for v in others if v.name != base.name]
        runs = self.run_all(input, [base, *others])
        base_run = runs[0]
        failures = parity_failures(base_run.result, [r.result for r in runs[1:]], spec, self._runner.store_display)
        self._runner.note_parity(base_run.result, [r.result for r in runs[1:]], spec)
        failures += results_trajectory_failures(self._runner.store.checkpoints, base_run.result, [
            r.result for r in runs[1:]], spec.trajectory, self._runner.store_display, self._runner.session.records,
            self._runner.item)
        if failures and not others:
            raise parity_error(failures[0] + "\n" + input_line(input))
        if failures:
            verb = "differs" if len(failures) == 1 else "differ"
            raise parity_error(
                f"parity: {len(failures)} of {len(others)} variant{'s' if len(others) != 1 else ''} {verb} "
                f"from baseline '{base.name}' on this input\n{input_line(input)}\n"
                + "\n".join(failures)
                + "\n  thread_ids: "
                + ", ".join(f"{r.variant}={r.thread_id}" for r in runs)
            )
        return {r.variant: r for r in runs}
