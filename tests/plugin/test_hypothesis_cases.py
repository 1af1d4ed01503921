"""Property-based cases: @wtb.cases(strategy=...) items and wtb_bench inside @hypothesis.given."""

from __future__ import annotations

import os
import sqlite3

import pytest

from tests.plugin.graphs_src import GRAPH

LIB = GRAPH + '''
from hypothesis import given, settings, strategies as st


class Num(TypedDict):
    x: int


def double(state):
    return {"y": state["x"] * 2}


def double_from_ten_wrong(state):
    return {"y": state["x"] * 2 + (1 if state["x"] >= 10 else 0)}


def build_numbers(fn=double):
    g = StateGraph(Num)
    g.add_node("double", fn)
    g.add_edge(START, "double")
    g.add_edge("double", END)
    return g


class Out(TypedDict, total=False):
    x: int
    y: int


def build_out(fn=double):
    g = StateGraph(Out, input_schema=Num)
    g.add_node("double", fn)
    g.add_edge(START, "double")
    g.add_edge("double", END)
    return g
'''

NUMBERS = LIB + '''

@wtb.variant(baseline=True)
def base():
    return build_out()

'''

XS = "st.fixed_dictionaries({'x': st.integers(0, 1000)})"


def rows(pytester: pytest.Pytester) -> list[tuple[str, str, str, str]]:
    conn = sqlite3.connect(pytester.path / ".wtb" / "wtb.db")
    try:
        return conn.execute("select variant, case_id, status, thread_id from wtb_executions").fetchall()
    finally:
        conn.close()


def test_a_strategy_makes_one_item_per_variant_that_searches_inputs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_props=NUMBERS
        + f'''
same = base.with_nodes({{"double": lambda state: {{"y": state["x"] + state["x"]}}}}, name="same")


@wtb.parity(keys=["y"])
@wtb.cases(strategy={XS}, max_examples=8)
def test_doubles(wtb_run):
    assert wtb_run.state["y"] == 2 * wtb_run.input["x"]
    assert wtb_run.case_id.startswith("hyp-")
    if wtb_run.variant == "same":
        assert wtb_run.baseline.state == wtb_run.state
'''
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_doubles[[]base-hypothesis[]] PASSED*", "*test_doubles[[]same-hypothesis[]] PASSED*"])
    found = rows(pytester)
    assert {r[0] for r in found} == {"base", "same"} and all(r[2] == "succeeded" for r in found)
    assert len({r[3] for r in found}) == len(found) >= 8  # a fresh thread_id for every execution
    assert not (pytester.path / ".hypothesis" / "examples").exists()  # the database lives beside the store


def test_a_parity_failure_shrinks_to_the_smallest_input_and_names_its_thread_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_props=NUMBERS
        + f'''
buggy = base.with_nodes({{"double": double_from_ten_wrong}}, name="buggy")


@wtb.parity(keys=["y"])
@wtb.cases(strategy={XS}, max_examples=60)
def test_doubles(wtb_run):
    pass
'''
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E   AssertionError: parity: variant 'buggy' differs from baseline 'base' on case 'hyp-*' at 1 key path",
            "      y",
            "        base (baseline): 20",
            "        buggy:           21",
            "      base (baseline): thread_id=wtb-*-base-hyp-* checkpoint_id=*",
            "      buggy:           thread_id=wtb-*-buggy-hyp-* checkpoint_id=*",
            "      inspect: python -m pytest_wtb show wtb-*-buggy-hyp-* --store *",
            "      input: {'x': 10}",
            "*test_doubles(",
            "*input={'x': 10},",
        ]
    )
    # the thread_ids in the message are real executions of the minimal input, in the store (the summary
    # table below it lists the slowest executions, shrinking's included)
    message = result.stdout.str().split("pytest-wtb: ")[0]
    failing = [r for r in rows(pytester) if r[0] == "buggy" and r[3] in message]
    assert len(failing) == 1 and failing[0][2] == "succeeded"
    # the failing example is saved beside the store, and the next run tries it first
    # Hypothesis's own "ci" profile (loaded when CI is set) turns the example database off on purpose
    assert not (pytester.path / ".hypothesis" / "examples").exists()
    if not os.environ.get("CI"):
        assert (pytester.path / ".wtb" / "hypothesis").is_dir()
        before = len([r for r in rows(pytester) if r[0] == "buggy"])
        pytester.runpytest("-k", "buggy").assert_outcomes(failed=1)
        assert len([r for r in rows(pytester) if r[0] == "buggy"]) - before <= 3


