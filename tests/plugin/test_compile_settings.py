"""What a factory chose when it compiled its graph (cache=, interrupt_before, with_config values) holds
for the variant and for its with_nodes variants; with_nodes takes a compiled subgraph; a CachePolicy on
a node of an uncompiled factory is honoured. One pytester run over four small modules."""

from __future__ import annotations

import pytest

HEAD = '''
import collections
import operator
from typing import Annotated, TypedDict

from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb
'''

# a node reached twice per execution with the same input (a Send each round): cached, it runs once
CACHE = HEAD + '''
from langgraph.cache.memory import InMemoryCache
from langgraph.types import CachePolicy, Send

CALLS = collections.Counter()


class State(TypedDict, total=False):
    x: int
    rounds: int
    tag: str
    out: Annotated[list, operator.add]


def tick(state):
    return {"rounds": state.get("rounds", 0) + 1}


def tick_tagged(state):
    return {"rounds": state.get("rounds", 0) + 1, "tag": "twin"}


def expensive(arg):
    CALLS[get_config()["configurable"]["thread_id"]] += 1
    return {"out": [arg["x"] * 10]}


async def aexpensive(arg):
    CALLS[get_config()["configurable"]["thread_id"]] += 1
    return {"out": [arg["x"] * 10]}


def route(state):
    return END if state["rounds"] > 2 else [Send("expensive", {"x": state["x"]})]


def build():
    g = StateGraph(State)
    g.add_node("tick", tick)
    g.add_node("expensive", expensive, cache_policy=CachePolicy())
    g.add_edge(START, "tick")
    g.add_conditional_edges("tick", route, ["expensive", END])
    g.add_edge("expensive", "tick")
    return g


@wtb.variant(baseline=True)
def compiled():
    return build().compile(cache=InMemoryCache())


twin = compiled.with_nodes({"tick": tick_tagged}, name="twin")


@wtb.variant
def uncompiled():
    return build()


# an async replacement keeps the node's CachePolicy
async_cached = uncompiled.with_nodes({"expensive": aexpensive}, name="async_cached")


@wtb.cases({"one": {"x": 1}, "two": {"x": 2}})
def test_cached(wtb_run):
    x = wtb_run.input["x"]
    assert wtb_run.state["out"] == [10 * x, 10 * x]
    assert wtb_run.state.get("tag") == ("twin" if wtb_run.variant == "twin" else None)
    assert CALLS[wtb_run.thread_id] == 1, dict(CALLS)
'''

# interrupt_before kept by the with_nodes twin: both pause, neither is reported as succeeded
PAUSE = HEAD + '''

class State(TypedDict, total=False):
    q: str
    docs: list
    answer: str


def retrieve(state):
    return {"docs": ["d-" + state["q"]]}


def answer(state):
    return {"answer": "a"}


def build():
    g = StateGraph(State)
    g.add_node("retrieve", retrieve)
    g.add_node("answer", answer)
    g.add_edge(START, "retrieve")
    g.add_edge("retrieve", "answer")
    g.add_edge("answer", END)
    return g.compile(interrupt_before=["answer"], name="triage")


@wtb.variant(baseline=True)
def paused():
    return build()


paused_twin = paused.with_nodes({"answer": lambda state: {"answer": "b"}}, name="paused_twin")


@wtb.cases({"q": {"q": "q"}})
def test_pauses(wtb_run):
    pass


@wtb.allow_status("interrupted")
@wtb.cases({"q": {"q": "q"}})
def test_pause_seen(wtb_run):
    assert wtb_run.status == "interrupted"
    assert wtb_run.state == {"q": "q", "docs": ["d-q"]}
    assert list(wtb_run.result.pending_nodes) == ["answer"]
'''

# a loop of 10 steps under a with_config recursion limit of 5 (the default of 25 lets it finish)
LOOP = HEAD + '''

class State(TypedDict, total=False):
    n: int


def step(state):
    return {"n": state.get("n", 0) + 1}


def step_twice(state):
    return {"n": state.get("n", 0) + 1}


def build():
    g = StateGraph(State)
    g.add_node("step", step)
    g.add_edge(START, "step")
    g.add_conditional_edges("step", lambda s: END if s["n"] >= 10 else "step", ["step", END])
    return g.compile()


@wtb.variant(baseline=True)
def unlimited():
    return build()


@wtb.variant
def limited():
    return build().with_config(recursion_limit=5)


limited_twin = limited.with_nodes({"step": step_twice}, name="limited_twin")


@wtb.cases({"ten": {"n": 0}})
def test_loop(wtb_run):
    assert wtb_run.state["n"] == 10
'''

# a compiled subgraph (with an async node) as the replacement of a plain node
SUB = HEAD + '''
import asyncio


class State(TypedDict, total=False):
    q: str
    docs: list
    answer: str


def retrieve(state):
    return {"docs": ["plain-" + state["q"]]}


async def fetch(state):
    await asyncio.sleep(0.01)
    return {"docs": ["sub-" + state["q"]]}


def inner():
    g = StateGraph(State)
    g.add_node("fetch", fetch)
    g.add_edge(START, "fetch")
    g.add_edge("fetch", END)
    return g.compile()


def answer(state):
    return {"answer": state["docs"][0]}


@wtb.variant(baseline=True)
def plain():
    g = StateGraph(State)
    g.add_node("retrieve", retrieve)
    g.add_node("answer", answer)
    g.add_edge(START, "retrieve")
    g.add_edge("retrieve", "answer")
    g.add_edge("answer", END)
    return g.compile()


nested = plain.with_nodes({"retrieve": inner()}, name="nested")


@wtb.cases({"q": {"q": "q"}})
def test_sub(wtb_run):
    assert wtb_run.state["answer"] == {"plain": "plain-q", "nested": "sub-q"}[wtb_run.variant]
'''


def test_compile_settings_survive_with_nodes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cache=CACHE, test_pause=PAUSE, test_loop=LOOP, test_sub=SUB)
    result = pytester.runpytest("-v")
    # cache 8 pass; pause: 2 fail + 2 allowed pass; loop: unlimited passes, limited and its twin fail; sub 2
    result.assert_outcomes(passed=13, failed=4)
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*test_cache.py::test_cached?uncompiled-two? PASSED*",
        "*test_cache.py::test_cached?async_cached-two? PASSED*",
        "*test_loop.py::test_loop?unlimited-ten? PASSED*",
        "*test_loop.py::test_loop?limited-ten? FAILED*",
        "*test_loop.py::test_loop?limited_twin-ten? FAILED*",
        "*test_pause.py::test_pauses?paused-q? FAILED*",
        "*test_pause.py::test_pauses?paused_twin-q? FAILED*",
        "*test_pause.py::test_pause_seen?paused_twin-q? PASSED*",
        "*test_sub.py::test_sub?nested-q? PASSED*",
    ])
    for variant in ("limited", "limited_twin"):
        result.stdout.fnmatch_lines([f"*variant '{variant}' on case 'ten' failed*GraphRecursionError*"])
    for variant in ("paused", "paused_twin"):
        result.stdout.fnmatch_lines([f"*execution of variant '{variant}' on case 'q' is interrupted*",
                                     "*paused before node 'answer' (interrupt_before/interrupt_after)*"])
    assert "Recursion limit of 5 reached" in out
