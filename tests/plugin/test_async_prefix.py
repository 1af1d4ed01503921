"""Prefix sharing with async graphs: variants that differ in a downstream async node await the upstream
nodes once per case, end in the same states as without sharing, and `show` follows a forked execution."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys

import pytest

MODULE = '''
import asyncio
import collections
import json
from typing import TypedDict

from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb

CALLS = collections.Counter()
STATES = {}


class State(TypedDict, total=False):
    q: str
    docs: list
    ranked: list
    answer: str


async def retrieve(state):
    CALLS["retrieve"] += 1
    await asyncio.sleep(0.01)
    return {"docs": [f"{state['q']}-1", f"{state['q']}-2"]}


async def rerank(state):
    CALLS["rerank"] += 1
    await asyncio.sleep(0.01)
    return {"ranked": sorted(state["docs"], reverse=True)}


async def answer(state):
    CALLS["answer"] += 1
    await asyncio.sleep(0.01)
    return {"answer": state["ranked"][0]}


async def answer_last(state):
    CALLS["answer"] += 1
    await asyncio.sleep(0.01)
    return {"answer": state["ranked"][-1]}


def answer_upper(state):  # a sync node downstream of async ones
    CALLS["answer"] += 1
    return {"answer": state["ranked"][0].upper()}


def build():
    g = StateGraph(State)
    for name, fn in (("retrieve", retrieve), ("rerank", rerank), ("answer", answer)):
        g.add_node(name, fn)
    g.add_edge(START, "retrieve")
    g.add_edge("retrieve", "rerank")
    g.add_edge("rerank", "answer")
    g.add_edge("answer", END)
    return g


@wtb.variant(baseline=True)
def base():
    return build()


last = base.with_nodes({"answer": answer_last}, name="last")
upper = base.with_nodes({"answer": answer_upper}, name="upper")
EXPECTED = {"base": "{q}-2", "last": "{q}-1", "upper": "{Q}-2"}


@wtb.cases({"a": {"q": "a"}, "b": {"q": "b"}})
def test_answer(wtb_run):
    q = wtb_run.case_id
    assert wtb_run.state["answer"] == EXPECTED[wtb_run.variant].format(q=q, Q=q.upper())
    STATES[f"{wtb_run.variant}/{q}"] = wtb_run.state


def test_zz_report():
    print("CALLS", dict(sorted(CALLS.items())))
    print("STATES", json.dumps(STATES, sort_keys=True))
'''


def _states(result: pytest.RunResult) -> str:
    found = re.search(r"\bSTATES (.*)$", result.stdout.str(), re.M)
    assert found, result.stdout.str()
    return found.group(1)


def _thread_id(pytester: pytest.Pytester, variant: str, case_id: str) -> str:
    conn = sqlite3.connect(pytester.path / ".wtb" / "wtb.db")
    try:
        row = conn.execute("select thread_id from wtb_executions where variant = ? and case_id = ?",
                           (variant, case_id)).fetchone()
    finally:
        conn.close()
    assert row, (variant, case_id)
    return str(row[0])


def test_async_variants_share_upstream_nodes_and_match_unshared_results(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_share=MODULE)
    shared = pytester.runpytest("-s", "--wtb-share-prefix-min-ms=0")
    shared.assert_outcomes(passed=7)
    # 3 variants x 2 cases: the upstream async nodes ran once per case
    shared.stdout.fnmatch_lines(["*CALLS {'answer': 6, 'rerank': 2, 'retrieve': 2}*"])
    shared.stdout.fnmatch_lines(["prefix sharing: 8 node executions saved (net)*"])

    alone = pytester.runpytest("-s", "--wtb-no-share-prefix")
    alone.assert_outcomes(passed=7)
    alone.stdout.fnmatch_lines(["*CALLS {'answer': 6, 'rerank': 6, 'retrieve': 6}*"])
    assert _states(alone) == _states(shared)
    assert '"last/a": {"answer": "a-1"' in _states(shared)


def test_show_follows_a_forked_async_execution(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_share=MODULE)
    result = pytester.runpytest("--wtb-share-prefix-min-ms=0", "--wtb-store=sqlite:///.wtb/wtb.db")
    result.assert_outcomes(passed=7)
    thread_id = _thread_id(pytester, "last", "a")
    shown = subprocess.run([sys.executable, "-m", "pytest_wtb", "show", thread_id, "--store",
                            "sqlite:///.wtb/wtb.db"], cwd=pytester.path, capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"forked from shared prefix thread_id wtb-\S+-prefix-a-\S+ at checkpoint \S+", shown.stdout)
    assert re.search(r"\s3\s+answer\s+\S+\s+answer='a-1'", shown.stdout), shown.stdout
