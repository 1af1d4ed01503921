"""Parity as a user sees it: failed items with a readable diff naming variants, case, paths, thread_ids."""

from __future__ import annotations

import re

import pytest

from tests.plugin.graphs_src import GRAPH

PARITY = GRAPH + '''

@wtb.variant(baseline=True)
def base():
    return build()


def close_answer(state):
    return {"answer": f"answer to {state['q']}", "score": 0.5 + 1e-9, "log": ["answer"]}


def other_answer(state):
    return {"answer": f"ANSWER TO {state['q']}", "score": 0.75, "log": ["answer"]}


close = base.with_nodes({"answer": close_answer}, name="close")
diverging = base.with_nodes({"answer": other_answer}, name="diverging")
'''


def test_parity_failure_names_variants_case_paths_values_and_thread_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_par=PARITY
        + '''

BODY_RAN = []


@wtb.parity(keys=["answer", "score"], rel_tol=1e-6)
@wtb.cases({"refund": {"q": "refund"}})
def test_same_as_baseline(wtb_run):
    BODY_RAN.append(wtb_run.variant)


def test_zz_body_not_run_for_mismatch():
    assert sorted(BODY_RAN) == ["base", "close"]
'''
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_same_as_baseline[[]base-refund[]] PASSED*",
            "*test_same_as_baseline[[]close-refund[]] PASSED*",
            "*test_same_as_baseline[[]diverging-refund[]] FAILED*",
            "E   AssertionError: parity: variant 'diverging' differs from baseline 'base' on case 'refund' at 2 key paths",
            "*  answer",
            "*    base (baseline): 'answer to refund'",
            "*    diverging:       'ANSWER TO refund'",
            "*  score",
            "*    base (baseline): 0.5",
            "*    diverging:       0.75",
            "*  base (baseline): thread_id=wtb-*-base-refund-* checkpoint_id=*",
            "*  diverging:       thread_id=wtb-*-diverging-refund-* checkpoint_id=*",
            "*  inspect: python -m pytest_wtb show wtb-*-diverging-refund-* --store 'sqlite:///*wtb.db'",
        ]
    )
    text = result.stdout.str()
    assert re.search(r"checkpoint_id=[0-9a-f]{8}-", text), "checkpoint ids must be real ids, not '-'"
    assert "log" not in text.split("parity:")[1].split("inspect:")[0], "keys= limits the comparison"


def test_whole_state_parity_and_messages_compared_by_type_and_content(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_msgs='''
from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

import pytest_wtb as wtb


class State(TypedDict):
    messages: Annotated[list, add_messages]


def reply(state):
    return {"messages": [AIMessage(content="hello")]}


def reply_other_id(state):
    return {"messages": [AIMessage(content="hello", id="another-id", response_metadata={"x": 1})]}


def reply_tool(state):
    return {"messages": [HumanMessage(content="hello")]}


def build(fn):
    g = StateGraph(State)
    g.add_node("reply", fn)
    g.add_edge(START, "reply")
    g.add_edge("reply", END)
    return g


@wtb.variant(baseline=True)
def base():
    return build(reply)


@wtb.variant
def same_content():
    return build(reply_other_id)


@wtb.variant
def human():
    return build(reply_tool)


@wtb.parity()
@wtb.cases({"hi": {"messages": [("user", "hi")]}})
def test_parity(wtb_run):
    pass
'''
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*parity: variant 'human' differs from baseline 'base' on case 'hi' at 1 key path",
            "*  messages[[]1[]]",
            "*    base (baseline): ai: 'hello'",
            "*    human:           human: 'hello'",
        ]
    )


def test_parity_key_typo_is_a_failure_not_a_vacuous_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_typo=PARITY
        + '''

@wtb.parity(keys=["answr"])
@wtb.cases({"x": {"q": "x"}})
def test_typo(wtb_run):
    pass
'''
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=3)  # the baseline's own item too: its final state has no such key either
    result.stdout.fnmatch_lines(["*parity: key 'answr' of @wtb.parity(keys=...) not in the final state*keys present: *answer*"])


def test_parity_when_the_baseline_execution_failed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_basefail=GRAPH
        + '''

def broken(state):
    raise RuntimeError("index offline")


@wtb.variant(baseline=True)
def base():
    return build(retrieve_fn=broken)


@wtb.variant
def other():
    return build()


@wtb.parity()
@wtb.cases({"x": {"q": "x"}})
def test_p(wtb_run):
    pass
'''
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*parity cannot be checked because the baseline's execution did not succeed:",
            "*execution of baseline variant 'base' on case 'x' failed: RuntimeError in node 'retrieve': index offline",
        ]
    )
