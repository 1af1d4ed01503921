"""--wtb-record as a user runs it: record model and tool calls once, replay them without calling anything live,
and see in the failure text which call has no recording and how it differs from the nearest one. Live calls are
counted through live_calls.txt, which the fakes append to whenever they really run. The store-side commands
and the other backends are in test_recordings_backends.py."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing

import pytest
import scipy.stats  # noqa: F401  # @wtb.repeat's intervals load numpy, which loads only once per process

# pytester's in-process runs forget modules first imported inside a run; this one patches LangChain's model
# classes once per process, and a re-imported copy would patch them again
import pytest_wtb.execute.record_hooks  # noqa: F401  isort: skip

HEAD = '''
import os
from typing import Annotated
from typing_extensions import TypedDict
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode, tools_condition
import pytest_wtb as wtb
def note(what, name="live_calls.txt"):
    with open(os.path.join(os.path.dirname(__file__), name), "a") as f:
        f.write(what + "\\n")
class S(TypedDict):
    messages: Annotated[list, add_messages]
'''

AGENT = HEAD + '''
@tool
def lookup(q: str) -> str:
    """look up"""
    note(f"tool {q}")
    return f"fact about {q}"
class Fake(BaseChatModel):
    model_name: str = "fake-1"
    @property
    def _llm_type(self): return "fake-rec"
    @property
    def _identifying_params(self): return {"model_name": self.model_name}
    def bind_tools(self, tools, **kw): return self.bind(tools=[t.name for t in tools])
    def _generate(self, messages, stop=None, run_manager=None, **kw):
        note(f"model {self.model_name} {len(messages)}")
        if not any(isinstance(m, ToolMessage) for m in messages):
            call = {"name": "lookup", "args": {"q": messages[-1].content}, "id": f"call{len(messages)}"}
            msg = AIMessage("", tool_calls=[call])
        else:  # ANSWER changes what the model says, not who it is: the recording key stays the same
            msg = AIMessage(f"{os.environ.get('ANSWER', 'answer')}: {messages[-1].content}")
        return ChatResult(generations=[ChatGeneration(message=msg)])
def build(model_name="fake-1"):
    model = Fake(model_name=model_name).bind_tools([lookup])
    def agent(state):
        msgs = state["messages"]
        if os.environ.get("REWORD"):  # a changed prompt: the question the model gets
            msgs = [HumanMessage(f"{os.environ['REWORD']} {msgs[0].content}")] + msgs[1:]
        out = model.invoke(msgs)
        if os.environ.get("POLITE_TOOL") and out.tool_calls:  # changed tool args after a replayed model call
            out = AIMessage("", tool_calls=[{**c, "args": {"q": c["args"]["q"] + " please"}} for c in out.tool_calls])
        return {"messages": [out]}
    g = StateGraph(S)
    g.add_node("agent", agent)
    g.add_node("tools", ToolNode([lookup]))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    return g
@wtb.variant(baseline=True)
def base():
    return build()
@wtb.variant
def other_model():
    return build(model_name=os.environ.get("OTHER_MODEL", "fake-1"))
@wtb.cases({"paris": {"messages": [("user", "paris")]}, "rome": {"messages": [("user", "rome")]}})
def test_agent(wtb_run):
    answer = wtb_run.output["messages"][-1].content
    note(f"{wtb_run.variant} {wtb_run.case_id} {answer}", "answers.txt")
    assert answer.endswith(": fact about " + wtb_run.case_id)
'''

# every execution: model (asks the tool), tool, model (answers) = 3 calls; 2 cases -> 6 calls a variant
SECTION = "model and tool calls (--wtb-record):"


def live(pytester: pytest.Pytester, name: str = "live_calls.txt") -> list[str]:
    """The lines the fakes wrote since the last look (the file is emptied)."""
    path = pytester.path / name
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return lines


def calls(result: pytest.RunResult) -> dict[str, tuple[int, int, int, int]]:
    """The summary's rows: variant -> (replayed, recorded, live, missing)."""
    out = result.stdout.str()
    assert SECTION in out, out
    found = re.findall(r"^ +(\w+) +(\d+) +(\d+) +(\d+) +(\d+) *$", out.split(SECTION, 1)[1], re.M)
    return {variant: (int(a), int(b), int(c), int(d)) for variant, a, b, c, d in found}


def recordings(pytester: pytest.Pytester) -> list[tuple[str, str, str]]:
    with closing(sqlite3.connect(pytester.path / ".wtb" / "wtb.db")) as conn:
        return conn.execute("select kind, name, node from wtb_recordings order by kind, name").fetchall()


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess("-p", "no:randomly", "-p", "no:cacheprovider", *args)


@pytest.fixture
def agent(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_rec=AGENT)
    return pytester


