"""Rows for store unit tests: specs, results and whole runs written through the ResultStore API."""

from __future__ import annotations

from typing import Any

from pytest_wtb.declare.variants import Case, Variant
from pytest_wtb.model import SUCCEEDED, ErrorInfo, ExecutionResult, ExecutionSpec
from pytest_wtb.plan.executions import execution_key, thread_id_for
from pytest_wtb.store.results import ResultStore

_VARIANTS: dict[str, Variant] = {}


def variant(name: str) -> Variant:
    return _VARIANTS.setdefault(name, Variant(name, lambda: None))


def spec(
    run_id: str, variant_name: str, case_id: str, case_input: Any = None, scope: str = "test_mod"
) -> ExecutionSpec:
    case_input = {"q": case_id} if case_input is None else case_input
    key = execution_key(scope, variant_name, Case(case_id, case_input))
    return ExecutionSpec(
        key=key,
        run_id=run_id,
        thread_id=thread_id_for(run_id, variant_name, case_id, key),
        scope=scope,
        variant=variant(variant_name),
        case_id=case_id,
        input=case_input,
    )


def result(
    s: ExecutionSpec, status: str = SUCCEEDED, state: dict[str, Any] | None = None, error: ErrorInfo | None = None
) -> ExecutionResult:
    if status == SUCCEEDED and state is None:
        state = {"answer": f"answer to {s.case_id}"}
    return ExecutionResult(
        key=s.key,
        thread_id=s.thread_id,
        variant=s.variant_name,
        case_id=s.case_id,
        status=status,
        state=state if status == SUCCEEDED else None,
        checkpoint_id="ckpt-" + s.key[:6],
        error=error,
        duration_s=0.01,
        backend="threads",
        worker="test",
    )


def write_run(
    results: ResultStore,
    run_id: str,
    outcomes: dict[tuple[str, str], dict[str, Any] | ErrorInfo],
    status: str = "passed",
    inputs: dict[tuple[str, str], Any] | None = None,
) -> dict[tuple[str, str], ExecutionSpec]:
    """A finished run: for each (variant, case) its final state (a dict) or its error (ErrorInfo)."""
    results.start_run(run_id, "threads", host="test-host")
    specs = {}
    for (variant_name, case_id), outcome in outcomes.items():
        s = spec(run_id, variant_name, case_id, (inputs or {}).get((variant_name, case_id)))
        assert results.claim(s, "owner", "threads")
        if isinstance(outcome, ErrorInfo):
            results.record(run_id, result(s, "failed", error=outcome))
        else:
            results.record(run_id, result(s, state=outcome))
        specs[(variant_name, case_id)] = s
    results.end_run(run_id, status)
    return specs
