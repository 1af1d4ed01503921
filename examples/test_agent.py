"""Variants of the tool-calling agent, run on the same tasks.

``react`` is the baseline loop with LangGraph's prebuilt ToolNode. ``react_verified`` adds a node that
re-checks the arithmetic, ``tight_budget`` allows fewer agent turns, and ``sequential_tools`` is the
baseline with its tools node replaced by a hand-written one.
"""

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

import pytest_wtb as wtb
from examples.agent_workflow import build_agent_graph, run_tools_in_order

MAX_TURNS = 3


@wtb.variant(baseline=True)
def react():
    return build_agent_graph()


@wtb.variant
def react_verified():
    return build_agent_graph(verify=True)


@wtb.variant
def tight_budget():
    return build_agent_graph(max_steps=MAX_TURNS)


sequential_tools = react.with_nodes({"tools": run_tools_in_order}, name="sequential_tools")


def ask(question):
    return {"messages": [{"role": "user", "content": question}]}


TASKS = {
    "arithmetic": ask("What is 17 * 23 + 4?"),
    "feet": ask("How tall is the Eiffel Tower in feet?"),
    "ratio": ask("How many times taller is Mount Everest than the Eiffel Tower?"),
    "capital": ask("What is the capital of Australia?"),
    "density": ask("What is the population density of France?"),
}
EXPECTED = {
    "arithmetic": "The answer is 395.",
    "feet": "The answer is 1082.68.",
    "ratio": "The answer is 26.82.",
    "capital": "The capital of Australia is Canberra.",
    "density": "The answer is 123.98.",
}


@wtb.cases(TASKS)
def test_reaches_the_expected_answer(wtb_run):
    assert wtb_run.state["final_answer"] == EXPECTED[wtb_run.case_id]


@wtb.cases(TASKS)
def test_finishes_within_the_turn_budget(wtb_run):
    messages = wtb_run.state["messages"]
    assert isinstance(messages[0], HumanMessage)
    assert isinstance(messages[-1], AIMessage) and not messages[-1].tool_calls
    assert wtb_run.state["steps"] <= MAX_TURNS, f"{wtb_run.state['steps']} turns ({wtb_run.thread_id})"


@wtb.cases(TASKS)
def test_every_tool_call_gets_one_result(wtb_run):
    messages = wtb_run.state["messages"]
    call_ids = [c["id"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]
    result_ids = [m.tool_call_id for m in messages if isinstance(m, ToolMessage)]
    assert call_ids, "the agent answered without using a tool"
    assert sorted(result_ids) == sorted(call_ids)
    assert not any(m.status == "error" for m in messages if isinstance(m, ToolMessage))


@wtb.cases({"off_topic": ask("Who won the 1998 World Cup?")})
def test_says_so_when_no_tool_helps(wtb_run):
    assert wtb_run.state["final_answer"] == "I can't answer that with my tools."
    assert wtb_run.state["steps"] == 1


# Named keys, not the whole state: only react_verified has a "verified" key. Messages compare by
# type and content, so the same conversation from another tools node still matches.
@wtb.parity(keys=["final_answer", "steps", "messages"])
@wtb.cases(TASKS)
def test_same_answer_as_baseline(wtb_run):
    if wtb_run.variant == "react_verified":
        assert wtb_run.state["verified"]
