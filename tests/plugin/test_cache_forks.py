"""A node with a CachePolicy under prefix sharing: an execution forked from a shared prefix must see the
cache entries the prefix made, so its results equal those of the same execution run from scratch."""

from __future__ import annotations

import pytest

MODULE = '''
import itertools
import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import CachePolicy, Send

import pytest_wtb as wtb

TICKET = itertools.count(1)


class State(TypedDict, total=False):
    x: int
    rounds: int
    tag: str
    out: Annotated[list, operator.add]


def a(state):
    return {"rounds": 1}


def sample(arg):
    # a sampled model call stands in here: only the cache makes the second call agree with the first
    return {"out": [next(TICKET)]}


def final(state):
    return {"rounds": state["rounds"] + 1, "tag": "base"}


def final_other(state):
    return {"rounds": state["rounds"] + 1, "tag": "other"}


def send(state):
    return [Send("sample", {"x": state["x"]})]


def after_final(state):
    return END if state["rounds"] >= 3 else [Send("sample", {"x": state["x"]})]


# a -> sample -> final -> sample (same input: a cache hit) -> final -> END; the variants differ at
# final, so a shared prefix runs a and the first sample, and each fork makes the second sample call
@wtb.variant(baseline=True)
def base():
    g = StateGraph(State)
    g.add_node("a", a)
    g.add_node("sample", sample, cache_policy=CachePolicy())
    g.add_node("final", final)
    g.add_edge(START, "a")
    g.add_conditional_edges("a", send, ["sample"])
    g.add_edge("sample", "final")
    g.add_conditional_edges("final", after_final, ["sample", END])
    return g


other = base.with_nodes({"final": final_other}, name="other")


@wtb.cases({"one": {"x": 1}, "two": {"x": 2}})
def test_cached_twice(wtb_run):
    out = wtb_run.state["out"]
    assert len(out) == 2 and out[0] == out[1], f"the second call was not a cache hit: {out}"
'''


def test_a_cached_node_called_twice_hits_its_cache_without_prefix_sharing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cache=MODULE)
    result = pytester.runpytest("--wtb-no-share-prefix")
    result.assert_outcomes(passed=4)


def test_a_graph_with_cached_nodes_is_not_forked_so_its_cache_hits_stay_its_own(pytester: pytest.Pytester) -> None:
    """A fork would start with an empty cache and run a cached node again (a sampled model call would
    then answer differently with sharing on): such graphs run from scratch, with the same results."""
    pytester.makepyfile(test_cache=MODULE)
    result = pytester.runpytest("--wtb-share-prefix-min-ms=0")
    result.assert_outcomes(passed=4)
    assert "prefix sharing:" not in result.stdout.str()
