"""@wtb.repeat and @wtb.gate as a user runs them: pass rates with intervals, paired gates that catch a truly
worse variant and pass identical ones, and collection errors for bad declarations."""

from __future__ import annotations

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
    score: float


def answering(p, salt):
    def answer(state, config: RunnableConfig):
        md = config["metadata"]  # seeded from what stays the same across runs: case and repetition
        rng = random.Random(f"{salt}:{md['wtb_case']}:{md['wtb_repetition']}")
        hit = rng.random() < p
        return {"ok": hit, "score": (0.8 if hit else 0.3) + rng.random() / 10}
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
    return build(0.35, "worse")


@wtb.variant
def twin():
    return build(0.9, "twin")  # as good, with other draws


CASES = {f"c{i}": {"q": str(i)} for i in range(CASE_COUNT)}
'''

REPEAT = MODULE.replace("CASE_COUNT", "4") + '''

@wtb.repeat(6, min_pass_rate=0.5)
@wtb.cases(CASES)
def test_rate(wtb_run):
    assert wtb_run.state["ok"], f"repetition {wtb_run.repetition} missed"
'''

GATE = MODULE.replace("CASE_COUNT", "20") + '''

@wtb.gate(margin=0.05, alpha=0.05)
@wtb.repeat(5)
@wtb.cases(CASES)
def test_gate(wtb_run):
    return SCORE
'''


def test_a_repeated_item_passes_on_its_pass_rate_and_fails_with_count_interval_and_threads(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rep=REPEAT)
    result = pytester.runpytest("-rf")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 8 and outcomes.get("failed", 0) >= 1, outcomes
    result.stdout.fnmatch_lines([
        "*repeat: variant 'worse' on case 'c*' passed */6 = *% (95% CI *%-*%, Wilson), below min_pass_rate=0.5",
        "*failed repetitions:",
        "*r*: AssertionError: repetition * missed*thread_id=wtb-*-worse-c*",
    ])
    assert "test_rate[good-c0]" not in "\n".join(line for line in result.outlines if line.startswith("FAILED"))
    again = pytester.runpytest("-rf")  # seeded from case and repetition: the same verdicts next run
    assert again.parseoutcomes() == outcomes


def test_repetitions_run_under_distinct_thread_ids_and_wtb_repeat_overrides_k(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rep=MODULE.replace("CASE_COUNT", "1") + '''

SEEN = []


@wtb.repeat(3, min_pass_rate=0.0)
@wtb.cases({"one": {"q": "x"}})
def test_threads(wtb_run):
    SEEN.append((wtb_run.variant, wtb_run.repetition, wtb_run.thread_id))


def test_zz_seen():
    assert sorted((v, r) for v, r, _ in SEEN) == [(v, r) for v in ("good", "twin", "worse") for r in (0, 1)]
    assert len({t for _, _, t in SEEN}) == 6
''')
    result = pytester.runpytest("--wtb-repeat=2", "-k", "test_threads or test_zz")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*pytest-wtb: 6 executions of 3 variants*"])  # 3 variants x 2 repetitions


def test_a_gate_fails_a_truly_worse_variant_and_passes_an_equally_good_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gate=GATE.replace("SCORE", 'wtb_run.state["ok"]'))
    result = pytester.runpytest("-rf")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*gate: variant 'worse' is worse than baseline 'good' by more than margin=0.05",
        "*good (baseline): mean 0.*",
        "*worse:*mean 0.*",
        "*difference -0.* (90% CI -0.* to -0.*), p=* (McNemar exact, margin=0.05, alpha=0.05, 100 pairs)",
        "*cases that got worse:",
        "*c*: * -> * over 5 repetitions; e.g. r* thread_id=wtb-*-worse-c* (baseline wtb-*-good-c*)",
    ])
    result.stdout.fnmatch_lines([
        "*gates (mean score * CI*, paired difference from the baseline):",
        "*test_gate.py::test_gate?worse?: worse  worse 0.* ?0.*, 0.*? vs good 0.* ?0.*, 0.*?*",
        "*test_gate.py::test_gate?twin?: * twin 0.*",
    ])
    assert "test_gate[good]" not in result.stdout.str()  # the baseline gets no gate item


def test_twenty_identically_distributed_variants_all_pass_the_gate(pytester: pytest.Pytester) -> None:
    """20 seeds: a variant drawn from the baseline's own distribution is never called worse."""
    module = MODULE.replace("CASE_COUNT", "10") + '''

