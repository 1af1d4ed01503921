"""@wtb.parity(trajectory=...) as a user sees it: a real tool-calling agent (ToolNode, add_messages,
a fake chat model that binds tools) whose variants call a different, an extra, fewer tools or the
same tools in another order, judged by each mode, with prefix sharing on and off."""

from __future__ import annotations

import sys

import pytest

AGENT = '''
from typing import Annotated, Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolCall
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

import pytest_wtb as wtb


@tool
def search(q: str) -> str:
    """Search the web."""
    return f"results for {q}"


@tool
def lookup(topic: str) -> str:
    """Look a topic up."""
    return f"{topic}: 42"


TOOLS = [search, lookup]


class Scripted(BaseChatModel):
    script: list

    @property
    def _llm_type(self):
        return "scripted"

    def bind_tools(self, tools, **kwargs):
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kw):
        turn = sum(isinstance(m, AIMessage) for m in messages)
        if turn < len(self.script):
            calls = [ToolCall(name=n, args=a, id=f"call-{turn}-{i}") for i, (n, a) in enumerate(self.script[turn])]
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content="", tool_calls=calls))])
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="done"))])


class State(TypedDict, total=False):
    question: str
    messages: Annotated[list[AnyMessage], add_messages]
    prepared: bool


def agent_with(script):
    model = Scripted(script=script).bind_tools(TOOLS)

    def agent(state):
        return {"messages": [model.invoke(state["messages"])]}

    return agent


def prepare(state):
    return {"messages": [HumanMessage(state["question"])], "prepared": True}


def route(state):
    last = state["messages"][-1]
    return "tools" if isinstance(last, AIMessage) and last.tool_calls else END


SCRIPT = [[("search", {"q": "weather"})], [("lookup", {"topic": "rain"}), ("search", {"q": "umbrella"})]]


def build():
    g = StateGraph(State)
    g.add_node("prepare", prepare)
    g.add_node("agent", agent_with(SCRIPT))
    g.add_node("tools", ToolNode(TOOLS))
    g.add_edge(START, "prepare")
    g.add_edge("prepare", "agent")
    g.add_conditional_edges("agent", route, ["tools", END])
    g.add_edge("tools", "agent")
    return g


@wtb.variant(baseline=True)
def base():
    return build()


same = base.with_nodes({"agent": agent_with([list(t) for t in SCRIPT])}, name="same")
other_args = base.with_nodes({"agent": agent_with([[("search", {"q": "sun"})], SCRIPT[1]])}, name="other_args")
extra = base.with_nodes({"agent": agent_with([*SCRIPT, [("lookup", {"topic": "wind"})]])}, name="extra")
fewer = base.with_nodes({"agent": agent_with(SCRIPT[:1])}, name="fewer")
reordered = base.with_nodes({"agent": agent_with([SCRIPT[1], SCRIPT[0]])}, name="reordered")

CASES = {"rain": {"question": "will it rain?"}}
'''

MODES = AGENT + '''

@wtb.parity(keys=["prepared"], trajectory="strict")
@wtb.cases(CASES)
def test_strict(wtb_run):
    pass


@wtb.parity(keys=["prepared"], trajectory="unordered")
@wtb.cases(CASES)
def test_unordered(wtb_run):
    pass


@wtb.parity(keys=["prepared"], trajectory="subset")
@wtb.cases(CASES)
def test_subset(wtb_run):
    pass


@wtb.parity(keys=["prepared"], trajectory="superset")
@wtb.cases(CASES)
def test_superset(wtb_run):
    pass
'''

# variants whose item fails, per mode (the baseline and `same` pass every mode)
EXPECTED_FAILED = {
    "strict": {"other_args", "extra", "fewer", "reordered"},
    "unordered": {"other_args", "extra", "fewer"},
    "subset": {"other_args", "extra"},
    "superset": {"other_args", "fewer"},
}
VARIANTS = ("base", "same", "other_args", "extra", "fewer", "reordered")


def _outcomes(lines: list[str]) -> dict[tuple[str, str], str]:
    out = {}
    for line in lines:
        for mode in EXPECTED_FAILED:
            for variant in VARIANTS:
                head = f"test_agent.py::test_{mode}[{variant}-rain] "
                if line.startswith(head):
                    out[(mode, variant)] = line[len(head):].split()[0]
    return out


