"""Comparator verdicts in failure texts: the reason under its key path; a raising comparator named
with the executions it was comparing (wtb_bench.assert_parity and property items use these texts)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.errors import ComparatorError
from pytest_wtb.model import ExecutionResult
from pytest_wtb.report.failures import parity_failures, parity_properties
from pytest_wtb.verdict.compare import compare


def result(variant: str, answer: str) -> ExecutionResult:
    return ExecutionResult(key=variant, thread_id=f"wtb-r-{variant}-c", variant=variant, case_id="c",
                           status="succeeded", state={"answer": answer}, checkpoint_id=f"cp-{variant}")


def spec(fn: Any) -> ParitySpec:
    return ParitySpec(comparators=(("answer", fn),))


def test_the_reason_stands_under_its_key_path() -> None:
    (text,) = parity_failures(result("base", "yes"), [result("other", "no")],
                              spec(lambda a, b: f"{a!r} and {b!r} disagree"), None)
    lines = text.splitlines()
    at = lines.index("  answer")
    assert lines[at + 1:at + 4] == ["    base (baseline): 'yes'", "    other:           'no'",
                                    "    reason:          'yes' and 'no' disagree"]


def test_a_raising_comparator_names_key_comparator_variants_and_thread_ids() -> None:
    def strict_judge(a: Any, b: Any) -> bool:
        raise RuntimeError("judge offline")

    with pytest.raises(ComparatorError) as info:
        parity_failures(result("base", "yes"), [result("other", "no")], spec(strict_judge), None)
    assert str(info.value).splitlines() == [
        "parity: comparator test_a_raising_comparator_names_key_comparator_variants_and_thread_ids.<locals>."
        "strict_judge for key 'answer' raised RuntimeError: judge offline",
        "  while comparing variant 'other' with baseline 'base' on case 'c'",
        "  base (baseline): thread_id=wtb-r-base-c checkpoint_id=cp-base",
        "  other:           thread_id=wtb-r-other-c checkpoint_id=cp-other",
    ]


def test_junit_properties_of_a_verdict() -> None:
    diffs = compare({"a": 1, "b": [1]}, {"a": 2, "b": [2]}, ParitySpec())
    assert parity_properties(diffs) == [("wtb_parity", "failed"), ("wtb_parity_diff", "a, b[0]")]
    assert parity_properties([]) == [("wtb_parity", "passed")]