for seed in range(20):
    globals()[f"twin{seed}"] = wtb.variant(name=f"twin{seed}")(lambda seed=seed: build(0.9, f"seed{seed}"))
del worse


@wtb.gate(margin=0.05, alpha=0.05)
@wtb.repeat(5)
@wtb.cases(CASES)
def test_gate(wtb_run):
    return wtb_run.state["score"]
'''
    pytester.makepyfile(test_gate=module)
    result = pytester.runpytest()
    result.assert_outcomes(passed=21)  # twin, twin0..twin19: numeric scores, Wilcoxon
    result.stdout.fnmatch_lines(["*test_gate?twin19?: * (Wilcoxon signed-rank, 50 pairs)*"])
    assert ": worse " not in result.stdout.str()


@pytest.mark.parametrize(("decorators", "message"), [
    ("@wtb.repeat(0)", "@wtb.repeat takes a whole number of repetitions from 1 to 10000, got 0"),
    ("@wtb.repeat(3, min_pass_rate=1.5)", "@wtb.repeat min_pass_rate= takes a number from 0 to 1, got 1.5"),
    ("@wtb.gate(margin=-1)", "@wtb.gate(margin=...) takes a number >= 0 (how much worse is still fine), got -1"),
    ("@wtb.gate(alpha=2)", "@wtb.gate(alpha=...) takes a significance level between 0 and 0.5 (e.g. 0.05), got 2"),
    ("@wtb.gate()\n@wtb.parity()", "@wtb.gate and @wtb.parity judge a variant twice"),
])
def test_bad_repeat_and_gate_declarations_are_collection_errors(pytester: pytest.Pytester, decorators: str,
                                                                 message: str) -> None:
    pytester.makepyfile(test_bad=MODULE.replace("CASE_COUNT", "2") + f'''

{decorators}
@wtb.cases(CASES)
def test_bad(wtb_run):
    return True
''')
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([f"*pytest-wtb: test_bad: {message}*"])
    assert "INTERNALERROR" not in result.stdout.str()


def test_a_gate_without_a_baseline_and_a_score_that_is_no_number_say_what_to_do(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nobase=MODULE.replace("CASE_COUNT", "2").replace("(baseline=True)", "") + '''

@wtb.gate()
@wtb.cases(CASES)
def test_gate(wtb_run):
    return True