@pytest.mark.parametrize("sharing", ["--wtb-share-prefix-min-ms=0", "--wtb-no-share-prefix"])
def test_each_mode_passes_and_fails_the_variants_it_should(pytester: pytest.Pytester, sharing: str) -> None:
    pytester.makepyfile(test_agent=MODES)
    result = pytester.runpytest("-v", "-p", "no:randomly", sharing)
    failed = sum(len(v) for v in EXPECTED_FAILED.values())
    result.assert_outcomes(passed=len(VARIANTS) * 4 - failed, failed=failed)
    seen = _outcomes(result.stdout.lines)
    for mode, failing in EXPECTED_FAILED.items():
        for variant in VARIANTS:
            assert seen[(mode, variant)] == ("FAILED" if variant in failing else "PASSED"), (mode, variant)
    if sharing.endswith("=0"):  # the variants replace 'agent': START and 'prepare' were forked, not rerun
        result.stdout.fnmatch_lines(["prefix sharing: * node executions saved (net)*"])


def test_failure_names_the_step_both_nodes_thread_ids_checkpoints_and_show_diff(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=MODES)
    result = pytester.runpytest("-v", "-p", "no:randomly", "-k", "test_strict and other_args", "--junitxml=junit.xml")
    result.assert_outcomes(passed=0, failed=1, deselected=len(VARIANTS) * 4 - 1)
    result.stdout.fnmatch_lines([
        "E   AssertionError: parity: variant 'other_args' takes a different trajectory from baseline 'base' "
        "on case 'rain' (trajectory=\"strict\"): they part at step 2",
        "*different nodes or tool calls at this step",
        '*base (baseline): step 2 node agent calling search({"q": "weather"})  checkpoint_id *',
        '*other_args:      step 2 node agent calling search({"q": "sun"})  checkpoint_id *',
        "*step by step: python -m pytest_wtb show wtb-*-other_args-rain-* --diff wtb-*-base-rain-* --store *",
        "*base (baseline): thread_id=wtb-*-base-rain-* checkpoint_id=*",
        "*other_args:      thread_id=wtb-*-other_args-rain-* checkpoint_id=*",
        "executions that failed or differ from the baseline:",
        "  trajectory other_args/rain  wtb-*-other_args-rain-*  parts from the baseline's at step 2 (strict)",
    ])
    command = next(line for line in result.stdout.lines if "step by step: " in line).split("step by step: ")[1]
    argv = command.replace("'", "").split()
    shown = pytester.run(sys.executable, *argv[1:])
    assert shown.ret == 0, shown.stderr.str()
    shown.stdout.fnmatch_lines(["first divergence at step 2"])
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="wtb_parity" value="failed"' in junit  # the keys agreed; the trajectory did not
    runs = pytester.run(sys.executable, "-m", "pytest_wtb", "runs")
    runs.stdout.fnmatch_lines(["*test_agent::other_args: 1 passed, 0 failed*, 1 parity mismatch*"])
    assert 'name="wtb_trajectory_divergence" value="step 2: agent calling search({&quot;q&quot;: &quot;weather&quot;})' in junit


def test_subset_names_the_extra_tool_call_and_superset_the_missing_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=MODES)
    result = pytester.runpytest("-p", "no:randomly", "-k", "(test_subset and extra) or (test_superset and fewer)")
    result.assert_outcomes(failed=2, deselected=len(VARIANTS) * 4 - 2)
    result.stdout.fnmatch_lines([
        "*variant 'extra' takes a different trajectory from baseline 'base' on case 'rain' (trajectory=\"subset\")*",
        "*the variant's step is not in the baseline's trajectory",
        '*extra:*step * node agent calling lookup({"topic": "wind"})  checkpoint_id *',
        "*variant 'fewer' takes a different trajectory from baseline 'base' on case 'rain' (trajectory=\"superset\")*",
        "*the baseline's step is not in the variant's trajectory",
        '*base (baseline): step 4 node agent calling lookup({"topic": "rain"}), search({"q": "umbrella"})*',
    ])


def test_without_a_trajectory_mode_only_state_keys_are_judged(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT + '''

@wtb.parity(keys=["prepared"])
@wtb.cases(CASES)
def test_keys_only(wtb_run):
    pass
''')
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=len(VARIANTS))


