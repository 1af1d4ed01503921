"""Async graphs as a user writes them, with nothing to declare: async nodes, async tools in a ToolNode,
all-async graphs and compiled async subgraphs, next to sync graphs in the same module, on the threads
backend, on Ray and under pytest-xdist."""

from __future__ import annotations

import pytest

from tests.conftest import service_missing

# every graph shape in one module, so the same items prove each backend; the sync variant shows a
# mixed run still takes the sync path for sync graphs
PIPELINES = '''
import asyncio
import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb


class State(TypedDict, total=False):
    q: str
    docs: list
    answer: str
    log: Annotated[list, operator.add]


def retrieve(state):
    return {"docs": [f"doc-{state['q']}"], "log": ["retrieve"]}


async def aretrieve(state):
    await asyncio.sleep(0.01)
    return {"docs": [f"doc-{state['q']}"], "log": ["aretrieve"]}


def answer(state):
    return {"answer": f"answer to {state['q']} from {state['docs'][0]}", "log": ["answer"]}


async def aanswer(state):
    await asyncio.sleep(0.01)
    return {"answer": f"answer to {state['q']} from {state['docs'][0]}", "log": ["aanswer"]}


def build(first, second):
    g = StateGraph(State)
    g.add_node("retrieve", first)
    g.add_node("answer", second)
    g.add_edge(START, "retrieve")
    g.add_edge("retrieve", "answer")
    g.add_edge("answer", END)
    return g


def inner():
    g = StateGraph(State)
    g.add_node("fetch", aretrieve)
    g.add_edge(START, "fetch")
    g.add_edge("fetch", END)
    return g.compile()


@wtb.variant(baseline=True)
def sync():
    return build(retrieve, answer)


@wtb.variant
def one_async():
    return build(aretrieve, answer)


@wtb.variant
def all_async():
    return build(aretrieve, aanswer).compile()


@wtb.variant
def subgraph():
    return build(inner(), answer)


swapped = sync.with_nodes({"retrieve": aretrieve}, name="swapped")

LOG = {
    "sync": ["retrieve", "answer"],
    "one_async": ["aretrieve", "answer"],
    "all_async": ["aretrieve", "aanswer"],
    "subgraph": ["aretrieve", "answer"],
    "swapped": ["aretrieve", "answer"],
}


@wtb.parity(keys=["answer", "docs"])
@wtb.cases({"a": {"q": "a"}, "b": {"q": "b"}})
def test_pipeline(wtb_run):
    assert wtb_run.error is None and wtb_run.status == "succeeded"
    assert wtb_run.state["answer"] == f"answer to {wtb_run.case_id} from doc-{wtb_run.case_id}"
    # an async node's name in the log proves it was awaited: the sync API refuses async-only nodes
    assert wtb_run.state["log"] == LOG[wtb_run.variant], wtb_run.state
'''

# an agent: a fake chat model (bound tools, no network) asks for an async-only tool through a ToolNode
AGENT = '''
import asyncio
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

import pytest_wtb as wtb


@tool
async def lookup(topic: str) -> str:
    """Look a topic up."""
    await asyncio.sleep(0.01)
    return f"facts about {topic}"


@tool
async def lookup_loud(topic: str) -> str:
    """Look a topic up, loudly."""
    await asyncio.sleep(0.01)
    return f"FACTS ABOUT {topic}"


class FakeChat(BaseChatModel):
    """First turn: call the tool on the question; then answer with what the tool said."""

    tools: list = []

    @property
    def _llm_type(self) -> str:
        return "fake-chat"

    def bind_tools(self, tools: Any, **kwargs: Any) -> "FakeChat":
        return FakeChat(tools=[t.name for t in tools])

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        last = messages[-1]
        if isinstance(last, ToolMessage):
            msg = AIMessage(content=f"answer: {last.content}")
        else:
            msg = AIMessage(content="", tool_calls=[{"name": self.tools[0], "args": {"topic": last.content},
                                                     "id": "call-1"}])
        return ChatResult(generations=[ChatGeneration(message=msg)])


def build(tool_fn):
    model = FakeChat().bind_tools([lookup])

    async def agent(state):
        return {"messages": [await model.ainvoke(state["messages"])]}

    g = StateGraph(MessagesState)
    g.add_node("agent", agent)
    g.add_node("tools", ToolNode([tool_fn]))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    return g


@wtb.variant(baseline=True)
def quiet():
    return build(lookup)


# a ToolNode as the replacement node; its tool keeps the name the model calls
loud = quiet.with_nodes({"tools": ToolNode([lookup_loud.copy(update={"name": "lookup"})])}, name="loud")


@wtb.cases({"tea": {"messages": [HumanMessage("tea")]}})
def test_agent(wtb_run):
    messages = wtb_run.state["messages"]
    assert [type(m).__name__ for m in messages] == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert messages[1].tool_calls[0]["name"] == "lookup"
    expected = {"quiet": "facts about tea", "loud": "FACTS ABOUT tea"}[wtb_run.variant]
    assert messages[2].content == expected
    assert messages[-1].content == "answer: " + expected
'''


ROUTED = '''
import asyncio
from typing import TypedDict

from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb


class State(TypedDict, total=False):
    q: str
    out: str


def work(state):
    return {"out": state["q"].upper()}


def finish(state):
    return {"out": state["out"] + "!"}


async def route(state):  # an async router: the graph's only async part
    await asyncio.sleep(0.01)
    return "finish"


@wtb.variant
def routed():
    g = StateGraph(State)
    g.add_node("work", work)
    g.add_node("finish", finish)
    g.add_edge(START, "work")
    g.add_conditional_edges("work", route, ["finish"])
    g.add_edge("finish", END)
    return g


@wtb.cases({"a": {"q": "a"}})
def test_routed(wtb_run):
    assert wtb_run.state["out"] == "A!"
'''


def test_an_async_conditional_edge_runs_with_nothing_to_declare(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_routed=ROUTED)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def _need_ray() -> None:
    from pytest_wtb.execute.backends.ray_cluster import ray_installed

    if not ray_installed():
        service_missing("Ray", "pip install 'pytest-wtb[ray]'")


def test_async_nodes_subgraphs_and_sync_graphs_pass_side_by_side_on_threads(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_pipes=PIPELINES)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(["*test_pipeline?sync-a? PASSED*", "*test_pipeline?subgraph-b? PASSED*"])


def test_a_tool_node_with_async_tools_runs_the_agent_loop(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_agent?loud-tea? PASSED*"])


def test_async_graphs_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_pipes=PIPELINES, test_agent=AGENT)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=12)


def test_async_graphs_on_ray(pytester: pytest.Pytester, ray_address: str) -> None:
    _need_ray()
    module = PIPELINES.replace(
        "    assert wtb_run.error is None", '    assert wtb_run.backend == "ray"\n    assert wtb_run.error is None'
    )
    pytester.makepyfile(test_pipes=module, test_agent=AGENT)
    result = pytester.runpytest_subprocess("--wtb-backend=ray", "--wtb-ray-address=auto", "-v")
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(["*test_agent?loud-tea? PASSED*"])