def test_off_calls_live_every_run_and_records_nothing(agent: pytest.Pytester) -> None:
    for args in [(), ("--wtb-record=off",)]:
        result = run(agent, *args)
        result.assert_outcomes(passed=4)
        assert len(live(agent)) == 12  # 4 executions x 3 calls, every run
        assert SECTION not in result.stdout.str()
    assert recordings(agent) == []


def test_once_records_every_call_then_once_and_none_replay_them_all(agent: pytest.Pytester) -> None:
    first = run(agent, "--wtb-record=once")
    first.assert_outcomes(passed=4)
    assert sorted(live(agent)) == sorted(["model fake-1 1", "model fake-1 3", "tool paris", "tool rome"] * 2
                                         + ["model fake-1 1", "model fake-1 3"] * 2)
    first.stdout.fnmatch_lines([SECTION, "  variant      replayed  recorded      live   missing"])
    assert calls(first) == {"base": (0, 6, 0, 0), "other_model": (0, 6, 0, 0)}
    assert sorted(set(recordings(agent))) == [("chat", "fake-rec(fake-1)", "agent"), ("tool", "lookup", "tools")]
    for mode in ("once", "none"):
        again = run(agent, f"--wtb-record={mode}")
        again.assert_outcomes(passed=4)
        assert live(agent) == [], mode
        assert calls(again) == {"base": (6, 0, 0, 0), "other_model": (6, 0, 0, 0)}, mode


