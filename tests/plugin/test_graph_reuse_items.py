"""A compiled graph is reused only while the factory's graph is interchangeable (graph_reuse.py), and
async checkpoints are written behind the loop (write_behind.py): as a user sees it, each execution
still has what its factory created to itself, and a checkpoint the store refuses fails that execution
with the store's words while the others pass."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

OWN = '''
import asyncio
from typing import TypedDict

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb


class S(TypedDict, total=False):
    q: str
    seen: int
    said: str


def shout(s):
    return {"said": s["q"].upper()}


def build(node):
    g = StateGraph(S)
    g.add_node("n", node)
    g.add_edge(START, "n")
    g.add_edge("n", END)
    return g


@wtb.variant(baseline=True)
def shared_functions():  # the same graph every call: compiled once, reused
    return build(shout)


@wtb.variant
def counting_async():  # a fresh list per call: the graph must not be reused
    calls = []

    async def n(s):
        calls.append(s["q"])
        await asyncio.sleep(0)
        return {"seen": len(calls)}

    return build(n)


@wtb.variant
def counting_sync():
    calls = []

    def n(s):
        calls.append(s["q"])
        return {"seen": len(calls)}

    return build(n)


@wtb.variant
def fake_model():  # a fake chat model hands out its responses in turn: one per factory call
    model = FakeListChatModel(responses=["one", "two", "three"])

    async def n(s):
        return {"said": (await model.ainvoke(s["q"])).content}

    return build(n)


@wtb.cases({f"c{i}": {"q": f"q{i}"} for i in range(6)})
def test_own(wtb_run):
    assert wtb_run.error is None, wtb_run.error
    expected = {"shared_functions": {"said": wtb_run.input["q"].upper()}, "fake_model": {"said": "one"}}
    assert {k: wtb_run.state[k] for k in ("said", "seen") if k in wtb_run.state} == expected.get(
        wtb_run.variant, {"seen": 1})
'''


@pytest.mark.parametrize("options", [(), ("--wtb-workers=1", "--wtb-concurrency=1"), ("-n", "2")],
                         ids=["threads", "one-at-a-time", "xdist"])
def test_what_a_factory_creates_stays_each_executions_own(pytester: pytest.Pytester, options: tuple[str, ...]) -> None:
    pytester.makepyfile(test_own=OWN)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", *options)
    result.assert_outcomes(passed=24)


REFUSED = '''
import asyncio
from typing import TypedDict

from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb


class S(TypedDict, total=False):
    q: str
    out: str


async def answer(s):
    await asyncio.sleep(0)
    return {"out": s["q"] + "!"}


def build():
    g = StateGraph(S)
    g.add_node("answer", answer)
    g.add_edge(START, "answer")
    g.add_edge("answer", END)
    return g


@wtb.variant(baseline=True)
def fine():
    return build()


@wtb.variant
def refused():
    return build()


@wtb.cases({"a": {"q": "a"}, "b": {"q": "b"}})
def test_answer(wtb_run):
    assert wtb_run.state["out"] == wtb_run.input["q"] + "!"
'''


def _refuse_checkpoints_of(path: Path, variant: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON checkpoints WHEN NEW.thread_id LIKE '%-{variant}-%' "
                 "BEGIN SELECT RAISE(ABORT, 'the disk says no'); END")
    conn.commit()
    conn.close()


def test_a_checkpoint_the_store_refuses_fails_that_execution_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_refused=REFUSED)
    db = pytester.path / "wtb.db"
    store = f"--wtb-store=sqlite:///{db}"
    pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", store, "-k", "fine").assert_outcomes(passed=2)
    _refuse_checkpoints_of(db, "refused")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", store)
    result.assert_outcomes(passed=2, failed=2)
    out = result.stdout.str()
    assert "failed: StoreError: the store refused a checkpoint of this execution: IntegrityError: the disk says no" in out
    assert "INTERNALERROR" not in out
    conn = sqlite3.connect(db)
    try:
        stored = dict(conn.execute("SELECT variant, COUNT(*) FROM wtb_executions WHERE run_id = "
                                   "(SELECT run_id FROM wtb_executions ORDER BY started_at DESC LIMIT 1) "
                                   "GROUP BY variant").fetchall())
        refused_checkpoints = conn.execute(
            "SELECT COUNT(*) FROM checkpoints WHERE thread_id LIKE '%-refused-%'").fetchone()[0]
    finally:
        conn.close()
    assert stored == {"fine": 2, "refused": 2}  # both results are in the store, the failed ones too
    assert refused_checkpoints == 0
