"""An item's parity diffs against its baseline: the comparison, what it leaves on the item (JUnit
properties, the run's records) and a comparator that raised, told with the executions it compared."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.errors import ComparatorError
from pytest_wtb.model import ExecutionResult
from pytest_wtb.report.failures import comparator_failure, parity_properties
from pytest_wtb.report.records import RunRecords, diff_rows
from pytest_wtb.verdict.compare import Difference, compare


def item_diffs(
    records: RunRecords,
    item: pytest.Item,
    base: ExecutionResult,
    own: ExecutionResult,
    states: tuple[Mapping[str, Any], Mapping[str, Any]],
    spec: ParitySpec,
) -> list[Difference]:
    """``states``: (baseline's, own) final states. Raises ComparatorError naming key, comparator,
    variants, case and thread_ids when a comparator raised (the item fails with that text)."""
    __tracebackhide__ = True
    try:
        diffs = compare(states[0], states[1], spec)
    except ComparatorError as exc:
        raise comparator_failure(exc, base, own) from None
    item.user_properties += parity_properties(diffs)
    if diffs:
        records.note_parity(item.nodeid, diff_rows(diffs))
    return diffs
