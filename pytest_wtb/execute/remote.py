"""Waiting for an execution another process claimed (an xdist worker, a CI shard writing into the
same run): read its row until it has a result; run it here when its owner is visibly dead."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pytest_wtb.errors import StoreError
from pytest_wtb.model import FAILED, ErrorInfo, ExecutionResult, ExecutionSpec
from pytest_wtb.store.owners import owner_is_dead

if TYPE_CHECKING:
    from pytest_wtb.store.results import ResultStore


def not_run(spec: ExecutionSpec, message: str) -> ExecutionResult:
    return ExecutionResult.of(spec, FAILED, error=ErrorInfo(type="NotRun", message=message))


def wait_remote(
    results: ResultStore,
    spec: ExecutionSpec,
    owner: str,
    retries: int,
    grace_s: float,
    poll_s: float,
    run_here: Callable[[ExecutionSpec], ExecutionResult],
) -> ExecutionResult:
    """The result another process records for ``spec``; ``run_here`` runs it once taken over."""
    # An owner that is alive but never records a result (its store writes failed) must not hang
    # us forever; with --wtb-timeout we know how long a result can legitimately take.
    limit = None
    if spec.timeout_s is not None:
        limit = time.monotonic() + spec.timeout_s * (retries + 1) + grace_s
    while True:
        if limit is not None and time.monotonic() > limit:
            return not_run(
                spec,
                "another pytest-xdist worker claimed this execution but recorded no result in time "
                "(its store writes may have failed: see that worker's failures)",
            )
        try:
            row = results.execution_row(spec.run_id, spec.key)
            result = results.result_from_row(row) if row is not None else None
            taken = result is None and row is not None and owner_is_dead(row["owner"]) and (
                results.take_over(spec.run_id, spec.key, row["owner"], owner)
            )
        except StoreError as exc:  # the store went away: the item fails, the summary names it unsaved
            failed = not_run(spec, f"another pytest-xdist worker claimed this execution, but its result "
                                   f"could not be read from the store: {exc}")
            return dataclasses.replace(failed, store_error=str(exc))
        if result is not None:
            return result
        if taken:
            return run_here(spec)
        # Another process owns this execution; there is no cross-process event to wait on.
        time.sleep(poll_s)
