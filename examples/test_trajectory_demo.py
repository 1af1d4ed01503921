"""Trajectories: parity over how an agent got its answer, not only the answer.

``@wtb.parity(trajectory="superset")`` compares the nodes each variant ran at every step and the
tool calls (name and args) its model made, and lets a variant add steps of its own. The baseline
looks facts up with parallel tool calls. ``sequential_tools`` runs those calls with a hand-written
tools node (the same trajectory) and ``react_verified`` adds a verification step (a superset): both
pass. ``one_lookup_per_turn`` reaches the same final answers but asks for one fact per model turn,
so the baseline's parallel lookup never happens: a final-state parity check cannot see that, the
trajectory does. It is marked ``xfail(strict=True)`` so ``pytest examples`` stays green; to see the
failure (the step where the trajectories part, both nodes and tool calls, both thread_ids and
checkpoint ids, and the ``show --diff`` command) run::

    python -m pytest examples/test_trajectory_demo.py --runxfail
"""

from typing import Any

import pytest
from langchain_core.messages import AIMessage

import pytest_wtb as wtb
from examples.agent_workflow import AgentState, ScriptedToolCallingModel, build_agent_graph, run_tools_in_order


@wtb.variant(baseline=True)
def react():
    return build_agent_graph()


@wtb.variant
def react_verified():
    return build_agent_graph(verify=True)


sequential_tools = react.with_nodes({"tools": run_tools_in_order}, name="sequential_tools")


def one_call_per_turn(state: AgentState) -> dict[str, Any]:
    """The scripted model, but only the first of its parallel tool calls is sent each turn."""
    reply = ScriptedToolCallingModel.decide(state["messages"])
    if len(reply.tool_calls) > 1:
        reply = AIMessage(content="", tool_calls=reply.tool_calls[:1])
    update: dict[str, Any] = {"messages": [reply], "steps": state.get("steps", 0) + 1}
    if not reply.tool_calls:
        update["final_answer"] = reply.text
    return update


one_lookup_per_turn = react.with_nodes(
    {"agent": one_call_per_turn},
    name="one_lookup_per_turn",
    marks=[
        pytest.mark.xfail(
            strict=True,
            reason="deliberate divergence: run `pytest examples/test_trajectory_demo.py --runxfail` to see it",
        )
    ],
)


def ask(question):
    return {"messages": [{"role": "user", "content": question}]}


# questions that need two facts: the baseline's model asks for both in one turn
TASKS = {
    "ratio": ask("How many times taller is Mount Everest than the Eiffel Tower?"),
    "density": ask("What is the population density of France?"),
}


@wtb.parity(keys=["final_answer"], trajectory="superset")
@wtb.cases(TASKS)
def test_same_answer_by_the_same_tool_calls(wtb_run):
    assert wtb_run.state["final_answer"].startswith("The answer is")
