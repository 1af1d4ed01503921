"""`python -m pytest_wtb replay` and `show --diff`, as a user follows a red item to a fixed node."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_wtb.cli.main import main
from tests.plugin.graphs_src import GRAPH

BROKEN = "        raise ValueError('no answer for ' + state['q'])\n"
FIXED = "        return {'answer': 'fixed answer to ' + state['q'], 'log': ['answer']}\n"

MODULE = GRAPH + '''

def flaky_answer(state):
    if state["q"] == "boom":
BODY    return {"answer": f"answer to {state['q']}", "log": ["answer"]}


@wtb.variant(baseline=True)
def base():
    return build(answer_fn=flaky_answer)


def hybrid_retrieve(state):
    return {"docs": [f"hybrid-{state['q']}"], "log": ["hybrid"]}


hybrid = base.with_nodes({"retrieve": hybrid_retrieve}, name="hybrid")


@wtb.cases({"ok": {"q": "a"}, "boom": {"q": "boom"}})
def test_answers(wtb_run):
    assert wtb_run.state["answer"]
'''


def thread_of(pytester: pytest.Pytester, variant: str, case: str) -> str:
    conn = sqlite3.connect(pytester.path / ".wtb" / "wtb.db")
    try:
        row = conn.execute(
            "select thread_id from wtb_executions where variant = ? and case_id = ?", (variant, case)
        ).fetchone()
    finally:
        conn.close()
    assert row is not None, (variant, case)
    return str(row[0])


def cli(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``python -m pytest_wtb ARGS`` in this process; forgets the test modules it imported."""
    modules, path = set(sys.modules), list(sys.path)
    capsys.readouterr()
    try:
        rc = main(list(args))
    finally:
        for name in set(sys.modules) - modules:
            if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(pytester.path)):
                del sys.modules[name]
        sys.path[:] = path
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


@pytest.fixture
def red_run(pytester: pytest.Pytester) -> pytest.Pytester:
    """A run in which the baseline's 'answer' node raised on case 'boom'."""
    pytester.makepyfile(test_flow=MODULE.replace("BODY", BROKEN))
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=2)
    return pytester


def test_replay_of_a_failed_execution_reruns_the_failed_node_with_the_fixed_code(red_run: pytest.Pytester) -> None:
    old = thread_of(red_run, "base", "boom")
    Path(red_run.path / "test_flow.py").write_text(MODULE.replace("BODY", FIXED))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_wtb", "replay", old], cwd=red_run.path, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    pytest.LineMatcher(lines).fnmatch_lines(
        [
            f"replay of {old}",
            "  module test_flow  variant base  case boom  (code as it is now)",
            "  from checkpoint * (step 1, next: answer): where the execution stopped",
            f"  new thread_id {old}-replay-1: succeeded in *s, ran answer",
            "final state",
            "  answer = 'fixed answer to boom'",
            "diff to the original final state: 2 key paths",
            "  log[[]1[]]",
            "    original: <missing>",
            "    replay:   'answer'",
            "  answer",
            "    original: <missing>",
            "    replay:   'fixed answer to boom'",
            f"  inspect: python -m pytest_wtb show {old}-replay-1 --store 'sqlite:///*' --diff {old}",
        ]
    )


