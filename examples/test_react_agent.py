"""Variants of an async ReAct agent that differ by context, prompt, node and tool.

Every variant builds the same graph (``examples/react_agent.py``); what changes is what it runs with:
- ``react`` (baseline): the shipped ``Context()``, declared so ``wtb_run.context`` shows it.
- ``small_model``: ``Context(model="small-model")``. Two variants that differ only in context are two
  executions, which is how "model A vs model B" is declared. The small model answers from memory
  instead of searching, and its memory is stale.
- ``terse_prompt``: a context dict that replaces only the system prompt; the model answers with the
  bare value and does the arithmetic itself, in fewer steps.
- ``with_retry``: the baseline with ``call_model`` swapped for a version with a deadline and a retry.
- ``normalized_search``: the baseline with its ``tools`` node swapped for a ``ToolNode`` whose search
  tool is a rewrite of the index lookup.

The tests describe the shipped agent, so ``small_model`` and ``terse_prompt`` are expected to fail
every one of them: they carry ``xfail(strict=True)``, so ``pytest examples`` stays green and a change
that makes one of them pass is reported (XPASS) instead of going unnoticed. To see their parity
failures (each differing message, both thread_ids), run::

    python -m pytest examples/test_react_agent.py --runxfail -k parity
"""

import pytest
from langgraph.errors import GraphRecursionError
from langgraph.prebuilt import ToolNode

import pytest_wtb as wtb
from examples.react_agent import (
    TERSE_PROMPT,
    Context,
    build_react_agent,
    calculate,
    call_model_with_retry,
    search_normalized,
)

# The model's and the tools' answers replay from recordings committed beside this module, so it needs
# no model: under "none" a call with no recording fails its execution instead of calling out. After a
# change to the agent, record and export again (README, "Recording and replaying model and tool calls"):
#   python -m pytest examples/test_react_agent.py --wtb-record=all
#   python -m pytest_wtb recordings --export examples/recordings/react_agent.json --module examples.test_react_agent
pytestmark = pytest.mark.wtb_record("none", file="recordings/react_agent.json")


def diverges(why: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"deliberate divergence: {why}")


@wtb.variant(baseline=True, context=Context())
def react():
    return build_react_agent()


@wtb.variant(
    name="small_model",
    context=Context(model="small-model"),
    marks=[diverges("the small model trusts its stale memory instead of searching")],
)
def small_model():
    return build_react_agent()


@wtb.variant(
    name="terse_prompt",
    context={"system_prompt": TERSE_PROMPT},
    marks=[diverges("the terse prompt changes the wording and skips the calculator")],
)
def terse_prompt():
    return build_react_agent()


with_retry = react.with_nodes({"call_model": call_model_with_retry}, name="with_retry")
normalized_search = react.with_nodes({"tools": ToolNode([search_normalized, calculate])}, name="normalized_search")


def ask(question: str) -> dict:
    return {"messages": [{"role": "user", "content": question}]}


STEP_BUDGET = {"recursion_limit": 12}
TASKS = [
    wtb.case(ask("What is the capital of Australia?"), id="capital", config=STEP_BUDGET),
    wtb.case(ask("How tall is the Eiffel Tower in feet?"), id="feet", config=STEP_BUDGET),
    wtb.case(ask("How many times taller is Mount Everest than the Eiffel Tower?"), id="ratio", config=STEP_BUDGET),
]
EXPECTED = {
    "capital": "The capital of Australia is Canberra.",
    "feet": "The answer is 1082.68.",
    "ratio": "The answer is 26.82.",
}
SEARCHES = {"capital": 1, "feet": 1, "ratio": 2}


def tool_calls(messages: list) -> list[dict]:
    return [c for m in messages if m.type == "ai" for c in m.tool_calls]


@wtb.cases(TASKS)
def test_answers_from_looked_up_facts(wtb_run):
    messages = wtb_run.state["messages"]
    assert messages[-1].text == EXPECTED[wtb_run.case_id], wtb_run.thread_id
    searches = [c for c in tool_calls(messages) if c["name"] == "search"]
    assert len(searches) == SEARCHES[wtb_run.case_id], f"facts stated without a search ({wtb_run.thread_id})"
    assert all(m.status != "error" for m in messages if m.type == "tool")


# call_model (search), tools, call_model (calculate), tools, call_model (answer): five steps, so a
# recursion limit of 4 stops the shipped agent short of its answer
TOO_FEW_STEPS = wtb.case(
    ask("How tall is the Eiffel Tower in feet?"), id="feet_in_4_steps", config={"recursion_limit": 4}
)


@wtb.allow_status("failed")
@wtb.cases([TOO_FEW_STEPS])
def test_a_too_small_recursion_limit_stops_the_agent(wtb_run):
    assert wtb_run.status == "failed", f"finished within 4 steps: {wtb_run.state['messages'][-1].text!r}"
    assert wtb_run.error.type == GraphRecursionError.__name__, wtb_run.error
    assert wtb_run.config["recursion_limit"] == 4


# The conversation, not only the answer: messages compare by type, content, tool calls (name and
# args) and tool results; message ids and tool-call ids are ignored.
@wtb.parity(keys=["messages"])
@wtb.cases(TASKS)
def test_parity_same_conversation_as_baseline(wtb_run):
    assert wtb_run.state["messages"][-1].text


@wtb.cases(TASKS)
def test_ran_with_the_shipped_context_and_config(wtb_run):
    """What the tests above checked is what ships: the default model and prompt, the case's budget."""
    assert wtb_run.context == Context(), f"ran with {wtb_run.context!r}"
    assert wtb_run.config["recursion_limit"] == 12
