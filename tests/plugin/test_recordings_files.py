"""Committed recordings files and per-test record modes, as a user runs them: `recordings --export`, the
`wtb_record` marker with `file=`, the command line overriding the marker, and keys that notice a swapped
tool or a changed field of a hand-written model (either would otherwise replay someone else's answers)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

MODULE = '''
import os
from pathlib import Path
from typing import Annotated

from typing_extensions import TypedDict
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode, tools_condition

import pytest
import pytest_wtb as wtb

MARK

LIVE = Path(__file__).with_name("live_calls.txt")


def note(what):
    with LIVE.open("a") as f:
        f.write(what + "\\n")


@tool
def lookup(q: str) -> str:
    """Look a fact up."""
    note(f"tool lookup {q}")
    return f"fact about {q}"


@tool("lookup")
def lookup_v2(q: str) -> str:
    """Look a fact up."""
    note(f"tool lookup_v2 {q}")
    return f"newer fact about {q}"


class Fake(BaseChatModel):
    """Hand-written and not serializable; leaves model_name out of _identifying_params, as fakes do."""

    model_name: str = "fake-1"

    @property
    def _llm_type(self):
        return "fake-files"

    def bind_tools(self, tools, **kw):
        return self.bind(tools=[t.name for t in tools])

    def _generate(self, messages, stop=None, run_manager=None, **kw):
        note(f"model {self.model_name}")
        if not any(isinstance(m, ToolMessage) for m in messages):
            msg = AIMessage("", tool_calls=[{"name": "lookup", "args": {"q": messages[-1].content}, "id": "c1"}])
        else:
            msg = AIMessage(f"{self.model_name} says {messages[-1].content}")
        return ChatResult(generations=[ChatGeneration(message=msg)])


class S(TypedDict):
    messages: Annotated[list, add_messages]


def build(model_name="fake-1", tools=(lookup,)):
    model = Fake(model_name=model_name).bind_tools(list(tools))

    def agent(state):
        return {"messages": [model.invoke(state["messages"])]}

    g = StateGraph(S)
    g.add_node("agent", agent)
    g.add_node("tools", ToolNode(list(tools)))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    return g


@wtb.variant(baseline=True)
def base():
    return build()


@wtb.variant
def other():
    return build(model_name=os.environ.get("OTHER_MODEL", "fake-1"),
                 tools=(lookup_v2,) if os.environ.get("OTHER_TOOL") else (lookup,))


@wtb.cases({"paris": {"messages": [("user", "paris")]}})
def test_agent(wtb_run):
    assert " says " in wtb_run.output["messages"][-1].content
'''


def _project(pytester: pytest.Pytester, mark: str = "") -> Path:
    pytester.makepyfile(test_files=MODULE.replace("MARK", mark))
    return pytester.path


def _run(pytester: pytest.Pytester, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
                          cwd=pytester.path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def _cli(pytester: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_wtb", *args], cwd=pytester.path, capture_output=True,
                          text=True, timeout=120)


def _live(path: Path) -> list[str]:
    live = path / "live_calls.txt"
    lines = live.read_text().splitlines() if live.exists() else []
    live.unlink(missing_ok=True)
    return lines


def test_an_exported_file_replays_in_a_fresh_store_through_the_marker(pytester: pytest.Pytester) -> None:
    path = _project(pytester)
    recorded = _run(pytester, "--wtb-record=once")
    assert recorded.returncode == 0, recorded.stdout
    assert len(_live(path)) == 6  # two variants, each: model, tool, model
    exported = _cli(pytester, "recordings", "--export", "recordings/agent.json", "--module", "test_files")
    assert exported.returncode == 1 or "exported" in exported.stdout  # the folder does not exist yet
    (path / "recordings").mkdir()
    exported = _cli(pytester, "recordings", "--export", "recordings/agent.json", "--module", "test_files")
    assert exported.returncode == 0, exported.stderr
    assert "exported 3 recordings of test_files to recordings/agent.json" in exported.stdout
    data = json.loads((path / "recordings" / "agent.json").read_text())
    assert data["format"] == "pytest-wtb-recordings" and len(data["recordings"]) == 3
    assert {r["kind"] for r in data["recordings"]} == {"chat", "tool"}

    (path / ".wtb").rename(path / "old-store")  # a fresh clone: no store, only the committed file
    _project(pytester, mark='pytestmark = pytest.mark.wtb_record("none", file="recordings/agent.json")')
    replayed = _run(pytester, "--junitxml=junit.xml")
    assert replayed.returncode == 0, replayed.stdout
    assert _live(path) == []
    assert "model and tool calls (--wtb-record):" in replayed.stdout
    props = {p.get("name"): p.get("value") for p in ElementTree.parse(path / "junit.xml").iter("property")}
    assert props["wtb_calls_replayed"] == "3" and props["wtb_calls_missing"] == "0"
    assert [line.split() for line in replayed.stdout.splitlines() if line.startswith("  base ")] == [
        ["base", "3", "0", "0", "0"]]


def test_the_command_line_overrides_the_marker_and_a_missing_file_is_an_error_only_to_replay(
    pytester: pytest.Pytester,
) -> None:
    path = _project(pytester, mark='pytestmark = pytest.mark.wtb_record("none", file="recordings/agent.json")')
    missing = _run(pytester)
    assert missing.returncode == 4, missing.stdout + missing.stderr
    assert "recordings file" in missing.stderr and "agent.json cannot be read" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert _live(path) == []

    recorded = _run(pytester, "--wtb-record=new")  # the file is about to be written: not needed yet
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert len(_live(path)) == 6
    replayed = _run(pytester, "--wtb-record=none")
    assert replayed.returncode == 0 and _live(path) == []


def test_a_malformed_file_or_a_bad_marker_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    path = _project(pytester, mark='pytestmark = pytest.mark.wtb_record("none", file="agent.json")')
    (path / "agent.json").write_text('{"format": "something else"}')
    bad_file = _run(pytester)
    assert bad_file.returncode == 4
    assert "is not a pytest-wtb recordings export" in bad_file.stderr and "Traceback" not in bad_file.stderr
    (path / "agent.json").write_text(json.dumps({"format": "pytest-wtb-recordings", "version": 1,
                                                 "recordings": [{"rec_key": "k", "output_type": "pickle"}]}))
    bad_row = _run(pytester)
    assert bad_row.returncode == 4 and "recording #1 is malformed" in bad_row.stderr

    _project(pytester, mark='pytestmark = pytest.mark.wtb_record("sometimes")')
    bad_mode = _run(pytester)
    assert bad_mode.returncode == 4
    assert "wtb_record(mode='sometimes' is not a record mode: use one of off, once, new, all, none" in bad_mode.stderr


def test_a_swapped_tool_of_the_same_name_misses_instead_of_replaying_the_old_one(pytester: pytest.Pytester) -> None:
    path = _project(pytester)
    assert _run(pytester, "--wtb-record=once").returncode == 0
    _live(path)
    swapped = _run(pytester, "--wtb-record=none", env={"OTHER_TOOL": "1"})
    assert swapped.returncode == 1, swapped.stdout
    assert "1 failed, 1 passed" in swapped.stdout
    assert "no recording of tool 'lookup'" in swapped.stdout
    assert "- tool StructuredTool test_files:lookup source" in swapped.stdout
    assert "+ tool StructuredTool test_files:lookup_v2 source" in swapped.stdout
    assert _live(path) == []  # the model's first call still replayed; the new tool never ran

    recorded = _run(pytester, "--wtb-record=new", env={"OTHER_TOOL": "1"})
    assert recorded.returncode == 0, recorded.stdout
    assert _live(path) == ["tool lookup_v2 paris", "model fake-1"]  # the new tool, and the model call after it


def test_a_field_of_a_hand_written_model_is_part_of_its_key(pytester: pytest.Pytester) -> None:
    path = _project(pytester)
    assert _run(pytester, "--wtb-record=once").returncode == 0
    _live(path)
    same = _run(pytester, "--wtb-record=none", env={"OTHER_MODEL": "fake-1"})
    assert same.returncode == 0 and _live(path) == []
    changed = _run(pytester, "--wtb-record=none", env={"OTHER_MODEL": "fake-2"})
    assert changed.returncode == 1
    assert "no recording of chat model 'fake-files(fake-2)'" in changed.stdout
    assert '- model [' in changed.stdout and '"model_name": "fake-1"' in changed.stdout
    assert '"model_name": "fake-2"' in changed.stdout
    assert _live(path) == []


def test_replay_takes_an_execution_s_calls_from_the_recordings_and_off_calls_them_live(
    pytester: pytest.Pytester,
) -> None:
    path = _project(pytester)
    assert _run(pytester, "--wtb-record=once").returncode == 0
    _live(path)
    with sqlite3.connect(path / ".wtb" / "wtb.db") as conn:
        (thread_id,) = conn.execute("SELECT thread_id FROM wtb_executions WHERE variant = 'base'").fetchone()
    replayed = _cli(pytester, "replay", thread_id)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "model and tool calls (--record none): 3 replayed" in replayed.stdout
    assert "same final state as the original" in replayed.stdout
    assert _live(path) == []
    live = _cli(pytester, "replay", thread_id, "--record", "off")
    assert live.returncode == 0, live.stdout + live.stderr
    assert "model and tool calls" not in live.stdout
    assert _live(path) == ["model fake-1", "tool lookup paris", "model fake-1"]
