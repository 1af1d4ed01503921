"""Source snippets that pytester tests write into test modules, as a user would."""

GRAPH = '''
import operator
import threading
import time
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb


class State(TypedDict, total=False):
    q: str
    docs: list
    answer: str
    score: float
    log: Annotated[list, operator.add]


def retrieve(state):
    return {"docs": [f"doc-{state['q']}"], "log": ["retrieve"]}


def answer(state):
    return {"answer": f"answer to {state['q']}", "score": 0.5, "log": ["answer"]}


def build(retrieve_fn=retrieve, answer_fn=answer):
    g = StateGraph(State)
    g.add_node("retrieve", retrieve_fn)
    g.add_node("answer", answer_fn)
    g.add_edge(START, "retrieve")
    g.add_edge("retrieve", "answer")
    g.add_edge("answer", END)
    return g
'''

# a baseline, a variant that differs in the answer, and one whose retrieve node raises
THREE_VARIANTS = GRAPH + '''

@wtb.variant(baseline=True)
def base():
    return build()


def louder(state):
    return {"answer": f"ANSWER TO {state['q']}", "score": 0.5, "log": ["answer"]}


def broken(state):
    raise ValueError("retriever offline")


loud = base.with_nodes({"answer": louder}, name="loud")
down = base.with_nodes({"retrieve": broken}, name="down")
'''

# one baseline and a one-case test: the smallest project, for tests of options and bad input
ONE_VARIANT = GRAPH + '''

@wtb.variant(baseline=True)
def base():
    return build()
'''

SIMPLE_TEST = '''

@wtb.cases({"x": {"q": "x"}})
def test_x(wtb_run):
    pass
'''
