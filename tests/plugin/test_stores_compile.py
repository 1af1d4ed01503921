"""Graphs compiled with a LangGraph store: every execution sees the factory's seed plus its own writes
and nothing of another execution's, with or without prefix sharing, and a fork sees exactly what its
shared prefix wrote."""

from __future__ import annotations

import re

import pytest

from tests.conftest import service_missing

MODULE = '''
import json
from typing import TypedDict

from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.memory import InMemoryStore

import pytest_wtb as wtb

# one store object for every factory call, seeded once at import, as an application would
STORE = InMemoryStore()
STORE.put(("profile",), "user", {"name": "ada", "notes": ["seed"]})
STATES = {}
REMEMBERED = []


class State(TypedDict, total=False):
    q: str
    notes: list
    marks: list
    store_given: bool


def _append(store, note):
    item = store.get(("profile",), "user")
    store.put(("profile",), "user", {**item.value, "notes": item.value["notes"] + [note]})


def remember(state, runtime: Runtime):
    # upstream, so a shared prefix: its writes must reach every fork
    REMEMBERED.append(state["q"])
    _append(runtime.store, state["q"])
    runtime.store.put(("marks", state["q"]), "m", {"by": "remember"})
    return {"store_given": runtime.store is not None}


def recall(state, runtime: Runtime):
    notes = runtime.store.get(("profile",), "user").value["notes"]
    marks = sorted(i.namespace[-1] for i in runtime.store.search(("marks",)))
    return {"notes": notes, "marks": marks}


async def arecall(state):
    store = get_store()
    item = await store.aget(("profile",), "user")
    marks = sorted(i.namespace[-1] for i in await store.asearch(("marks",)))
    return {"notes": item.value["notes"], "marks": marks}


def recall_again(state):
    _append(get_store(), "again")
    return recall(state, Runtime(store=get_store()))


def build():
    g = StateGraph(State)
    g.add_node("remember", remember)
    g.add_node("recall", recall)
    g.add_edge(START, "remember")
    g.add_edge("remember", "recall")
    g.add_edge("recall", END)
    return g.compile(store=STORE)


@wtb.variant(baseline=True)
def base():
    return build()


async_recall = base.with_nodes({"recall": arecall}, name="async_recall")
again = base.with_nodes({"recall": recall_again}, name="again")
NOTES = {"base": ["seed", "{q}"], "async_recall": ["seed", "{q}"], "again": ["seed", "{q}", "again"]}


@wtb.cases({"a": {"q": "a"}, "b": {"q": "b"}, "c": {"q": "c"}})
def test_store(wtb_run):
    q = wtb_run.case_id
    assert wtb_run.state["store_given"] is True
    # the seed, this case's upstream write, and this variant's own write: no other case's or variant's
    assert wtb_run.state["notes"] == [n.format(q=q) for n in NOTES[wtb_run.variant]], wtb_run.state
    assert wtb_run.state["marks"] == [q]
    STATES[f"{wtb_run.variant}/{q}"] = wtb_run.state


def test_zz_report():
    print("STATES", json.dumps(STATES, sort_keys=True))
    print("REMEMBERED", len(REMEMBERED))
    # the executions ran on private copies: the module's store holds only its seed
    print("MODULE_STORE", [(i.namespace, i.key, i.value) for i in STORE.search(())])
'''


def _line(result: pytest.RunResult, tag: str) -> str:
    found = re.search(rf"\b{tag} (.*)$", result.stdout.str(), re.M)
    assert found, result.stdout.str()
    return found.group(1)


def test_each_execution_sees_the_seed_and_its_own_writes_with_and_without_prefix_sharing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_store=MODULE)
    shared = pytester.runpytest("-s", "--wtb-share-prefix-min-ms=0")
    shared.assert_outcomes(passed=10)
    # the forks of each case took 'remember' from its shared prefix: the notes they read came from there
    shared.stdout.fnmatch_lines(["prefix sharing: * forked executions took 9 nodes from 3 shared prefix executions*"])
    assert _line(shared, "REMEMBERED") == "3", "one upstream write per case, read by its three forks"
    alone = pytester.runpytest("-s", "--wtb-no-share-prefix")
    alone.assert_outcomes(passed=10)
    assert "prefix sharing" not in alone.stdout.str()
    assert _line(alone, "REMEMBERED") == "9"
    assert _line(shared, "STATES") == _line(alone, "STATES")
    assert '"again/b": {"marks": ["b"], "notes": ["seed", "b", "again"]' in _line(shared, "STATES")
    for result in (shared, alone):
        assert _line(result, "MODULE_STORE") == "[(('profile',), 'user', {'name': 'ada', 'notes': ['seed']})]"


def test_store_graphs_on_xdist_keep_executions_apart(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_store=MODULE)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", "--wtb-share-prefix-min-ms=0")
    result.assert_outcomes(passed=10)


def test_store_graphs_on_ray_keep_executions_apart(pytester: pytest.Pytester, ray_address: str) -> None:
    from pytest_wtb.execute.backends.ray_cluster import ray_installed

    if not ray_installed():
        service_missing("Ray", "pip install 'pytest-wtb[ray]'")
    # the forks' store seeds travel to the actors as plain data
    module = MODULE.replace('    q = wtb_run.case_id\n', '    q = wtb_run.case_id\n    assert wtb_run.backend == "ray"\n')
    pytester.makepyfile(test_store=module)
    result = pytester.runpytest_subprocess("--wtb-backend=ray", "--wtb-ray-address=auto", "--wtb-share-prefix-min-ms=0")
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(["prefix sharing: * forked executions took 9 nodes from 3 shared prefix executions*"])
