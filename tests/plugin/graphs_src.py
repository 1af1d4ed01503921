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
