"""Parity for tool-calling agents as a user sees it: a variant that sends the same tool a different
argument fails naming the argument's path with both values and both thread_ids; one that differs
only in message ids and provider metadata passes; the same through --wtb-against and wtb_bench."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

AGENT = '''
import os
import uuid
from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

import pytest_wtb as wtb


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


@tool
def search(q: str) -> str:
    """Search the web."""
    return f"results for {q}"


def make_agent(suffix, noisy):
    def agent(state):
        msgs = state["messages"]
        # fresh ids and provider metadata on every call: what two runs of one agent never share
        extra = {"id": f"run-{uuid.uuid4()}", "response_metadata": {"model_name": f"m-{uuid.uuid4().hex}"},
                 "usage_metadata": {"input_tokens": 3, "output_tokens": 5, "total_tokens": 8}} if noisy else {}
        if not any(m.type == "tool" for m in msgs):
            q = msgs[0].content + suffix + os.environ.get("AGENT_Q_SUFFIX", "")
            call = {"name": "search", "args": {"q": q}, "id": f"call_{uuid.uuid4().hex[:8]}"}
            return {"messages": [AIMessage(content="", tool_calls=[call], **extra)]}
        return {"messages": [AIMessage(content="done", **extra)]}
    return agent


def route(state):
    return "tools" if state["messages"][-1].tool_calls else END


def build(suffix="", noisy=False):
    g = StateGraph(State)
    g.add_node("agent", make_agent(suffix, noisy))
    g.add_node("tools", ToolNode([search]))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", route, ["tools", END])
    g.add_edge("tools", "agent")
    return g


@wtb.variant(baseline=True)
def base():
    return build()


@wtb.variant
def noisy():
    return build(noisy=True)


@wtb.variant
def other_query():
    return build(suffix=" 2026")


CASES = {"weather": {"messages": [{"role": "user", "content": "weather in Paris"}]}}
'''

ITEMS = AGENT + '''

def same_queries(baseline, value):
    qs = [[c["args"]["q"] for c in m.tool_calls] for m in baseline if m.type == "ai"]
    vs = [[c["args"]["q"] for c in m.tool_calls] for m in value if m.type == "ai"]
    return qs == vs or f"search queries {qs} became {vs}"


@wtb.parity(keys=["messages"])
@wtb.cases(CASES)
def test_agent(wtb_run):
    pass


@wtb.parity(compare={"messages": same_queries})
@wtb.cases(CASES)
def test_queries(wtb_run):
    pass
'''


def _props(path: object) -> dict[str, dict[str, str]]:
    root = ET.parse(str(path)).getroot()
    return {
        str(case.get("name")): {str(p.get("name")): str(p.get("value")) for p in case.iter("property")}
        for case in root.iter("testcase")
    }


def test_a_different_tool_argument_fails_parity_and_fresh_ids_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=ITEMS)
    result = pytester.runpytest("-v", "--junitxml=report.xml", "--wtb-report=report.json")
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_agent[[]noisy-weather[]] PASSED*",
            "*test_agent[[]other_query-weather[]] FAILED*",
            "*test_queries[[]noisy-weather[]] PASSED*",
            "*test_queries[[]other_query-weather[]] FAILED*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E   AssertionError: parity: variant 'other_query' differs from baseline 'base' on case 'weather' "
            "at 2 key paths",
            "*  messages[[]1[]].tool_calls[[]0[]].args.q",
            "*    base (baseline): 'weather in Paris'",
            "*    other_query:     'weather in Paris 2026'",
            "*  messages[[]2[]].content",
            "*    base (baseline): 'results for weather in Paris'",
            "*    other_query:     'results for weather in Paris 2026'",
            "*  base (baseline): thread_id=wtb-*-base-weather-* checkpoint_id=*",
            "*  other_query:     thread_id=wtb-*-other_query-weather-* checkpoint_id=*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E   AssertionError: parity: variant 'other_query' differs from baseline 'base' on case 'weather' "
            "at 1 key path",
            "*  messages",
            "*    base (baseline): [[]human: 'weather in Paris', ai: '' tool_calls=[[]search(q='weather in Paris')[]], *",
            "*    reason:          search queries [[][[]'weather in Paris'[]], [[][]][]] became "
            "[[][[]'weather in Paris 2026'[]], [[][]][]]",
        ]
    )
    props = _props(pytester.path / "report.xml")
    assert props["test_agent[other_query-weather]"]["wtb_parity"] == "failed"
    assert props["test_agent[other_query-weather]"]["wtb_parity_diff"] == (
        "messages[1].tool_calls[0].args.q, messages[2].content")
    assert props["test_agent[noisy-weather]"]["wtb_parity"] == "passed"
    assert "wtb_parity_diff" not in props["test_agent[noisy-weather]"]

    report = json.loads((pytester.path / "report.json").read_text())
    items = {i["nodeid"].split("::")[1]: i for e in report["executions"] for i in e["items"]}
    assert [r["path"] for r in items["test_agent[other_query-weather]"]["parity"]] == [
        "messages[1].tool_calls[0].args.q", "messages[2].content"]
    (row,) = items["test_queries[other_query-weather]"]["parity"]
    assert row["path"] == "messages"
    assert row["reason"] == "search queries [['weather in Paris'], []] became [['weather in Paris 2026'], []]"
    assert items["test_agent[noisy-weather]"]["parity"] is None
    # the report's whole-state diff judges messages as the verdict does: fresh ids are no difference
    state_diffs = {e["variant"]: e["diff"] for e in report["executions"]}
    assert state_diffs["noisy"] == []
    assert [r["path"] for r in state_diffs["other_query"]] == ["messages[1].tool_calls[0].args.q", "messages[2].content"]


def test_a_comparator_that_raises_fails_the_item_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT + '''

def count_tools(baseline, value):
    return baseline[1].tool_calls[5]


@wtb.parity(compare={"messages": count_tools})
@wtb.cases(CASES)
def test_agent(wtb_run):
    pass
''')
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E   pytest_wtb.ComparatorError: parity: comparator count_tools for key 'messages' raised "
            "IndexError: list index out of range",
            "*  while comparing variant 'noisy' with baseline 'base' on case 'weather'",
            "*  base (baseline): thread_id=wtb-*-base-weather-* checkpoint_id=*",
            "*  noisy:           thread_id=wtb-*-noisy-weather-* checkpoint_id=*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_the_same_verdicts_against_a_stored_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_agent=AGENT + '''

@wtb.cases(CASES)
def test_agent(wtb_run):
    pass
''')
    store = f"--wtb-store=sqlite:///{pytester.path / 'wtb.db'}"
    pytester.runpytest(store).assert_outcomes(passed=3)
    again = pytester.runpytest(store, "--wtb-against=last")  # fresh ids and metadata everywhere
    again.assert_outcomes(passed=3)
    monkeypatch.setenv("AGENT_Q_SUFFIX", "!")
    changed = pytester.runpytest(store, "--wtb-against=last")
    changed.assert_outcomes(failed=3)
    changed.stdout.fnmatch_lines(
        [
            "*parity: variant 'base' on case 'weather' differs from the same variant and case in stored run *"
            " at 2 key paths",
            "*  messages[[]1[]].tool_calls[[]0[]].args.q",
            "*    run *:*'weather in Paris'",
            "*    this run *: 'weather in Paris!'",
            "*  run *:*thread_id=wtb-*-base-weather-* checkpoint_id=*",
            "*  this run *: thread_id=wtb-*-base-weather-* checkpoint_id=*",
        ]
    )


def test_the_same_verdicts_in_wtb_bench(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT + '''

def test_noisy_agrees(wtb_bench):
    wtb_bench.assert_parity(CASES["weather"], keys=["messages"], variants=["noisy"])


def test_other_query_differs(wtb_bench):
    wtb_bench.assert_parity(CASES["weather"], keys=["messages"], variants=["other_query"])
''')
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: parity: 1 of 1 variant differs from baseline 'base' on this input",
            "E         input: {'messages': [[]{'role': 'user', 'content': 'weather in Paris'}[]]}",
            "E       parity: variant 'other_query' differs from baseline 'base' on case 'hyp-*' at 2 key paths",
            "E         messages[[]1[]].tool_calls[[]0[]].args.q",
            "E           base (baseline): 'weather in Paris'",
            "E           other_query:     'weather in Paris 2026'",
        ]
    )
