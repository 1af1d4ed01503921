"""`replay` and `show` on an async graph that reads its runtime context and pauses at interrupt():
the replay runs with the context, config and scripted resumes the original ran with."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.plugin.test_replay import thread_of

MODULE = '''
import asyncio
from dataclasses import dataclass
from typing import TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

import pytest_wtb as wtb


@dataclass
class Ctx:
    model: str = "default-model"


class S(TypedDict, total=False):
    q: str
    draft: str
    decision: str


async def draft(state, runtime: Runtime[Ctx]):
    await asyncio.sleep(0.01)
    return {"draft": f"{runtime.context.model} drafts {state['q']}"}


async def review(state):
    return {"decision": interrupt({"approve?": state["draft"]})}


@wtb.variant(baseline=True, context=Ctx(model="big-model"))
def base():
    g = StateGraph(S, context_schema=Ctx)
    g.add_node("draft", draft)
    g.add_node("review", review)
    g.add_edge(START, "draft")
    g.add_edge("draft", "review")
    g.add_edge("review", END)
    return g


@wtb.cases([wtb.case({"q": "refund"}, id="refund", resume=["approved"], config={"recursion_limit": 9})])
def test_decided(wtb_run):
    assert wtb_run.state["decision"] == "approved"
    assert wtb_run.state["draft"] == "big-model drafts refund"
'''


def run_cli(pytester: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_wtb", *args], cwd=pytester.path, capture_output=True,
                          text=True, timeout=120, check=False)


def test_replay_reuses_context_config_and_resumes_and_show_marks_the_resume(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=MODULE)
    pytester.runpytest().assert_outcomes(passed=1)
    thread_id = thread_of(pytester, "base", "refund")

    shown = run_cli(pytester, "show", thread_id)
    assert shown.returncode == 0, shown.stderr
    pytest.LineMatcher(shown.stdout.splitlines()).fnmatch_lines([
        "*status succeeded*",
        "*context Ctx(model='big-model')*",
        "*config {'recursion_limit': 9}*",
        "*resumed 1 time*",
        "*-- resume 1: Command(resume='approved')*",
        "*review*decision='approved'*",
    ])

    replayed = run_cli(pytester, "replay", thread_id)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "same final state as the original" in replayed.stdout
    assert "succeeded" in replayed.stdout and "interrupted" not in replayed.stdout


def test_show_of_an_interrupted_async_execution_says_what_it_waits_on(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=MODULE.replace('resume=["approved"], ', ""))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*is interrupted: the graph paused and waits for input*",
                                 "*node 'review' called interrupt({'approve?': 'big-model drafts refund'})*"])
    shown = run_cli(pytester, "show", thread_of(pytester, "base", "refund"))
    assert shown.returncode == 0, shown.stderr
    pytest.LineMatcher(shown.stdout.splitlines()).fnmatch_lines([
        "*status interrupted*",
        "*waiting: node 'review' called interrupt({'approve?': 'big-model drafts refund'})*",
    ])


def test_the_json_report_says_what_an_execution_ran_with_and_waits_on(pytester: pytest.Pytester) -> None:
    import json
    from importlib import resources

    import jsonschema

    pytester.makepyfile(test_flow=MODULE.replace('resume=["approved"], ', "")
                        .replace("def test_decided", '@wtb.allow_status("interrupted")\ndef test_decided')
                        .replace('    assert wtb_run.state["decision"] == "approved"\n', ""))
    pytester.runpytest("--wtb-report=r.json").assert_outcomes(passed=1)
    report = json.loads((pytester.path / "r.json").read_text())
    schema = json.loads(resources.files("pytest_wtb.report").joinpath("assets/report.schema.json").read_text())
    jsonschema.validate(report, schema)
    (execution,) = report["executions"]
    assert execution["status"] == "interrupted"
    assert execution["ran_with"] == {"context": "Ctx(model='big-model')", "config": "{'recursion_limit': 9}"}
    assert execution["interrupts"] == [{"node": "review", "value": "{'approve?': 'big-model drafts refund'}"}]
