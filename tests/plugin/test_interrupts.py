"""Graphs that pause at interrupt() (or interrupt_before) as a user tests them: paused items fail and say how
to script a resume, scripted resumes continue the same thread, and leftover resumes fail the item."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

HITL = '''
import asyncio
import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

import pytest_wtb as wtb


class State(TypedDict, total=False):
    q: str
    log: Annotated[list, operator.add]
    decision: str
    note: str
    final: str


async def draft(state):
    await asyncio.sleep(0.01)  # an awaited model call
    return {"log": ["draft"]}


def approve(state):
    answer = interrupt({"ask": "approve?", "q": state["q"]})
    return {"decision": str(answer), "log": [f"approve:{answer}"]}


def explain(state):
    answer = interrupt({"ask": "why?"})
    return {"note": str(answer), "log": [f"explain:{answer}"]}


def finish(state):
    return {"final": f"{state.get('decision', '-')}/{state.get('note', '-')}", "log": ["finish"]}


def build(*pauses):
    g = StateGraph(State)
    names = ["draft", *pauses, "finish"]
    for name in names:
        g.add_node(name, globals()[name])
    for a, b in zip([START, *names], [*names, END]):
        g.add_edge(a, b)
    return g
'''

# one pause: unanswered, answered, answered by a Command, and answered twice
ONE = HITL + '''

@wtb.variant(baseline=True)
def gate():
    return build("approve")


@wtb.cases({"x": {"q": "x"}})
def test_paused(wtb_run):
    raise AssertionError("the body of a paused item ran")


@wtb.allow_status("interrupted")
@wtb.cases({"x": {"q": "x"}})
def test_paused_allowed(wtb_run):
    assert wtb_run.status == "interrupted"
    assert wtb_run.interrupts == [{"ask": "approve?", "q": "x"}]
    assert wtb_run.state["log"] == ["draft"]


@wtb.cases([
    wtb.case({"q": "a"}, id="approve", resume=["approve"]),
    wtb.case({"q": "c"}, id="cmd", resume=[Command(resume="yes", update={"note": "from-command"})]),
    wtb.case({"q": "e"}, id="extra", resume=["a", "b"]),
])
def test_resumed(wtb_run):
    assert wtb_run.status == "succeeded" and wtb_run.interrupts == []
    expected = {"approve": ["draft", "approve:approve", "finish"], "cmd": ["draft", "approve:yes", "finish"]}
    assert wtb_run.state["log"] == expected[wtb_run.case_id]
    assert wtb_run.state["final"] == {"approve": "approve/-", "cmd": "yes/from-command"}[wtb_run.case_id]
    print("RESUMED", wtb_run.case_id, wtb_run.thread_id)
'''

# two pauses in a row: both answered, or only the first (all sync nodes: LangGraph's sync API)
TWO = HITL.replace("async def draft(state):\n    await asyncio.sleep(0.01)  # an awaited model call\n",
                   "def draft(state):\n") + '''

@wtb.variant
def double():
    return build("approve", "explain")


@wtb.cases([wtb.case({"q": "t"}, id="both", resume=["a", "b"]), wtb.case({"q": "t"}, id="half", resume=["a"])])
def test_two(wtb_run):
    assert wtb_run.state["final"] == "a/b"
    assert wtb_run.state["log"] == ["draft", "approve:a", "explain:b", "finish"]
    print("TWO", wtb_run.case_id, wtb_run.thread_id)
'''

# no pause at all, and a compiled graph that pauses before a node
NEVER = HITL + '''

@wtb.variant
def plain():
    return build()


@wtb.cases({"never": wtb.case({"q": "n"}, resume=["x"])})
def test_never(wtb_run):
    pass
'''

BEFORE = HITL + '''

@wtb.variant
def held():
    return build().compile(interrupt_before=["finish"])


@wtb.cases({"held": {"q": "h"}})
def test_held(wtb_run):
    pass
'''

RESUME_BEFORE = BEFORE.replace('{"held": {"q": "h"}}', '{"go": wtb.case({"q": "h"}, resume=[GO])}') + '''

@wtb.cases({"go": wtb.case({"q": "h"}, resume=[GO])})
def test_continued(wtb_run):
    assert wtb_run.status == "succeeded"
    assert wtb_run.state["log"] == ["draft", "finish"]
'''

# a paused baseline: its variant's parity cannot be judged
PARITY = HITL + '''

@wtb.variant(baseline=True)
def gate():
    return build("approve")


def auto_approve(state):
    return {"decision": "auto", "log": ["approve:auto"]}


auto = gate.with_nodes({"approve": auto_approve}, name="auto")


@wtb.parity(keys=["final"])
@wtb.cases({"p": {"q": "p"}})
def test_parity(wtb_run):
    pass
'''


def _show(pytester: pytest.Pytester, thread_id: str) -> str:
    store = f"sqlite:///{pytester.path / '.wtb' / 'wtb.db'}"
    shown = subprocess.run([sys.executable, "-m", "pytest_wtb", "show", thread_id, "--store", store],
                           cwd=pytester.path, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def _check_one(result: pytest.RunResult) -> None:
    result.assert_outcomes(passed=3, failed=2)
    out = result.stdout.str()
    assert "the body of a paused item ran" not in out and "INTERNALERROR" not in out
    result.stdout.fnmatch_lines([
        "*execution of variant 'gate' on case 'x' is interrupted: the graph paused and waits for input",
        "*  node 'approve' called interrupt({'ask': 'approve?', 'q': 'x'})",
        "*  thread_id=wtb-*-gate-x-* checkpoint_id=*",
        "*to continue it, script the answers: wtb.case(input, id='x', resume=[[]<value>, ...[]])",
        "*@wtb.allow_status(\"interrupted\") and assert on wtb_run.interrupts",
    ])
    result.stdout.fnmatch_lines([
        "*execution of variant 'gate' on case 'extra' failed: UnusedResume: case 'extra' scripts 2 resume values "
        "but the graph paused only 1 time and then ran to its end; unused: [[]'b'[]]*",
    ])
    for line in ("*FAILED test_one.py::test_paused?gate-x?*", "*PASSED test_one.py::test_paused_allowed?gate-x?*"):
        result.stdout.fnmatch_lines([line])  # one by one: -v and -rA order them differently under xdist


def test_a_paused_graph_fails_its_items_unless_allowed_and_scripted_resumes_continue_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_one=ONE)
    result = pytester.runpytest("-rA", "-v", "-p", "no:cacheprovider")
    _check_one(result)
    thread = re.search(r"RESUMED approve (\S+)", result.stdout.str())
    assert thread is not None
    assert re.search(r"\bapprove\b.*decision='approve'", _show(pytester, thread.group(1)))


def test_the_same_outcomes_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one=ONE)
    _check_one(pytester.runpytest_subprocess("-rA", "-v", "-n", "2", "-p", "no:cacheprovider"))


def test_the_same_outcomes_on_ray(pytester: pytest.Pytester, ray_address: str) -> None:
    pytester.makepyfile(test_one=ONE)
    _check_one(pytester.runpytest_subprocess("-rA", "-v", "--wtb-backend=ray", "--wtb-ray-address=auto",
                                             "-p", "no:cacheprovider"))


def test_two_pauses_take_two_resumes_on_one_thread_and_show_lists_the_steps_after_each(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_two=TWO)
    result = pytester.runpytest("-rA", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*execution of variant 'double' on case 'half' is interrupted after 1 scripted resume: the graph paused*",
        "*  node 'explain' called interrupt({'ask': 'why?'})",
    ])
    thread = re.search(r"TWO both (\S+)", result.stdout.str())
    assert thread is not None
    shown = _show(pytester, thread.group(1))
    assert "resumed 2 times (scripted resume=[...])" in shown, shown
    # each resume, then the steps it ran, in order
    assert re.search(r"\s1\s+draft\s.*\n\s+-- resume 1: Command\(resume='a'\)\n\s+2\s+approve\s.*decision='a'.*\n"
                     r"\s+-- resume 2: Command\(resume='b'\)\n\s+3\s+explain\s.*note='b'.*\n\s+4\s+finish\s.*final='a/b'",
                     shown), shown


def test_resumes_for_a_graph_that_never_pauses_and_a_paused_baseline_fail_their_items(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_never=NEVER, test_before=BEFORE, test_parity=PARITY)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines([
        "*execution of variant 'plain' on case 'never' failed: UnusedResume: case 'never' scripts 1 resume value "
        "but the graph never paused (no interrupt() was reached, no interrupt_before/after node ran); "
        "unused: [[]'x'[]]*",
    ])
    result.stdout.fnmatch_lines([
        "*execution of variant 'held' on case 'held' is interrupted: the graph paused and waits for input",
        "*  paused before node 'finish' (interrupt_before/interrupt_after)",
    ])
    result.stdout.fnmatch_lines([
        "*parity cannot be checked because the baseline's execution did not succeed:",
        "*execution of baseline variant 'gate' on case 'p' is interrupted: the graph paused and waits for input",
    ])
    out = result.stdout.str()
    assert out.count("is interrupted") >= 3 and "INTERNALERROR" not in out


def test_an_interrupt_before_pause_continues_with_a_resume_value(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_go=RESUME_BEFORE.replace("GO", '"go"'))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_an_interrupt_before_pause_continues_with_resume_none(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_go=RESUME_BEFORE.replace("GO", "None"))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