def test_once_fails_a_recorded_execution_that_makes_a_new_call_and_new_records_only_that(
        agent: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    run(agent, "--wtb-record=once").assert_outcomes(passed=4)
    live(agent)
    monkeypatch.setenv("OTHER_MODEL", "fake-2")
    once = run(agent, "--wtb-record=once")
    once.assert_outcomes(passed=2, failed=2)
    assert live(agent) == []
    once.stdout.fnmatch_lines([
        "E   pytest_wtb.ExecutionFailed: execution of variant 'other_model' on case 'paris' failed: RecordingMissing "
        "in node 'agent': no recording of chat model 'fake-rec(fake-2)' called in node 'agent' of variant "
        "'other_model', case 'paris', and --wtb-record=once does not record it",
        "*nearest recording of node 'agent' (variant *, case 'paris'), - recorded, + this call:",
        "*  - model [[]*('model_name', 'fake-1')*[]]*",
        "*  + model [[]*('model_name', 'fake-2')*[]]*",
        "*under once an execution that has recordings records nothing new (vcrpy's once); record the new call with "
        "--wtb-record=new*",
    ])
    assert calls(once) == {"base": (6, 0, 0, 0), "other_model": (0, 0, 0, 2)}

    new = run(agent, "--wtb-record=new")
    new.assert_outcomes(passed=4)
    assert sorted(live(agent)) == ["model fake-2 1", "model fake-2 1", "model fake-2 3", "model fake-2 3"]
    assert calls(new) == {"base": (6, 0, 0, 0), "other_model": (2, 4, 0, 0)}  # the tool calls replay
    none = run(agent, "--wtb-record=none")
    none.assert_outcomes(passed=4)
    assert live(agent) == [] and calls(none)["other_model"] == (6, 0, 0, 0)


def test_none_without_recordings_fails_every_item_and_a_changed_prompt_shows_its_diff(
        agent: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = run(agent, "--wtb-record=none")
    empty.assert_outcomes(failed=4)
    assert live(agent) == [] and recordings(agent) == []
    for variant in ("base", "other_model"):
        for case in ("paris", "rome"):
            empty.stdout.fnmatch_lines([
                f"E   pytest_wtb.ExecutionFailed: execution of variant '{variant}' on case '{case}' failed: "
                f"RecordingMissing in node 'agent': no recording of chat model 'fake-rec(fake-1)' called in node "
                f"'agent' of variant '{variant}', case '{case}', and --wtb-record=none does not record it",
                "*no recording of a chat model call in node 'agent' either*",
                "*record it with --wtb-record=new*",
            ])
    assert calls(empty) == {"base": (0, 0, 0, 2), "other_model": (0, 0, 0, 2)}

    run(agent, "--wtb-record=once", "-k", "base").assert_outcomes(passed=2, deselected=2)
    live(agent)
    monkeypatch.setenv("REWORD", "tell me about")
    changed = run(agent, "--wtb-record=none", "-k", "base")
    changed.assert_outcomes(failed=2, deselected=2)
    assert live(agent) == []
    changed.stdout.fnmatch_lines([
        "*failed: RecordingMissing in node 'agent': no recording of chat model 'fake-rec(fake-1)' called in node "
        "'agent' of variant 'base', case 'paris', and --wtb-record=none does not record it",
        "*nearest recording of node 'agent' (variant 'base', case 'paris'), - recorded, + this call:",
        "*  -human: paris",
        "*  +human: tell me about paris",
    ])
    assert "no recording of a chat model call in node 'agent' either" not in changed.stdout.str()


def test_all_calls_live_again_and_what_it_re_records_is_what_none_replays(
        agent: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    run(agent, "--wtb-record=once", "-k", "base").assert_outcomes(passed=2, deselected=2)
    assert "base paris answer: fact about paris" in live(agent, "answers.txt") and len(live(agent)) == 6
    monkeypatch.setenv("ANSWER", "verdict")
    again = run(agent, "--wtb-record=all", "-k", "base")
    again.assert_outcomes(passed=2, deselected=2)
    assert len(live(agent)) == 6
    assert calls(again) == {"base": (0, 6, 0, 0)}
    live(agent, "answers.txt")
    monkeypatch.delenv("ANSWER")  # a live call would say "answer" again: "verdict" can only come from the tape
    replayed = run(agent, "--wtb-record=none", "-k", "base")
    replayed.assert_outcomes(passed=2, deselected=2)
    assert live(agent) == [] and calls(replayed) == {"base": (6, 0, 0, 0)}
    assert sorted(live(agent, "answers.txt")) == ["base paris verdict: fact about paris",
                                                  "base rome verdict: fact about rome"]


def test_a_miss_inside_a_tool_node_fails_the_execution(agent: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    run(agent, "--wtb-record=once", "-k", "base").assert_outcomes(passed=2, deselected=2)
    live(agent)
    monkeypatch.setenv("POLITE_TOOL", "1")
    result = run(agent, "--wtb-record=none", "-k", "base")
    # ToolNode turns a tool's exception into an error ToolMessage; the miss must fail the execution anyway
    result.assert_outcomes(failed=2, deselected=2)
    assert live(agent) == []
    result.stdout.fnmatch_lines([
        "E   pytest_wtb.ExecutionFailed: execution of variant 'base' on case 'paris' failed: RecordingMissing in node "
        "'tools': no recording of tool 'lookup' called in node 'tools' of variant 'base', case 'paris', and "
        "--wtb-record=none does not record it",
        "*nearest recording of node 'tools' *",
        "*+lookup({\"q\": \"paris please\"})",
    ])
    assert calls(result) == {"base": (2, 0, 0, 2)}  # the first model call of each case replayed


DICE = HEAD + '''
import random
from langgraph.graph import END
class Dice(BaseChatModel):
    @property
    def _llm_type(self): return "dice"
    def _generate(self, messages, stop=None, run_manager=None, **kw):
        md = run_manager.metadata  # a sampling model: seeded by case, repetition, SALT and a per-execution count
        rep = (md["wtb_case"], md["wtb_repetition"])
        COUNT[rep] = COUNT.get(rep, 0) + 1
        note(f"model {rep}")
        rng = random.Random(f"{os.environ.get('SALT', '')}:{rep}:{COUNT[rep]}")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(f"roll {rng.randint(1, 10**9)}"))])
COUNT = {}
@wtb.variant(baseline=True)
def dice():
    model = Dice()
    def roll_twice(state):  # the same call twice in one execution: recordings are told apart by occurrence
        return {"messages": [model.invoke(state["messages"]), model.invoke(state["messages"])]}
    g = StateGraph(S)
    g.add_node("agent", roll_twice)
    g.add_edge(START, "agent")
    g.add_edge("agent", END)
    return g
@wtb.repeat(3)
@wtb.cases({"one": {"messages": [("user", "roll")]}})
def test_roll(wtb_run):
    first, second = (m.content for m in wtb_run.output["messages"][1:])
    note(f"r{wtb_run.repetition} {first} {second}", "answers.txt")
'''


def test_each_repetition_and_each_identical_call_replays_its_own_sample(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_dice=DICE)
    run(pytester, "--wtb-record=once").assert_outcomes(passed=1)
    assert len(live(pytester)) == 6
    recorded = sorted(live(pytester, "answers.txt"))
    assert [line.split()[0] for line in recorded] == ["r0", "r1", "r2"]
    assert len({line.split(" ", 1)[1] for line in recorded}) == 3  # the samples differ between repetitions
    assert all(line.split()[2] != line.split()[4] for line in recorded)  # and between the two calls
    monkeypatch.setenv("SALT", "other")  # a live call would now draw other numbers
    replayed = run(pytester, "--wtb-record=none")
    replayed.assert_outcomes(passed=1)
    assert live(pytester) == [] and calls(replayed) == {"dice": (6, 0, 0, 0)}
    assert sorted(live(pytester, "answers.txt")) == recorded  # first answer first, in every repetition


def test_an_unknown_record_mode_is_a_usage_error_naming_the_modes(agent: pytest.Pytester) -> None:
    result = run(agent, "--wtb-record=bogus")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pytest-wtb: --wtb-record='bogus' is not a record mode: use one of off, once, new, "
                                 "all, none*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str() and live(agent) == []