''')
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*@wtb.gate compares every variant with the baseline, and none is declared*"])
    pytester.makepyfile(test_nobase=GATE.replace("CASE_COUNT", "2").replace("SCORE", '"yes"'))
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*gate: test_gate?*? returned 'yes' (str) for variant '*' on case 'c0': return a "
                                 "bool or a number (higher is better)*"])


def test_a_score_that_raises_is_excluded_and_said(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gate=GATE.replace("SCORE", 'wtb_run.state["ok"] if wtb_run.case_id != "c3" else 1 / 0'))
    result = pytester.runpytest("-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*excluded (5 pairs whose score raised):",
                                 "*good on c3 r0 (wtb-*-good-c3-*): ZeroDivisionError: division by zero"])
    result.stdout.fnmatch_lines(["*test_gate?worse?: worse*95 pairs*"])


@pytest.mark.parametrize("args", [("-n", "2"), ("--wtb-backend=ray", "--wtb-ray-address=auto", "--wtb-workers=2")])
def test_gates_and_repeats_give_the_same_verdicts_under_xdist_and_on_ray(pytester: pytest.Pytester,
                                                                         args: tuple[str, ...],
                                                                         request: pytest.FixtureRequest) -> None:
    if "--wtb-backend=ray" in args:
        request.getfixturevalue("ray_address")
    pytester.makepyfile(test_gate=GATE.replace("CASE_COUNT", "20").replace("SCORE", 'wtb_run.state["ok"]'))
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*gate: variant 'worse' is worse than baseline 'good'*"])


def test_gate_verdicts_reach_the_json_report_and_the_metrics(pytester: pytest.Pytester) -> None:
    import json
    from importlib import resources

    import jsonschema

    pytester.makepyfile(test_gate=GATE.replace("SCORE", 'wtb_run.state["ok"]'))
    result = pytester.runpytest("--wtb-report=out/r.json", "--wtb-metrics=out/m.prom")
    result.assert_outcomes(passed=1, failed=1)
    report = json.loads((pytester.path / "out" / "r.json").read_text())
    schema = json.loads(resources.files("pytest_wtb.report").joinpath("assets/report.schema.json").read_text())
    jsonschema.validate(report, schema)
    gates = {g["variant"]: g for g in report["gates"]}
    assert gates["worse"]["decision"] == "worse" and gates["worse"]["pairs"] == 100
    assert gates["worse"]["high"] < 0 < gates["worse"]["base_mean"] and gates["twin"]["decision"] != "worse"
    low, high = gates["worse"]["mean_ci"]
    assert low < gates["worse"]["mean"] < high
    prom = (pytester.path / "out" / "m.prom").read_text()
    assert 'wtb_gate_worse{baseline="good",test="test_gate.py::test_gate",variant="worse"} 1.0' in prom
    assert 'wtb_gate_worse{baseline="good",test="test_gate.py::test_gate",variant="twin"} 0.0' in prom
    assert 'wtb_gate_mean_score{baseline="good",side="baseline",test="test_gate.py::test_gate",variant="worse"}' in prom


def test_bless_names_a_run_and_a_gate_against_it_catches_a_regression_across_commits(
        pytester: pytest.Pytester) -> None:
    import subprocess
    import sys

    module = GATE.replace("CASE_COUNT", "20").replace("SCORE", 'wtb_run.state["ok"]')
    pytester.makepyfile(test_gate=module)
    pytester.runpytest().assert_outcomes(passed=1, failed=1)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest_wtb", *args], cwd=pytester.path, capture_output=True,
                              text=True, timeout=120, check=False)

    blessed = cli("bless", "last", "--name", "release-1")
    assert blessed.returncode == 0, blessed.stderr
    assert "is now 'release-1'" in blessed.stdout and "--wtb-against=release-1" in blessed.stdout
    assert cli("bless", "last", "--name", "last~2").returncode == 2  # names never shadow last~N

    # the next commit makes `good` (the baseline) worse and leaves the other variants alone
    pytester.makepyfile(test_gate=module.replace('build(0.9, "good")', 'build(0.4, "good")'))
    result = pytester.runpytest("--wtb-against=release-1", "--wtb-baseline-max-age=0", "-rfs")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1 and outcomes.get("passed") == 2, outcomes
    result.stdout.fnmatch_lines(["*gate: variant 'good' is worse than baseline 'run *' by more than margin=0.05*"])
    result.stdout.fnmatch_lines(["*warning: --wtb-against=release-1 is run *, * days old: older than "
                                 "--wtb-baseline-max-age=0; bless a newer run*"])
    assert "test_gate[worse] - AssertionError" not in result.stdout.str()  # judged against its own past: unchanged
    pruned = cli("prune", "--keep-days", "0")
    assert pruned.returncode == 0, pruned.stderr
    assert cli("bless", "release-1", "--name", "release-1-again").returncode == 0  # the named run was kept