def test_replay_before_a_node_and_show_diff_against_the_original(
    red_run: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    old = thread_of(red_run, "hybrid", "ok")
    source = red_run.path / "test_flow.py"
    source.write_text(source.read_text().replace('f"hybrid-{state', 'f"hybrid2-{state'))
    rc, out, _ = cli(red_run, capsys, "replay", old, "--before", "retrieve")
    assert rc == 0
    pytest.LineMatcher(out.splitlines()).fnmatch_lines(
        [
            "  from checkpoint * (step 0, next: retrieve): --before retrieve: *",
            f"  new thread_id {old}-replay-1: succeeded in *s, ran retrieve, answer",
            "diff to the original final state: 1 key path",
            "  docs[[]0[]]",
            "    original: 'hybrid-a'",
            "    replay:   'hybrid2-a'",
        ]
    )
    rc, out, _ = cli(red_run, capsys, "show", f"{old}-replay-1", "--diff", old)
    assert rc == 0
    pytest.LineMatcher(out.splitlines()).fnmatch_lines(
        [
            f"this:  {old}-replay-1 (a replay of variant hybrid, case ok)",
            f"other: {old} (variant hybrid, case ok, succeeded)",
            "same values for steps 0..0 (1 checkpoint)",
            "first divergence at step 1",
            "  this:  node retrieve  checkpoint_id *",
            "  other: node retrieve  checkpoint_id *",
            "  docs[[]0[]]",
            "    this:  'hybrid2-a'",
            "    other: 'hybrid-a'",
        ]
    )
    rc, out, _ = cli(red_run, capsys, "replay", old)  # a finished execution: from its input
    assert rc == 0
    pytest.LineMatcher(out.splitlines()).fnmatch_lines(
        [
            "  from checkpoint * (step -1, next: START): its input *",
            f"  new thread_id {old}-replay-2: succeeded in *s, ran retrieve, answer",
        ]
    )


def test_show_diff_names_the_first_step_where_a_variant_diverges(
    red_run: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    base, hybrid = thread_of(red_run, "base", "ok"), thread_of(red_run, "hybrid", "ok")
    rc, out, _ = cli(red_run, capsys, "show", base, "--diff", hybrid)
    assert rc == 0
    pytest.LineMatcher(out.splitlines()).fnmatch_lines(
        [
            f"this:  {base} (variant base, case ok, succeeded)",
            f"other: {hybrid} (variant hybrid, case ok, succeeded)",
            "same values for steps -1..0 (2 checkpoints)",
            "first divergence at step 1",
            "  docs[[]0[]]",
            "    this:  'doc-a'",
            "    other: 'hybrid-a'",
            "  log[[]0[]]",
            "    this:  'retrieve'",
            "    other: 'hybrid'",
        ]
    )
    rc, out, _ = cli(red_run, capsys, "show", base, "--diff", base)
    assert rc == 0 and "no divergence: both executions wrote the same values at every step" in out


@pytest.mark.parametrize(
    ("args", "rc", "message"),
    [
        (["replay", "wtb-nope"], 1, "pytest-wtb: thread_id wtb-nope is not an execution in this store *"),
        (["replay", "{old}", "--before", "rerank"], 2, "pytest-wtb: the graph has no node 'rerank'; its nodes: retrieve, answer"),
        (["replay", "{old}", "--from", "ffff"], 2, "pytest-wtb: the execution has no checkpoint matching --from ffff; its checkpoints: step -1 *"),
        (["replay", "{old}", "--store", "sqlite:///elsewhere.db"], 2, "pytest-wtb: store sqlite:///*elsewhere.db: no such file*"),
        (["show", "{old}", "--diff", "wtb-nope"], 1, "pytest-wtb: no checkpoints for thread_id wtb-nope in *"),
    ],
)
def test_bad_replay_input_is_a_message_and_an_exit_code(
    red_run: pytest.Pytester, capsys: pytest.CaptureFixture[str], args: list[str], rc: int, message: str
) -> None:
    old = thread_of(red_run, "base", "boom")
    code, _, err = cli(red_run, capsys, *(a.format(old=old) for a in args))
    assert code == rc
    pytest.LineMatcher(err.splitlines()).fnmatch_lines([message])


def test_replay_against_another_store_or_after_the_code_moved_on(
    red_run: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    old = thread_of(red_run, "hybrid", "boom")
    other = red_run.mkdir("other")
    red_run.makepyfile(**{"other/test_other": GRAPH + "\n@wtb.variant\ndef solo():\n    return build()\n\n"
                          "@wtb.cases([{'q': 'x'}])\ndef test_solo(wtb_run):\n    pass\n"})
    red_run.runpytest("other", f"--wtb-store=sqlite:///{other}/wtb.db").assert_outcomes(passed=1)
    code, _, err = cli(red_run, capsys, "replay", old, "--store", f"sqlite:///{other}/wtb.db")
    assert code == 1 and "is not an execution in this store (is it from another --store?)" in err

    source = red_run.path / "test_flow.py"
    source.write_text(source.read_text().replace('name="hybrid"', 'name="hybrid_v2"'))
    code, _, err = cli(red_run, capsys, "replay", old)
    assert code == 2
    assert "the test module test_flow no longer declares a variant named 'hybrid'; its variants: base, hybrid_v2" in err

    source.rename(red_run.path / "moved.py")
    code, _, err = cli(red_run, capsys, "replay", old)
    assert code == 2 and f"the test module test_flow was loaded from {source}, which no longer exists" in err
