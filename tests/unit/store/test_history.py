"""The store as a history: listing runs, naming them, diffing two, comparing with a stored one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update

from pytest_wtb.cli.rundiff import diff_runs, format_diff
from pytest_wtb.declare.parity import ParitySpec
from pytest_wtb.errors import StoreError
from pytest_wtb.model import ErrorInfo
from pytest_wtb.pytest.against import AgainstCheck, resolve_against
from pytest_wtb.store import Store, open_store, parse_store_url, schema
from pytest_wtb.store.runs import VariantCount, list_runs, resolve_run, run_executions, variant_counts
from tests.unit.store.builders import result, spec, write_run

if TYPE_CHECKING:
    from tests.store_support import StoreUnderTest

pytest_plugins = ["tests.store_support"]
BOOM = ErrorInfo("ValueError", "boom", "answer")


@pytest.fixture
def opened(store: StoreUnderTest) -> Iterator[Store]:
    s = open_store(parse_store_url(store.url, Path(".")))
    yield s
    s.close()


def three_runs(opened: Store) -> None:
    """aaaa1111 then aaaa2222 then bbbb3333, one second apart."""
    write_run(opened.results, "aaaa1111", {("base", "one"): {"answer": "a", "score": 0.5}, ("fast", "one"): BOOM})
    write_run(
        opened.results,
        "aaaa2222",
        {("base", "one"): {"answer": "a", "score": 0.5 + 1e-12}, ("fast", "one"): {"answer": "b"}},
        status="failed",
    )
    write_run(opened.results, "bbbb3333", {("base", "one"): {"answer": "CHANGED", "score": 0.5}})
    with opened.results.write() as conn:
        for i, run_id in enumerate(("aaaa1111", "aaaa2222", "bbbb3333")):
            conn.execute(update(schema.runs).where(schema.runs.c.run_id == run_id).values(started_at=1000.0 + i))


def test_runs_are_listed_newest_first_with_counts_per_variant(opened: Store) -> None:
    three_runs(opened)
    opened.results.record_parity(
        run_id="aaaa2222", nodeid="t", variant="fast", baseline="base", case_id="one", passed=False,
        thread_id=spec("aaaa2222", "fast", "one").thread_id,
    )
    runs = list_runs(opened.results, limit=2)
    assert [r.run_id for r in runs] == ["bbbb3333", "aaaa2222"]
    assert runs[1].status == "failed" and runs[1].host == "test-host" and runs[1].git == "-"
    counts = variant_counts(opened.results, ["aaaa1111", "aaaa2222"])
    assert counts["aaaa1111"] == [
        VariantCount("test_mod", "base", passed=1),
        VariantCount("test_mod", "fast", failed=1),
    ]
    assert counts["aaaa2222"][1] == VariantCount("test_mod", "fast", passed=1, parity_failed=1)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("last", "bbbb3333"),
        ("last~1", "aaaa2222"),
        ("last~2", "aaaa1111"),
        ("aaaa2222", "aaaa2222"),
        ("bbbb", "bbbb3333"),
    ],
)
def test_runs_are_named_by_id_prefix_or_position(opened: Store, ref: str, expected: str) -> None:
    three_runs(opened)
    assert resolve_run(opened.results, ref).run_id == expected


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("last~3", "no run 'last~3' in store .*: it holds fewer runs"),
        ("aaaa", "run id prefix 'aaaa' is ambiguous in store .*: aaaa2222, aaaa1111"),
        ("bbb", "no run 'bbb' in store .*at least 4 characters.*recent runs: bbbb3333, aaaa2222, aaaa1111"),
        ("zzzz9999", "no run 'zzzz9999' in store"),
    ],
)
def test_a_run_that_cannot_be_found_says_what_the_store_has(opened: Store, ref: str, message: str) -> None:
    three_runs(opened)
    with pytest.raises(StoreError, match=message):
        resolve_run(opened.results, ref)


def test_diff_reports_changed_outcomes_and_final_states_not_float_noise(opened: Store) -> None:
    three_runs(opened)
    rows = {r: run_executions(opened.results, r) for r in ("aaaa1111", "aaaa2222", "bbbb3333")}
    first = diff_runs(rows["aaaa1111"], rows["aaaa2222"], opened.results.load_state)
    assert [(c.kind, c.after["variant"]) for c in first.changes] == [("outcome", "fast")]
    assert first.unchanged == 1  # base: 0.5 vs 0.5 + 1e-12 is within the default tolerance
    second = diff_runs(rows["aaaa2222"], rows["bbbb3333"], opened.results.load_state)
    assert [(c.kind, [d.path for d in c.diffs]) for c in second.changes] == [("state", ["answer"])]
    assert [r["variant"] for r in second.only_before] == ["fast"] and second.only_after == ()
    lines = format_diff(second, "aaaa2222", "bbbb3333")
    assert lines[0] == "test_mod::base [one]: final state differs at 1 key path"
    assert lines[1] == "    answer: 'a' -> 'CHANGED'"
    assert lines[2].startswith("    thread_ids: wtb-aaaa2222-base-one-") and "-> wtb-bbbb3333-base-one-" in lines[2]
    assert lines[3] == "test_mod::fast [one]: only in aaaa2222 (succeeded)"
    assert lines[-1] == "0 changed outcome, 1 changed final state, 0 unchanged, 1 only in aaaa2222, 0 only in bbbb3333"
    outcome_lines = format_diff(first, "aaaa1111", "aaaa2222")
    assert outcome_lines[0] == "test_mod::fast [one]: outcome failed: ValueError in node 'answer' -> succeeded"


def test_diff_matches_a_case_whose_input_changed_and_keeps_same_named_cases_apart(opened: Store) -> None:
    write_run(opened.results, "r1", {("base", "one"): {"answer": "a"}}, inputs={("base", "one"): {"q": "old"}})
    write_run(opened.results, "r2", {("base", "one"): {"answer": "b"}}, inputs={("base", "one"): {"q": "new"}})
    load = opened.results.load_state
    diff = diff_runs(run_executions(opened.results, "r1"), run_executions(opened.results, "r2"), load)
    (change,) = diff.changes
    assert change.input_changed
    assert format_diff(diff, "r1", "r2")[0].endswith("final state differs at 1 key path (the case's input changed)")

    # two tests of one module with a case 'one' each, different inputs: matched by input, not confused
    for run_id, answers in (("r3", ("x", "y")), ("r4", ("x", "CHANGED"))):
        opened.results.start_run(run_id, "threads")
        for q, answer in zip(("first", "second"), answers, strict=True):
            s = spec(run_id, "base", "one", {"q": q})
            opened.results.claim(s, "me", "threads")
            opened.results.record(run_id, result(s, state={"answer": answer}))
    diff = diff_runs(run_executions(opened.results, "r3"), run_executions(opened.results, "r4"), load)
    second = spec("r4", "base", "one", {"q": "second"})
    assert diff.unchanged == 1 and [c.after["thread_id"] for c in diff.changes] == [second.thread_id]


def test_wtb_against_compares_with_the_same_variant_and_case_of_a_stored_run(opened: Store) -> None:
    three_runs(opened)
    opened.results.start_run("current", "threads")
    assert resolve_against(opened.results, "last", "current") is not None
    stored = resolve_against(opened.results, "aaaa2222", "current")
    assert stored is not None
    check = AgainstCheck(opened.results, stored, "aaaa2222", "current")

    now = spec("current", "base", "one")
    same = check.check("test_mod", result(now, state={"answer": "a", "score": 0.5}), now.input, ParitySpec())
    assert same is not None and same.text is None
    changed = check.check("test_mod", result(now, state={"answer": "z", "score": 0.5}), now.input, ParitySpec())
    assert changed is not None and changed.text is not None
    text = changed.text
    assert text.startswith(
        "parity: variant 'base' on case 'one' differs from the same variant and case in stored run aaaa2222 "
        "(--wtb-against=aaaa2222, started 1970-01-01 00:16 UTC) at 1 key path"
    )
    assert f"run aaaa2222:     thread_id={spec('aaaa2222', 'base', 'one').thread_id}" in text
    assert f"this run current: thread_id={now.thread_id}" in text
    assert "python -m pytest_wtb diff aaaa2222 current --store" in text
    keys_only = check.check("test_mod", result(now, state={"answer": "a", "x": 1}), now.input, ParitySpec(("answer",)))
    assert keys_only is not None and keys_only.text is None  # parity keys limit what is compared
    assert check.check("other_mod", result(now), now.input, ParitySpec()) is None  # that run did not have it


def test_wtb_against_last_skips_unfinished_runs_and_an_empty_store(opened: Store) -> None:
    assert resolve_against(opened.results, "last", "current") is None
    opened.results.start_run("current", "threads")
    opened.results.start_run("other-running", "threads")
    assert resolve_against(opened.results, "last", "current") is None
    with pytest.raises(StoreError, match="no run 'nope'"):
        resolve_against(opened.results, "nope", "current")
    write_run(opened.results, "finished", {("base", "one"): {"answer": "a"}})
    found = resolve_against(opened.results, "last", "current")
    assert found is not None and found.run_id == "finished" and found.started_at <= time.time()
