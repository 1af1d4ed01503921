"""Trajectories: every mode, failing on either side, and prefix-shared executions equal to scratch."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, ToolCall
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

from pytest_wtb.execute.fork import copy_thread
from pytest_wtb.verdict.trajectory import (
    TrajectoryStep,
    canonical,
    compare_trajectories,
    trajectory_of,
)


def step(n: int, *nodes: str, calls: Sequence[tuple[str, dict[str, Any]]] = ()) -> TrajectoryStep:
    return TrajectoryStep(n, nodes, tuple((name, canonical(args)) for name, args in calls), f"ck{n}")


A = step(1, "agent", calls=[("search", {"q": "x"})])
T = step(2, "tools")
B = step(3, "agent", calls=[("lookup", {"topic": "y"})])
END_STEP = step(5, "agent")
BASE = [step(0, "START"), A, T, B, step(4, "tools"), END_STEP]


def test_identical_trajectories_pass_every_mode() -> None:
    for mode in ("strict", "unordered", "subset", "superset"):
        assert compare_trajectories(BASE, list(BASE), mode) is None


def test_step_numbers_checkpoint_ids_and_arg_order_are_not_what_a_step_is() -> None:
    other = [TrajectoryStep(s.step + 10, s.nodes, s.tool_calls, "other") for s in BASE]
    other[1] = TrajectoryStep(11, ("agent",), (("search", canonical({"q": "x"})),), "x")
    assert compare_trajectories(BASE, other, "strict") is None
    multi = step(1, "agent", calls=[("f", {"a": 1, "b": [1, 2]})])
    assert compare_trajectories([multi], [step(1, "agent", calls=[("f", {"b": (1, 2), "a": 1})])], "strict") is None


def test_strict_fails_on_other_args_naming_the_step() -> None:
    other = list(BASE)
    other[1] = step(1, "agent", calls=[("search", {"q": "z"})])
    found = compare_trajectories(BASE, other, "strict")
    assert found is not None and found.index == 1
    assert found.baseline is BASE[1] and found.other is other[1]
    assert 'search({"q": "z"})' in found.other.describe()


def test_strict_fails_on_order_which_unordered_accepts() -> None:
    other = [BASE[0], B, T, A, *BASE[4:]]
    found = compare_trajectories(BASE, other, "strict")
    assert found is not None and found.index == 1
    assert compare_trajectories(BASE, other, "unordered") is None


def test_strict_fails_when_either_side_is_longer() -> None:
    shorter = compare_trajectories(BASE, BASE[:-1], "strict")
    assert shorter is not None and shorter.other is None and shorter.baseline is END_STEP
    longer = compare_trajectories(BASE[:-1], BASE, "strict")
    assert longer is not None and longer.baseline is None and longer.other is END_STEP


def test_unordered_fails_on_an_extra_and_on_a_missing_step() -> None:
    extra = compare_trajectories(BASE, [*BASE, step(6, "tools")], "unordered")
    assert extra is not None and extra.index == 6 and "variant's step is not in the baseline" in extra.why
    missing = compare_trajectories(BASE, [s for s in BASE if s is not B], "unordered")
    assert missing is not None and missing.baseline is B and "baseline's step is not in the variant" in missing.why


def test_subset_accepts_fewer_steps_and_fails_on_a_step_the_baseline_never_took() -> None:
    assert compare_trajectories(BASE, [s for s in BASE if s is not B], "subset") is None
    other = [*BASE[:3], step(3, "agent", calls=[("delete", {})])]
    found = compare_trajectories(BASE, other, "subset")
    assert found is not None and found.index == 3 and found.other is other[3]
    # a step taken more often than in the baseline is not contained in it
    assert compare_trajectories(BASE, [*BASE, T], "subset") is not None


def test_superset_accepts_extra_steps_and_fails_on_a_baseline_step_missing() -> None:
    assert compare_trajectories(BASE, [*BASE, step(6, "agent", calls=[("extra", {})])], "superset") is None
    found = compare_trajectories(BASE, [s for s in BASE if s is not B], "superset")
    assert found is not None and found.baseline is B
    assert compare_trajectories(BASE, BASE[:-1], "superset") is not None


def test_parallel_nodes_match_in_any_order_tool_calls_in_order() -> None:
    assert compare_trajectories([step(1, "a", "b")], [step(1, "b", "a")], "strict") is None
    two = [("f", {}), ("g", {})]
    assert compare_trajectories([step(1, "x", calls=two)], [step(1, "x", calls=two[::-1])], "strict") is not None


# --- real executions: a tool-calling agent over add_messages and ToolNode ----------------------


@tool
def search(q: str) -> str:
    """Search the web."""
    return f"results for {q}"


@tool
def lookup(topic: str) -> str:
    """Look a topic up."""
    return f"{topic}: 42"


class Scripted(BaseChatModel):
    """Tool calls by turn from a script; a final answer once the script is spent."""

    script: list[list[tuple[str, dict[str, Any]]]]

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Scripted:
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kw: Any) -> ChatResult:
        turn = sum(isinstance(m, AIMessage) for m in messages)
        if turn < len(self.script):
            calls = [ToolCall(name=n, args=a, id=f"id-{turn}-{i}-{len(messages)}")
                     for i, (n, a) in enumerate(self.script[turn])]
            msg = AIMessage(content="", tool_calls=calls)
        else:
            msg = AIMessage(content="done")
        return ChatResult(generations=[ChatGeneration(message=msg)])


class S(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    prepared: bool


def agent_graph(script: list[list[tuple[str, dict[str, Any]]]]) -> StateGraph[S]:
    model = Scripted(script=script).bind_tools([search, lookup])

    def agent(state: S) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    def route(state: S) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    g: StateGraph[S] = StateGraph(S)
    g.add_node("prepare", lambda s: {"prepared": True})
    g.add_node("agent", agent)
    g.add_node("tools", ToolNode([search, lookup]))
    g.add_edge(START, "prepare")
    g.add_edge("prepare", "agent")
    g.add_conditional_edges("agent", route, ["tools", END])
    g.add_edge("tools", "agent")
    return g


SCRIPT = [[("search", {"q": "weather"})], [("lookup", {"topic": "rain"}), ("search", {"q": "umbrella"})]]
CASE = {"messages": [HumanMessage("will it rain?")]}


@pytest.fixture
def saver(tmp_path: Path) -> SqliteSaver:
    return SqliteSaver(sqlite3.connect(tmp_path / "c.db", check_same_thread=False))


def run(saver: SqliteSaver, script: Any, thread_id: str) -> list[TrajectoryStep]:
    agent_graph(script).compile(checkpointer=saver).invoke(CASE, {"configurable": {"thread_id": thread_id}})
    return trajectory_of(saver, thread_id)


def test_an_agents_trajectory_holds_its_nodes_and_tool_calls(saver: SqliteSaver) -> None:
    traj = run(saver, SCRIPT, "t")
    assert [s.describe() for s in traj] == [
        "START", "prepare", 'agent calling search({"q": "weather"})', "tools",
        'agent calling lookup({"topic": "rain"}), search({"q": "umbrella"})', "tools", "agent",
    ]
    assert all(s.checkpoint_id for s in traj)


def test_agent_variants_caught_by_each_mode(saver: SqliteSaver) -> None:
    base = run(saver, SCRIPT, "base")
    other_args = run(saver, [[("search", {"q": "sun"})], SCRIPT[1]], "args")
    extra = run(saver, [*SCRIPT, [("lookup", {"topic": "wind"})]], "extra")
    fewer = run(saver, SCRIPT[:1], "fewer")
    swapped = run(saver, [SCRIPT[1], SCRIPT[0]], "swapped")
    found = compare_trajectories(base, other_args, "strict")
    assert found is not None and found.index == 2 and found.baseline is not None and found.other is not None
    assert (found.baseline.step, found.other.step) == (2, 2)
    assert compare_trajectories(base, swapped, "strict") is not None
    assert compare_trajectories(base, swapped, "unordered") is None
    assert compare_trajectories(base, extra, "superset") is None
    assert compare_trajectories(base, extra, "subset") is not None
    assert compare_trajectories(base, fewer, "subset") is None
    assert compare_trajectories(base, fewer, "superset") is not None
    assert compare_trajectories(base, other_args, "unordered") is not None


def test_a_forked_execution_has_the_trajectory_it_would_have_from_scratch(saver: SqliteSaver) -> None:
    """Prefix sharing copies the prefix's checkpoints and resumes the copy: what a trajectory says
    must not depend on it (the variant here differs from the prefix's graph after 'prepare')."""
    variant_script = [[("lookup", {"topic": "sun"})]]
    scratch = run(saver, variant_script, "scratch")

    prefix = agent_graph(SCRIPT).compile(checkpointer=saver, interrupt_before=["agent"])
    prefix.invoke(CASE, {"configurable": {"thread_id": "prefix"}})
    assert copy_thread(saver, "prefix", "forked") is not None
    agent_graph(variant_script).compile(checkpointer=saver).invoke(None, {"configurable": {"thread_id": "forked"}})
    forked = trajectory_of(saver, "forked")

    assert [(s.step, s.identity) for s in forked] == [(s.step, s.identity) for s in scratch]
    for mode in ("strict", "unordered", "subset", "superset"):
        assert compare_trajectories(scratch, forked, mode) is None
    # and a forked execution of a different variant still differs from it
    assert compare_trajectories(run(saver, SCRIPT, "base"), forked, "strict") is not None


def test_args_compare_as_json_values() -> None:
    assert canonical({"n": 1}) == canonical({"n": 1.0})
    assert canonical({"flag": True}) != canonical({"flag": 1})
    assert canonical({"xs": [{"b": 2, "a": 3}, 1]}) == canonical({"xs": ({"a": 3, "b": 2}, 1.0)})
    assert canonical({"xs": [1, 2]}) != canonical({"xs": [2, 1]})
    assert canonical({"q": "x"}) != canonical({"q": "x "})
    assert canonical({"v": float("nan")}) == canonical({"v": float("nan")})


def test_tool_calls_are_read_from_the_messages_a_step_added_also_without_ids() -> None:
    from pytest_wtb.verdict.history import Step
    from pytest_wtb.verdict.trajectory import from_history

    first = AIMessage(content="", tool_calls=[ToolCall(name="search", args={"q": "a"}, id="1")])
    second = AIMessage(content="", tool_calls=[ToolCall(name="lookup", args={"t": "b"}, id="2")])
    steps = [
        Step(-1, "input", ("(input)",), "c0", {"messages": [HumanMessage("hi")]}),
        Step(0, "loop", ("agent",), "c1", {"messages": [HumanMessage("hi"), first]}),
        Step(1, "loop", ("agent",), "c2", {"messages": [HumanMessage("hi"), first, second]}),
    ]
    traj = from_history(steps)
    assert [s.tool_calls for s in traj] == [(("search", canonical({"q": "a"})),), (("lookup", canonical({"t": "b"})),)]
