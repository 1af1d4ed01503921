"""Adaptive repeats as a user runs them: @wtb.repeat(max=K, until="decided") with @wtb.gate runs rounds of
repetitions only while the gate is undecided, says how many it ran and saved, and splits alpha over its looks."""

from __future__ import annotations

import json
import sqlite3

import pytest
import scipy.stats  # noqa: F401  # numpy loads once per process: pytester's in-process runs must find it loaded

MODULE = '''
import random
from typing import TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

import pytest_wtb as wtb


class S(TypedDict, total=False):
    q: str
    ok: bool


def answering(p, salt):
    def answer(state, config: RunnableConfig):
        md = config["metadata"]  # seeded from what stays the same across runs: case and repetition
        return {"ok": random.Random(f"{salt}:{md['wtb_case']}:{md['wtb_repetition']}").random() < p}
    return answer


def build(p, salt):
    g = StateGraph(S)
    g.add_node("answer", answering(p, salt))
    g.add_edge(START, "answer")
    g.add_edge("answer", END)
    return g


@wtb.variant(baseline=True)
def good():
    return build(0.9, "good")


@wtb.variant
def worse():
    return build(0.2, "worse")


@wtb.variant
def twin():
    return build(0.9, "twin")


CASES = {f"c{i}": {"q": str(i)} for i in range(8)}


@wtb.gate(margin=MARGIN)
@wtb.repeat(ROUND max=20, until="decided")
@wtb.cases(CASES)
def test_gate(wtb_run):
    return wtb_run.state["ok"]
'''


def _module(margin: str = "0.2", round_: str = "") -> str:
    return MODULE.replace("MARGIN", margin).replace("ROUND ", round_)


def _executions(pytester: pytest.Pytester) -> dict[str, int]:
    with sqlite3.connect(pytester.path / ".wtb" / "wtb.db") as conn:
        return dict(conn.execute("SELECT variant, COUNT(*) FROM wtb_executions GROUP BY variant").fetchall())


def test_a_clear_verdict_stops_after_the_first_round_and_says_what_it_saved(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_adaptive=_module())
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--wtb-report=r.json")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    # 8 cases x 5 repetitions per variant ran, of 8 x 20 planned
    assert _executions(pytester) == {"good": 40, "worse": 40, "twin": 40}
    assert "test_adaptive.py::test_gate[worse]: worse" in out
    assert "adaptive: 5 of 20 repetitions, 240 executions saved" in out
    assert "adaptive: 5 of at most 20 repetitions (4 looks at alpha 0.05/4 each)" in out
    assert "gate: variant 'worse' is worse than baseline 'good' by more than margin=0.2" in out
    assert "(97.5% CI" in out or "98% CI" in out  # the interval of one look at alpha/4 = 0.0125 per side
    from importlib import resources

    import jsonschema

    report = json.loads((pytester.path / "r.json").read_text())
    schema = json.loads(resources.files("pytest_wtb.report").joinpath("assets/report.schema.json").read_text())
    jsonschema.validate(report, schema)
    gates = {g["variant"]: g for g in report["gates"]}
    assert gates["worse"]["repetitions"] == 5 and gates["worse"]["max_repetitions"] == 20
    assert gates["worse"]["saved_executions"] == 240 and gates["worse"]["looks"] == 4
    assert gates["worse"]["alpha"] == pytest.approx(0.0125) and gates["worse"]["declared_alpha"] == 0.05
    assert gates["twin"]["decision"] == "not worse"


def test_an_undecided_gate_runs_round_after_round_up_to_max(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_adaptive=_module(margin="0.0", round_="4, "))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-k", "twin")
    result.assert_outcomes(passed=1, deselected=1)
    out = result.stdout.str()
    assert "test_adaptive.py::test_gate[twin]: undecided" in out
    assert "adaptive: 20 of 20 repetitions, 0 executions saved" in out
    assert _executions(pytester) == {"good": 160, "twin": 160}  # five rounds of four repetitions


def test_a_later_round_is_only_run_when_the_gate_asks(pytester: pytest.Pytester) -> None:
    """The worse gate decides after one round, the twin's (margin 0) never: the baseline's later rounds run
    for the twin only, the worse variant's never."""
    pytester.makepyfile(test_adaptive=_module(margin="0.0"))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    counts = _executions(pytester)
    assert counts["worse"] == 40 and counts["twin"] == counts["good"] == 160
    assert "adaptive: 5 of 20 repetitions, 240 executions saved" in result.stdout.str()


def test_wtb_repeat_runs_a_fixed_number_instead(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_adaptive=_module())
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--wtb-repeat=3")
    result.assert_outcomes(passed=1, failed=1)
    assert "adaptive:" not in result.stdout.str()
    assert _executions(pytester) == {"good": 24, "worse": 24, "twin": 24}


def test_adaptive_gates_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_adaptive=_module(margin="0.0"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", timeout=300)
    result.assert_outcomes(passed=1, failed=1)
    counts = _executions(pytester)
    assert counts["worse"] == 40 and counts["twin"] == counts["good"] == 160


@pytest.mark.parametrize(("decorators", "message"), [
    ('@wtb.repeat(max=20, until="decided")', "@wtb.repeat(until='decided') stops on a gate's verdict: add @wtb.gate"),
    ("@wtb.gate()\n@wtb.repeat(max=20)", "max= is for adaptive repeats: add until='decided'"),
    ('@wtb.gate()\n@wtb.repeat(max=20, until="soon")', "until= takes 'decided' (stop once the gate decides), got 'soon'"),
    ('@wtb.gate()\n@wtb.repeat(until="decided")', "until='decided' needs max= (the most repetitions it may run)"),
    ('@wtb.gate()\n@wtb.repeat(30, max=20, until="decided")', "runs rounds of 30 repetitions, more than max=20"),
    ('@wtb.gate()\n@wtb.repeat(max=0, until="decided")', "max= takes a whole number of repetitions from 1 to"),
])
def test_bad_adaptive_declarations_are_collection_errors(pytester: pytest.Pytester, decorators: str,
                                                         message: str) -> None:
    source = _module().split("@wtb.gate(margin=0.2)")[0] + decorators + '''
@wtb.cases(CASES)
def test_gate(wtb_run):
    return wtb_run.state["ok"]
'''
    pytester.makepyfile(test_adaptive=source)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    out = result.stdout.str()
    assert "test_gate" in out and message in out, out
    assert "Traceback" not in out