def test_the_test_body_runs_per_example_and_a_failing_node_is_an_execution_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_props=NUMBERS
        + f'''
def picky(state):
    if state["x"] > 500:
        raise ValueError("too big: " + str(state["x"]))
    return {{"y": state["x"] * 2}}


fragile = base.with_nodes({{"double": picky}}, name="fragile")


@wtb.cases(strategy={XS}, max_examples=60)
def test_small_results(wtb_run):
    assert wtb_run.state["y"] < 100 or wtb_run.variant == "fragile", wtb_run.thread_id
'''
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_small_results[[]base-hypothesis[]]*",
            "*AssertionError: wtb-*-base-hyp-*",
            "*input={'x': 50},",
            "*test_small_results[[]fragile-hypothesis[]]*",
            "E   pytest_wtb.ExecutionFailed: execution of variant 'fragile' on case 'hyp-*' failed: "
            "ValueError in node 'double': too big: 501",
            "      thread_id=wtb-*-fragile-hyp-* checkpoint_id=*",
            "      traceback (your code):",
            "*raise ValueError(*",
            "      input: {'x': 501}",
        ]
    )


def test_inputs_are_drawn_from_the_graphs_input_schema(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_props=LIB
        + '''
@wtb.variant(baseline=True)
def base():
    return build_out(fn=lambda state: {"y": state["x"] % 7})


@wtb.cases(strategy=wtb.strategies.inputs(base), max_examples=5)
def test_schema(wtb_run):
    assert set(wtb_run.input) == {"x"} and isinstance(wtb_run.input["x"], int)


@wtb.cases(strategy=wtb.strategies.inputs(base, x=st.just(7)), max_examples=3)
def test_override(wtb_run):
    assert wtb_run.state == {"x": 7, "y": 0}
'''
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_wtb_bench_inside_given_compares_variants_per_example_without_a_deadline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bench=NUMBERS
        + '''
import time


def slow_double(state):
    time.sleep(0.25)  # past Hypothesis's default 200 ms deadline
    return {"y": state["x"] * 2}


slow = base.with_nodes({"double": slow_double}, name="slow")
buggy = base.with_nodes({"double": double_from_ten_wrong}, name="buggy")


@settings(max_examples=3)
@given(x=st.integers(0, 5))
def test_slow_is_fine(wtb_bench, x):
    runs = wtb_bench.assert_parity({"x": x}, keys=["y"], variants=["slow"])
    assert runs["slow"].state["y"] == 2 * x
    assert wtb_bench.run({"x": x}).variant == "base"


@settings(max_examples=50)
@given(x=st.integers(0, 100))
def test_buggy(wtb_bench, x):
    wtb_bench.assert_parity({"x": x}, keys=["y"], variants=["buggy"])
'''
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            '>       wtb_bench.assert_parity({"x": x}, keys=["y"], variants=["buggy"])',
            "E       AssertionError: parity: 1 of 1 variant differs from baseline 'base' on this input",
            "E         input: {'x': 10}",
            "E       parity: variant 'buggy' differs from baseline 'base' on case 'hyp-*' at 1 key path",
            "E         thread_ids: base=wtb-*-base-hyp-*, buggy=wtb-*-buggy-hyp-*",
            "*x=10,",
        ]
    )


@pytest.mark.parametrize(
    ("decorator", "message"),
    [
        ("@wtb.cases([{'x': 1}], strategy=st.just({'x': 1}))", "takes either graph inputs (with ids=) or strategy=, not both"),
        ("@wtb.cases(strategy=st.just({'x': 1}), max_examples=0)", "@wtb.cases(max_examples=...) takes a whole number >= 1, got 0"),
        ("@wtb.cases(strategy=[{'x': 1}])", "@wtb.cases(strategy=...) takes a Hypothesis strategy, got list"),
        ("@wtb.cases()", "@wtb.cases needs graph inputs (a list or a dict) or strategy="),
    ],
)
def test_declaration_mistakes_are_collection_errors(pytester: pytest.Pytester, decorator: str, message: str) -> None:
    pytester.makepyfile(test_props=NUMBERS + f"\n{decorator}\ndef test_x(wtb_run):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"pytest-wtb: test_x: *{message}"])
