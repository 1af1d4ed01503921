"""`replay` imports only the project's test modules, the way pytest imports them; `show` names the
executions that really shared a prefix."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.plugin.graphs_src import GRAPH

MODULE = GRAPH + '''

@wtb.variant(baseline=True)
def base():
    return build()


@wtb.cases({"ok": {"q": "a"}})
def test_answers(wtb_run):
    assert wtb_run.state["answer"]
'''


def writes_marker(marker: Path) -> str:
    """Source that leaves ``marker`` behind when it is imported."""
    return f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_wtb", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        check=False,
    )


def point_row_at(pytester: pytest.Pytester, module_path: str | None, scope: str) -> str:
    """Make the stored execution row name another file and module, as anyone who can write to the
    store could; returns its thread_id."""
    conn = sqlite3.connect(pytester.path / ".wtb" / "wtb.db")
    try:
        with conn:
            (thread_id,) = conn.execute("select thread_id from wtb_executions where variant = 'base'").fetchone()
            conn.execute("update wtb_executions set module_path = ?, scope = ? where thread_id = ?",
                         (module_path, scope, thread_id))
    finally:
        conn.close()
    return str(thread_id)


# each: (the row's module_path, its scope, what replay says); `outside` holds a test module and a
# conftest.py that would each write the marker, `project` is the rootdir pytest ran in
def _outside(project: Path, outside: Path) -> tuple[str, str, str]:
    return (str(outside / "test_evil.py"), "test_evil",
            "pytest-wtb: refusing to import */test_evil.py: replay imports only test modules under this "
            f"project's rootdir {project} (pytest's rootdir for the current directory); run replay from the "
            "project pytest ran in")


def _dotdot(project: Path, outside: Path) -> tuple[str, str, str]:
    return (f"{project}/../{outside.name}/test_evil.py", "test_evil",
            f"pytest-wtb: refusing to import {project}/../{outside.name}/test_evil.py: replay imports only *")


def _symlink(project: Path, outside: Path) -> tuple[str, str, str]:
    (project / "test_link.py").symlink_to(outside / "test_evil.py")
    return (str(project / "test_link.py"), "test_link",
            f"pytest-wtb: refusing to import {project}/test_link.py: * rootdir {project} (*), and it resolves to "
            f"{outside.resolve()}/test_evil.py")


def _not_python(project: Path, outside: Path) -> tuple[str, str, str]:
    (project / "test_data.txt").write_text((outside / "test_evil.py").read_text())
    return (str(project / "test_data.txt"), "test_data",
            f"pytest-wtb: refusing to import {project}/test_data.txt: a test module is a .py file")


def _not_a_test_module(project: Path, outside: Path) -> tuple[str, str, str]:
    (project / "helper.py").write_text((outside / "test_evil.py").read_text())
    return (str(project / "helper.py"), "helper",
            f"pytest-wtb: refusing to import {project}/helper.py: it is not a test module by this project's "
            "python_files (test_*.py *_test.py)")


def _scope_of_another_module(project: Path, outside: Path) -> tuple[str, str, str]:
    return (str(project / "test_flow.py"), "evil_helper",
            f"pytest-wtb: refusing to import {project}/test_flow.py: pytest would not import that file as "
            "'evil_helper'")


def _no_file_recorded(project: Path, outside: Path) -> tuple[str, str, str]:
    return (None, "evil_helper",  # type: ignore[return-value]  # a NULL module_path
            "pytest-wtb: the test module 'evil_helper' of this execution has no recorded file, so replay "
            "cannot tell what to import; rerun pytest")


@pytest.mark.parametrize(
    "row_for",
    [_outside, _dotdot, _symlink, _not_python, _not_a_test_module, _scope_of_another_module, _no_file_recorded],
)
def test_replay_refuses_what_a_stored_row_names_outside_the_projects_test_modules(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory,
    row_for: Callable[[Path, Path], tuple[str | None, str, str]],
) -> None:
    pytester.makepyfile(test_flow=MODULE)
    pytester.runpytest().assert_outcomes(passed=1)
    marker = tmp_path_factory.mktemp("markers") / "imported"
    outside = tmp_path_factory.mktemp("outside")
    (outside / "test_evil.py").write_text(writes_marker(marker))
    (outside / "conftest.py").write_text(writes_marker(marker))
    # a module on sys.path (the current directory) that the row's scope alone would import
    (pytester.path / "evil_helper.py").write_text(writes_marker(marker))
    module_path, scope, message = row_for(pytester.path, outside)
    thread_id = point_row_at(pytester, module_path, scope)

    proc = run_cli(pytester.path, "replay", thread_id)

    assert not marker.exists(), "replay imported a file it should have refused"
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    pytest.LineMatcher(proc.stderr.splitlines()).fnmatch_lines([message])


SRC_FLOW = '''
from typing import TypedDict

from langgraph.graph import END, START, StateGraph

BROKEN = True


class State(TypedDict, total=False):
    q: str
    answer: str


def answer(state):
    if BROKEN:
        raise ValueError("no answer for " + state["q"])
    return {"answer": "answer to " + state["q"]}


def build():
    g = StateGraph(State)
    g.add_node("answer", answer)
    g.add_edge(START, "answer")
    g.add_edge("answer", END)
    return g
'''

SRC_TEST = '''
import pytest_wtb as wtb
from myapp.flow import build
from expected import CASES  # tests/support/, put on sys.path by tests/conftest.py


@wtb.variant(baseline=True)
def base():
    return build()


@wtb.cases(CASES)
def test_answers(wtb_run):
    assert wtb_run.state["answer"]
'''

SRC_CONFTEST = '''
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "support"))
'''


@pytest.mark.parametrize("where", [".", "tests"])
def test_the_printed_replay_command_works_as_printed_in_a_src_layout_project(
    pytester: pytest.Pytester, where: str
) -> None:
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\npythonpath = ["src"]\ntestpaths = ["tests"]\n'
        'addopts = "--wtb-workers=2"\nrequired_plugins = ["pytest-wtb"]\n'  # options replay must accept
    )
    for folder in ("src/myapp", "tests/support"):
        (pytester.path / folder).mkdir(parents=True)
    (pytester.path / "src" / "myapp" / "__init__.py").write_text("")
    (pytester.path / "src" / "myapp" / "flow.py").write_text(SRC_FLOW)
    (pytester.path / "tests" / "support" / "expected.py").write_text('CASES = {"refund": {"q": "refund"}}\n')
    (pytester.path / "tests" / "conftest.py").write_text(SRC_CONFTEST)
    (pytester.path / "tests" / "test_flow.py").write_text(SRC_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    printed = re.search(r"after a fix: (python -m pytest_wtb replay .*)$", result.stdout.str(), re.MULTILINE)
    assert printed is not None, result.stdout.str()
    flow = pytester.path / "src" / "myapp" / "flow.py"
    flow.write_text(flow.read_text().replace("BROKEN = True", "BROKEN = False"))

    proc = subprocess.run(printed.group(1), shell=True, cwd=pytester.path / where, capture_output=True,
                          text=True, timeout=120, check=False)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    pytest.LineMatcher(proc.stdout.splitlines()).fnmatch_lines(
        [
            "  module test_flow  variant base  case refund  (code as it is now)",
            "  new thread_id wtb-*-base-refund-*-replay-1: succeeded in *s, ran answer",
            "  answer = 'answer to refund'",
        ]
    )


SHARED = GRAPH + '''

@wtb.variant(baseline=True)
def base():
    return build()


def louder(state):
    return {"answer": f"ANSWER TO {state['q']}", "score": 0.5, "log": ["answer"]}


def other_retrieve(state):
    return {"docs": [f"other-{state['q']}"], "log": ["retrieve"]}


loud = base.with_nodes({"answer": louder}, name="loud")  # shares retrieve with base: forked
fresh = base.with_nodes({"retrieve": other_retrieve}, name="fresh")  # its first node differs: from scratch


@wtb.cases({"a": {"q": "a"}})
def test_answers(wtb_run):
    assert wtb_run.state["answer"]
'''


def test_show_says_which_executions_really_shared_a_prefix(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=SHARED)
    pytester.runpytest().assert_outcomes(passed=3)
    conn = sqlite3.connect(pytester.path / ".wtb" / "wtb.db")
    try:
        threads = dict(conn.execute("select variant, thread_id from wtb_executions").fetchall())
    finally:
        conn.close()
    shared = "shared by 2 executions of this case (variants base, loud)"
    forked = f"  forked from shared prefix thread_id {threads['(shared-prefix)']} at checkpoint *: the steps up to there ran once, {shared}"
    replayed = run_cli(pytester.path, "replay", threads["loud"])  # a replay copies a forked checkpoint
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    expected = {
        threads["base"]: forked,
        threads["loud"]: forked,
        threads["fresh"]: f"  not forked: every step ran in this execution; shared prefix thread_id {threads['(shared-prefix)']} was {shared}",
        threads["(shared-prefix)"]: f"  the shared prefix of this case: its steps ran once, {shared}",
    }
    for thread_id, line in expected.items():
        shown = run_cli(pytester.path, "show", thread_id)
        assert shown.returncode == 0, shown.stderr
        pytest.LineMatcher(shown.stdout.splitlines()).fnmatch_lines([f"thread_id {thread_id}", line, "  store *"])
    shown = run_cli(pytester.path, "show", f"{threads['loud']}-replay-1")
    assert shown.returncode == 0, shown.stderr
    assert "shared prefix" not in shown.stdout, shown.stdout  # it descends from the loud thread, not the prefix
