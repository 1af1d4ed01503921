"""Prefix sharing as a user sees it: upstream nodes run once per case, lineage in failures and `show`."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

MODULE = '''
import collections
import operator
import time
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb

CALLS = collections.Counter()
SLEEP_S = 0.0


class State(TypedDict, total=False):
    q: str
    docs: list
    ranked: list
    answer: str


def retrieve(state):
    CALLS["retrieve"] += 1
    if state["q"] == "boom":
        raise ConnectionError("retriever down")
    time.sleep(SLEEP_S)
    return {"docs": [f"{state['q']}-1", f"{state['q']}-2"]}


def rerank(state):
    CALLS["rerank"] += 1
    return {"ranked": sorted(state["docs"], reverse=True)}


def answer(state):
    CALLS["answer"] += 1
    return {"answer": state["ranked"][0]}


def answer_last(state):
    CALLS["answer"] += 1
    return {"answer": state["ranked"][-1]}


def answer_upper(state):
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


@wtb.parity(keys=["answer"])
@wtb.cases({"a": {"q": "a"}, "b": {"q": "b"}})
def test_same_answer(wtb_run):
    assert wtb_run.state["docs"] == [f"{wtb_run.case_id}-1", f"{wtb_run.case_id}-2"]


def test_zz_upstream_ran_once_per_case():
    print("CALLS", dict(sorted(CALLS.items())))
'''


def test_upstream_nodes_run_once_per_case_and_failures_show_the_lineage(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_share=MODULE)
    result = pytester.runpytest("-s", "-v", "--wtb-share-prefix-min-ms=0")  # trivial nodes: always share
    result.assert_outcomes(passed=3, failed=4)
    # 3 variants x 2 cases: retrieve and rerank ran once per case, answer once per variant and case
    result.stdout.fnmatch_lines(["*CALLS {'answer': 6, 'rerank': 2, 'retrieve': 2}*"])
    result.stdout.fnmatch_lines(
        [
            "*parity: variant 'last' differs from baseline 'base' on case 'a' at 1 key path",
            "*base (baseline): thread_id=wtb-*-base-a-* checkpoint_id=* (forked from shared prefix wtb-*-prefix-a-*)",
        ]
    )
    thread_id = re.search(r"last:\s+thread_id=(\S+)", result.stdout.str()).group(1)  # type: ignore[union-attr]
    shown = subprocess.run([sys.executable, "-m", "pytest_wtb", "show", thread_id], cwd=pytester.path,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"forked from shared prefix thread_id wtb-\S+-prefix-a-\S+ at checkpoint \S+", shown.stdout)
    assert re.search(r"\s3\s+answer\s+\S+\s+answer='a-1'", shown.stdout), shown.stdout


def test_no_share_prefix_runs_every_variant_from_scratch_with_the_same_outcomes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_share=MODULE)
    result = pytester.runpytest("-s", "--wtb-no-share-prefix")
    result.assert_outcomes(passed=3, failed=4)
    result.stdout.fnmatch_lines(["*CALLS {'answer': 6, 'rerank': 6, 'retrieve': 6}*"])
    assert "forked from" not in result.stdout.str()


def test_slow_shared_nodes_are_shared_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_share=MODULE.replace("SLEEP_S = 0.0", "SLEEP_S = 0.02"))
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=3, failed=4)
    result.stdout.fnmatch_lines(["*CALLS {'answer': 6, 'rerank': 2, 'retrieve': 2}*"])
    result.stdout.fnmatch_lines(["prefix sharing: 8 node executions saved (net): forked executions took 12 nodes "
                                 "from 2 shared prefix executions (the 'from prefix' column) that ran 4 nodes"])
    assert "ran in full" not in result.stdout.str()


def test_a_prefix_cheaper_than_a_fork_runs_in_full_after_one_probe(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_share=MODULE)
    # one worker: only the probe (case a) starts at once; case b's prefix waits for its timings
    result = pytester.runpytest("-s", "--wtb-share-prefix-min-ms=10000", "--wtb-workers=1")
    result.assert_outcomes(passed=3, failed=4)
    # case a is the probe (shared: retrieve and rerank once); case b's three variants run in full
    result.stdout.fnmatch_lines(["*CALLS {'answer': 6, 'rerank': 4, 'retrieve': 4}*"])
    result.stdout.fnmatch_lines([
        "prefix sharing: 3 executions ran in full, not forked: their shared nodes took * ms in a probe, "
        "under --wtb-share-prefix-min-ms=10000 (a fork costs more)",
    ])
    lineage = [line for line in result.stdout.lines if "forked from shared prefix wtb-" in line]
    assert lineage and all("-prefix-a-" in line for line in lineage), "only case a's executions were forked"


def test_a_failing_shared_prefix_makes_its_variants_run_from_scratch_and_the_summary_says_so(
    pytester: pytest.Pytester,
) -> None:
    module = MODULE.replace('{"a": {"q": "a"}, "b": {"q": "b"}}', '{"a": {"q": "a"}, "boom": {"q": "boom"}}')
    pytester.makepyfile(test_share=module)
    result = pytester.runpytest("-s", "--wtb-share-prefix-min-ms=0")
    # case boom: every variant fails on its own at retrieve (never a result borrowed from the prefix)
    result.assert_outcomes(passed=2, failed=5)
    result.stdout.fnmatch_lines(["*CALLS {'answer': 3, 'rerank': 1, 'retrieve': 5}*"])
    result.stdout.fnmatch_lines([
        "prefix sharing: 3 executions ran from scratch because their shared prefix did not finish "
        "(shared prefix wtb-*-prefix-boom-* failed)",
    ])
    assert result.stdout.str().count("ConnectionError: retriever down") >= 3