def test_wtb_bench_assert_parity_judges_trajectories(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=AGENT + '''

def test_extra_is_a_superset(wtb_bench):
    wtb_bench.assert_parity(CASES["rain"], keys=["prepared"], variants=["extra"], trajectory="superset")


def test_extra_is_not_strict(wtb_bench):
    wtb_bench.assert_parity(CASES["rain"], keys=["prepared"], variants=["extra"], trajectory="strict")


def test_a_bad_mode_says_the_choices(wtb_bench):
    wtb_bench.assert_parity(CASES["rain"], variants=["extra"], trajectory="loose")
''')
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "E       AssertionError: parity: 1 of 1 variant differs from baseline 'base' on this input",
        "*parity: variant 'extra' takes a different trajectory from baseline 'base' on case 'hyp-*' "
        "(trajectory=\"strict\"): they part at step 6",
        '*extra:*step 6 node agent calling lookup({"topic": "wind"})  checkpoint_id *',
        "*trajectory='loose': use one of strict, unordered, subset, superset*",
    ])


ONE_AGENT = AGENT.split("@wtb.variant(baseline=True)")[0] + '''
@wtb.variant(baseline=True)
def agent():
    return build()


@wtb.parity(keys=["prepared"], trajectory="subset")
@wtb.cases({"rain": {"question": "will it rain?"}})
def test_agent(wtb_run):
    pass
'''


def test_wtb_against_judges_the_trajectory_of_the_stored_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=ONE_AGENT)
    pytester.runpytest("-p", "no:randomly", "--wtb-run-id=first").assert_outcomes(passed=1)
    fewer = ONE_AGENT.replace("def build():", "SCRIPT = SCRIPT[:1]\n\n\ndef build():")
    pytester.makepyfile(test_agent=fewer)
    pytester.runpytest("-p", "no:randomly", "--wtb-against=first").assert_outcomes(passed=1)  # a subset
    extra = ONE_AGENT.replace("def build():", "SCRIPT = [*SCRIPT, [('lookup', {'topic': 'wind'})]]\n\n\ndef build():")
    pytester.makepyfile(test_agent=extra)
    result = pytester.runpytest("-p", "no:randomly", "--wtb-against=first")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E   AssertionError: parity: variant 'agent' on case 'rain' differs from the same variant and case in "
        "stored run first (--wtb-against=first, started *) in its trajectory",
        '*trajectory="subset": they part at step 6',
        "*the variant's step is not in the baseline's trajectory",
        '*this run *: step 6 node agent calling lookup({"topic": "wind"})  checkpoint_id *',
        "*step by step: python -m pytest_wtb show wtb-*-agent-rain-* --diff wtb-*-agent-rain-* --store *",
        "*compare the runs: python -m pytest_wtb diff * *",
    ])


REORDERING_BACKEND = '''
import dataclasses
import sys

from pytest_wtb.execute.backends.threads import ThreadsBackend


class Reordering(ThreadsBackend):
    """Threads, except that variant 'same' runs the agent of variant 'reordered' under its own name."""

    name = "reordering"

    def submit(self, spec, done):
        if spec.variant.name == "same":
            swapped = sys.modules[spec.variant.module].reordered.node_overrides
            spec = dataclasses.replace(spec, variant=dataclasses.replace(spec.variant, node_overrides=swapped))
        super().submit(spec, done)


def pytest_wtb_make_backend(config, name):
    return Reordering(2) if name == "reordering" else None
'''


def test_compare_backends_judges_trajectories_in_the_items_mode(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(REORDERING_BACKEND)
    pytester.makepyfile(test_agent=AGENT + '''

@wtb.parity(keys=["prepared"], trajectory="strict")
@wtb.cases(CASES)
def test_strict(wtb_run):
    pass
''')
    result = pytester.runpytest("-p", "no:randomly", "--wtb-compare-backends=threads,reordering",
                                "-k", "base or same")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "E   AssertionError: backend parity: threads and reordering differ on variant 'same' case 'rain'",
        '*trajectory="strict": they part at step 2',
        '*threads:*step 2 node agent calling search({"q": "weather"})  checkpoint_id *',
        '*reordering:*step 2 node agent calling lookup({"topic": "rain"}), search({"q": "umbrella"})*',
        "*step by step: python -m pytest_wtb show wtb-*-reordering-same-rain-* --diff wtb-*-same-rain-* --store *",
    ])
