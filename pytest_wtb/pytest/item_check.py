"""The checks an item runs before its test body: the execution's status, then parity with the baseline
and with a stored run (--wtb-against). What fails here fails the item (not a setup error)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_wtb.declare.cases import ALLOW_ATTR
from pytest_wtb.errors import ExecutionFailed, WtbError
from pytest_wtb.model import ExecutionResult
from pytest_wtb.pytest.items import item_param
from pytest_wtb.pytest.parity_check import item_diffs
from pytest_wtb.pytest.run_view import WtbRun
from pytest_wtb.pytest.trajectories import item_trajectory_failure
from pytest_wtb.report.failures import baseline_keys_text, execution_failure_text, parity_text, unknown_keys_text
from pytest_wtb.verdict.compare import unknown_keys

if TYPE_CHECKING:
    from pytest_wtb.pytest.session import WtbSession


def allowed_statuses(item: pytest.Item) -> frozenset[str]:
    """What @wtb.allow_status lets reach this item's test body."""
    fn = getattr(item, "function", None)
    return frozenset(getattr(fn, ALLOW_ATTR, ()))


def check_item(wtb: WtbSession, item: pytest.Item, run: WtbRun) -> None:
    """Before the test body: fail for a broken execution, then for a parity mismatch."""
    __tracebackhide__ = True
    param = item_param(item)
    if param is not None:
        param.fail_unrunnable()
    if wtb.comparison is not None:
        differs = wtb.comparison.check(run.result, wtb.store_display, param.parity if param else None)
        if differs:
            raise AssertionError(differs)
    if not run.result.ok:
        if run.result.status in allowed_statuses(item):
            return  # the test body asserts on it; parity has no finished state to judge
        raise ExecutionFailed(execution_failure_text(run.result, wtb.store_display))
    against: list[str] = []
    if wtb.history is not None and param is not None:
        against = wtb.history.against_failures(item.nodeid, item.user_properties, run, param)
    if param is not None and param.parity is not None and param.variant is param.baseline:
        typo = baseline_keys_text(run.result, param.parity)  # the baseline's own item
        if typo:
            raise AssertionError(typo)
    if param is None or param.parity is None or run.baseline is None:
        if against:
            raise AssertionError("\n\n".join(against))
        return
    base = run.baseline.result
    if not base.ok:
        raise ExecutionFailed(
            "parity cannot be checked because the baseline's execution did not succeed:\n"
            + execution_failure_text(base, wtb.store_display, role="baseline ")
        )
    base_state, own_state = base.state or {}, run.result.state or {}
    missing = unknown_keys(base_state, own_state, param.parity)
    if missing:
        present = sorted(set(base_state) | set(own_state))
        wtb.records.note_parity(item.nodeid, [{"path": k, "baseline": "<missing>", "other": "<missing>"}
                                               for k in missing])
        raise AssertionError(unknown_keys_text(run.result, base, missing, present))
    diffs = item_diffs(wtb.records, item, base, run.result, (base_state, own_state), param.parity)
    parted = item_trajectory_failure(wtb, item, base, run.result, param.parity.trajectory)
    _record_parity(wtb, item, run, base, diffs + ([parted.difference] if parted else []))
    if diffs or against or parted:
        own = [parity_text(baseline=base, other=run.result, diffs=diffs, store_display=wtb.store_display)]
        raise AssertionError("\n\n".join((own if diffs else []) + ([parted.text] if parted else []) + against))


def _record_parity(wtb: WtbSession, item: pytest.Item, run: WtbRun, base: ExecutionResult, diffs: list[Any]) -> None:
    if wtb.store is None:
        return
    import json

    from pytest_wtb.verdict.compare import short

    try:
        wtb.store.results.record_parity(
            run_id=wtb.run_id,
            nodeid=item.nodeid,
            variant=run.variant,
            baseline=base.variant,
            case_id=run.case_id,
            passed=not diffs,
            thread_id=run.thread_id,
            baseline_thread_id=base.thread_id,
            diff_json=json.dumps([[d.path, short(d.baseline), short(d.other)] for d in diffs]),
        )
    except WtbError:
        pass  # the parity verdict still reaches pytest; the store error shows on the executions
